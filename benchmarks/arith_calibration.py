"""Calibrate the levels of the ``arith`` benchmark: greedy chain-of-thought accuracy of the
embedded model per kind of problem, written to benchmarks/results/arith_calibration.json.

    NLRL_THREADS=1 python benchmarks/arith_calibration.py              # 30 dev problems a kind
    python benchmarks/arith_calibration.py --problems 60 --split test

What runs: ``nlrl bench``'s runner (the ``cot`` strategy, temperature 0, the math few-shot
prompt) on the first ``--problems`` questions of every candidate kind of problem in the chosen
split (dev by default: the levels are tuned on dev, reported on test), with a per-kind
``max_tokens`` (arithmetic needs few tokens; the word problems get more). The levels
(``nlrl.bench.arith.LEVEL_KINDS``) are kinds in order of the accuracy measured here. Greedy completions are cached in a SQLite file
and each level's run directory resumes, so a rerun replays instead of generating. Accuracies
carry 95% Wilson intervals. The goal (issue 16): roughly 80%+ at level 1, under 5% at the top.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from nlrl.bench import BenchProgress, BenchRunner, CachingBackend  # noqa: E402
from nlrl.bench.arith import ABOUT, LEVEL_KINDS, kind_records  # noqa: E402
from nlrl.bench.datasets import Dataset  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"
#: generated-token limit per completion for each kind of problem (the answer line comes early in
#: the sums; the word problems get more)
MAX_TOKENS = {"tens+units": 32, "plus-one": 32, "sum-1+1": 32, "sum-2+1": 32, "sum-2+1-carry": 40,
              "sum-2+2": 40, "sum-3+3": 48, "product-1x2": 48, "two-step": 96, "three-step": 128}
#: the kinds measured (three-step word problems are left out: two-step ones are already hopeless)
CANDIDATES = ("tens+units", "plus-one", "sum-1+1", "sum-2+1", "sum-2+1-carry", "sum-2+2", "sum-3+3",
              "product-1x2", "two-step")


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "nlrl" / "benchmarks" / "arith_calibration"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--problems", type=int, default=30, help="problems per level")
    ap.add_argument("--split", default="dev", choices=("train", "dev", "test"))
    ap.add_argument("--threads", type=int, default=int(os.environ.get("NLRL_THREADS", "1")))
    ap.add_argument("--out", type=Path, default=RESULTS / "arith_calibration.json")
    args = ap.parse_args(argv)

    from nlrl.backends import load_backend

    work = cache_dir()
    engine = CachingBackend(load_backend("embedded", n_ctx=2048, n_threads=args.threads),
                            work / "completions.sqlite")
    kinds: dict[str, dict[str, object]] = {}
    started = time.perf_counter()
    with engine:
        for kind in CANDIDATES:
            recs = kind_records(args.split, kind, args.problems)
            ds = Dataset(f"arith-{args.split}-{kind}", recs)
            runner = BenchRunner(engine, strategy="cot", n=1, max_tokens=MAX_TOKENS[kind], temperature=0.0,
                                 seed=0, plots=False, progress=BenchProgress(enabled=False))
            s = runner.run(ds, work / f"{args.split}-{kind}-{args.problems}")
            kinds[kind] = {"max_tokens": MAX_TOKENS[kind], "n": s["n"], "correct": s["correct"],
                           "accuracy": s["accuracy"], "ci95": s["ci95"],
                           "tokens_per_sample": s["tokens_per_sample"]["generated"],
                           "no_answer": s.get("no_answer"), "example": recs[0].prompt,
                           # the run store's wall time: when the run first generated, not a replay's
                           "wall_s": round(float(s.get("wall_s", 0.0)), 1)}
            print(f"{kind}: {s['correct']}/{s['n']} = {s['accuracy']:.3f} {s['ci95']}", flush=True)
    levels = [{"level": lv, "kind": k, "about": ABOUT[lv], **kinds[k]} for lv, k in LEVEL_KINDS.items()
              if k in kinds]
    accs = [lv["accuracy"] for lv in levels]
    result = {
        "benchmark": "arith level calibration: greedy cot accuracy of the embedded model per kind of problem; "
                     "the levels are the kinds in order of measured accuracy",
        "command": f"NLRL_THREADS={args.threads} python benchmarks/arith_calibration.py "
                   f"--problems {args.problems} --split {args.split}",
        "model": engine.model_name, "split": args.split, "strategy": "cot", "temperature": 0.0,
        "problems_per_kind": args.problems,
        "goal": "accuracy roughly >= 0.8 at level 1 and < 0.05 at the top level",
        "levels": levels,
        "levels_in_order_of_accuracy": all(a >= b for a, b in zip(accs, accs[1:])),
        "kinds": kinds,
        "wall_s": round(sum(float(k["wall_s"]) for k in kinds.values()), 1),  # type: ignore[arg-type]
        "this_invocation_s": round(time.perf_counter() - started, 1),
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(), "threads": args.threads},
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
