"""program-aided (PAL) against its plain counterparts on the graded ``arith`` test split, with the
embedded model, written to benchmarks/results/program_aided.json.

    NLRL_THREADS=1 python benchmarks/program_aided.py --levels 2,3,4 --problems 25 --max-tokens 48
    NLRL_THREADS=1 python benchmarks/program_aided.py --levels 5,6 --problems 25 --max-tokens 96 \
        --only cot@1,program-aided@1 --out benchmarks/results/program_aided_hard.json
    NLRL_THREADS=1 python benchmarks/program_aided.py --dataset gsm8k --problems 100 --max-tokens 160 \
        --only cot@1,program-aided@1 --out benchmarks/results/program_aided_gsm8k.json

``--dataset gsm8k`` takes the first ``--problems`` items of the vendored GSM8K test split instead
(``--levels`` does not apply; the one group is ``all``). Two paired comparisons on the same problems:
  * ``program-aided`` n=1 (greedy) vs ``cot`` n=1 (greedy);
  * ``program-aided`` n=5 vs ``self-consistency`` n=5 (both T = 0.7, seed 0: sample i seeded i).
Every configuration runs through ``nlrl bench``'s runner (same few-shot math prompt for cot and
self-consistency; ``templates/program.yaml`` for program-aided; programs run in the sandbox), with
the same ``max_tokens`` per completion. Graded by value (the math verifier). Accuracies carry 95%
Wilson intervals; a difference carries a 95% paired bootstrap interval over problems
(:func:`nlrl.bench.metrics.bootstrap_interval` of the per-problem differences). Greedy
completions are cached and each run directory resumes, so a rerun replays.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from nlrl.bench import BenchProgress, BenchRunner, CachingBackend  # noqa: E402
from nlrl.bench.arith import ABOUT, generate  # noqa: E402
from nlrl.bench.metrics import bootstrap_interval, wilson_interval  # noqa: E402
from nlrl.verifiers.sandbox import sandbox_info  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"
CONFIGS: dict[str, tuple[str, int]] = {
    "cot@1": ("cot", 1),
    "program-aided@1": ("program-aided", 1),
    "self-consistency@5": ("self-consistency", 5),
    "program-aided@5": ("program-aided", 5),
}
PAIRS = (("program-aided@1", "cot@1"), ("program-aided@5", "self-consistency@5"))


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "nlrl" / "benchmarks" / "program_aided"


def _acc(flags: list[bool]) -> dict[str, Any]:
    k, n = sum(flags), len(flags)
    lo, hi = wilson_interval(k, n)
    return {"correct": k, "n": n, "accuracy": round(k / n, 4) if n else None, "ci95": [round(lo, 4), round(hi, 4)]}


def _paired(a: list[bool], b: list[bool]) -> dict[str, Any]:
    diffs = [float(x) - float(y) for x, y in zip(a, b)]
    lo, hi = bootstrap_interval(diffs, iterations=10000, seed=0)
    return {"difference": round(sum(diffs) / len(diffs), 4), "ci95_paired_bootstrap": [round(lo, 4), round(hi, 4)],
            "wins": sum(1 for x, y in zip(a, b) if x and not y), "losses": sum(1 for x, y in zip(a, b) if y and not x),
            "n": len(diffs), "excludes_0": lo > 0 or hi < 0}


def _shown(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(ROOT))
    except ValueError:
        return str(path)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dataset", default="arith", choices=["arith", "gsm8k"])
    ap.add_argument("--levels", default="2,3,4")
    ap.add_argument("--problems", type=int, default=25,
                    help="problems per level (the first of the test split); gsm8k: the first items")
    ap.add_argument("--max-tokens", type=int, default=48)
    ap.add_argument("--threads", type=int, default=int(os.environ.get("NLRL_THREADS", "1")))
    ap.add_argument("--only", default=None, help="comma-separated configurations to run (default: all)")
    ap.add_argument("--out", type=Path, default=RESULTS / "program_aided.json")
    args = ap.parse_args(argv)

    from nlrl.backends import load_backend

    if args.dataset == "gsm8k":
        from nlrl.bench.datasets import load_dataset

        levels: tuple[Any, ...] = ("all",)
        ds = load_dataset("gsm8k").select(limit=args.problems)
        level_of = lambda r: "all"  # noqa: E731
        tag = f"gsm8k-{args.problems}-{args.max_tokens}"
    else:
        levels = tuple(int(x) for x in args.levels.split(","))
        ds = generate("test", per_level=args.problems, levels=levels, name="arith")
        level_of = lambda r: r.metadata["level"]  # noqa: E731
        tag = f"L{args.levels.replace(',', '')}-{args.problems}-{args.max_tokens}"
    work = cache_dir()
    engine = CachingBackend(load_backend("embedded", n_ctx=2048, n_threads=args.threads),
                            work / "completions.sqlite")
    chosen = [c for c in CONFIGS if args.only is None or c in args.only.split(",")]
    correct: dict[str, dict[str, bool]] = {}
    configs: dict[str, Any] = {}
    started = time.perf_counter()
    with engine:
        for label in chosen:
            strategy, n = CONFIGS[label]
            runner = BenchRunner(engine, strategy=strategy, n=n, max_tokens=args.max_tokens, seed=0,
                                 plots=False, progress=BenchProgress(enabled=False))
            run_dir = work / f"{label}-{tag}"
            s = runner.run(ds, run_dir)
            rows = [json.loads(x) for x in (run_dir / "results.jsonl").read_text().splitlines()]
            correct[label] = {r["id"]: bool(r.get("correct")) for r in rows}
            configs[label] = {
                "strategy": strategy, "n": n, "overall": _acc(list(correct[label].values())),
                "by_level": {str(lv): _acc([correct[label][r.id] for r in ds if level_of(r) == lv])
                             for lv in levels},
                "tokens_per_problem": s["tokens_per_sample"]["generated"], "errors": s.get("errors", 0),
                "no_answer": s.get("no_answer"),
                # the run store's wall time: when the run first generated, not a replay's
                "wall_s": round(float(s.get("wall_s", 0.0)), 1),
            }
            o = configs[label]["overall"]
            print(f"{label}: {o['correct']}/{o['n']} {o['ci95']}", flush=True)
    ids = [r.id for r in ds]
    comparisons = []
    for a, b in PAIRS:
        if a in correct and b in correct:
            comparisons.append({
                "a": a, "b": b, "overall": _paired([correct[a][i] for i in ids], [correct[b][i] for i in ids]),
                "by_level": {str(lv): _paired([correct[a][r.id] for r in ds if level_of(r) == lv],
                                              [correct[b][r.id] for r in ds if level_of(r) == lv])
                             for lv in levels}})
    result = {
        "benchmark": "program-aided vs cot (greedy, n=1) and vs self-consistency (n=5) on the "
                     + ("GSM8K test split (its first items)" if args.dataset == "gsm8k" else "arith test split"),
        "command": f"NLRL_THREADS={args.threads} python benchmarks/program_aided.py "
                   + ("--dataset gsm8k " if args.dataset == "gsm8k" else f"--levels {args.levels} ")
                   + f"--problems {args.problems} --max-tokens {args.max_tokens}"
                   + (f" --only {args.only}" if args.only else "")
                   + ("" if args.out == RESULTS / "program_aided.json" else f" --out {_shown(args.out)}"),
        "model": engine.model_name,
        "dataset": "gsm8k (test split, vendored)" if args.dataset == "gsm8k" else "arith (test split)",
        "dataset_digest": ds.digest(),
        "levels": {str(lv): ABOUT.get(lv, "the first GSM8K test items") for lv in levels},
        "problems_per_level": args.problems,
        "max_tokens": args.max_tokens, "temperature": {"n=1": 0.0, "n=5": 0.7}, "seed": 0,
        "sandbox": sandbox_info(), "configs": configs, "comparisons": comparisons,
        "wall_s": round(sum(c["wall_s"] for c in configs.values()), 1),
        "this_invocation_s": round(time.perf_counter() - started, 1),
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(), "threads": args.threads},
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
