"""The sampling temperature per domain, measured: self-consistency@5 over a temperature grid with
the embedded model, written to benchmarks/results/temperature.json. The per-domain defaults in
``nlrl.strategies.sampling.DOMAIN_TEMPERATURES`` come from this file.

    NLRL_THREADS=1 python benchmarks/temperature.py --max-wall-s 1740

Problems (fixed before any output was read):
  * math: the ``arith`` **dev** split (``nlrl.bench.arith``), levels 2, 3 and 4 (the levels where
    greedy chain of thought is between 10% and 70%), taken level by level in turn;
  * commonsense: CommonsenseQA dev in file order (the questions of ``benchmarks/strategies.py``,
    with its prompt, seed and token limit, so its recorded samples at T = 0.4 and 0.8 replay);
  * coding: MBPP (sanitized) in file order, graded by its tests in the sandbox.
Each round takes the next ``--per-round`` problems of each domain (default math 3, commonsense
3, coding 1: a coding problem costs about ten of the others) and runs self-consistency with
n = 5 at every temperature of the grid on them (seeded: sample i of a request seeded s is seeded
s + i), until the counts are reached or ``--max-wall-s`` has passed; every temperature of a
domain sees the same problems. Samples are cached on disk (``temperature_cache.jsonl``), so a
rerun replays.

Reported per domain and temperature: self-consistency@5 accuracy (95% Wilson interval), the mean
accuracy of single samples (95% bootstrap interval), and each temperature's paired difference to
the best one (95% paired bootstrap over problems). The choice rule, fixed in advance: the
highest self-consistency@5 accuracy; ties go to the higher single-sample accuracy, then the lower
temperature. A domain where no sample at any temperature was correct has nothing to choose by:
its ``chosen`` is null and its default stays ``DEFAULT_TEMPERATURE``.

``--math-problems`` / ``--commonsense-problems`` cap the problems taken (in the order above), so a
rerun can replay exactly the problems a time-limited run finished, from the cache.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "benchmarks"))

from nlrl.bench.arith import generate  # noqa: E402
from nlrl.bench.datasets import load_dataset  # noqa: E402
from nlrl.bench.metrics import bootstrap_interval, wilson_interval  # noqa: E402
from nlrl.gists import GistStream  # noqa: E402
from nlrl.strategies import Budget, get_strategy  # noqa: E402
from nlrl.tasks.task import Task  # noqa: E402
from nlrl.verifiers import get_verifier  # noqa: E402
from nlrl.verifiers.code import CodeVerifier  # noqa: E402
import strategies as sweep_base  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"
GRID = (0.2, 0.4, 0.6, 0.8, 1.0)
N = 5


class Domain:
    """Problems of one domain, how to ask and how to grade."""

    def __init__(self, name: str, problems: list[tuple[str, str, Any]], seed: int, max_tokens: int,
                 grade: Callable[[Any, list[str], list[str | None]], list[bool]]) -> None:
        self.name, self.problems, self.seed, self.max_tokens, self.grade = name, problems, seed, max_tokens, grade


def _math_domain(count: int) -> Domain:
    ds = generate("dev", per_level=count, levels=(2, 3, 4))
    by_level = {lv: [r for r in ds if r.metadata["level"] == lv] for lv in (2, 3, 4)}
    order = [by_level[lv][i] for i in range(count) for lv in (2, 3, 4)]
    math = get_verifier("math")

    def grade(ref: Any, texts: list[str], answers: list[str | None]) -> list[bool]:
        return [a is not None and math.check(f"Final Answer: {a}", ref).correct for a in answers]

    return Domain("math", [(r.id, r.prompt, r.reference) for r in order], 0, 48, grade)


def _commonsense_domain(count: int) -> Domain:
    problems = sweep_base.load_problems("csqa", count)

    def grade(ref: Any, texts: list[str], answers: list[str | None]) -> list[bool]:
        p = sweep_base.Problem("", "", ref, "commonsense", "")
        return [sweep_base.is_correct(p, a) for a in answers]

    return Domain("commonsense", [(p.pid, p.question, p.reference) for p in problems], sweep_base.SEED,
                  sweep_base.MAX_TOKENS, grade)


def _coding_domain(count: int) -> Domain:
    verifier = CodeVerifier(timeout_s=10.0)

    def grade(ref: Any, texts: list[str], answers: list[str | None]) -> list[bool]:
        return [v.correct for v in verifier.check_many([(t, ref) for t in texts])]

    recs = list(load_dataset("mbpp"))[:count]
    return Domain("coding", [(r.id, r.prompt, r.reference) for r in recs], 0, 160, grade)


def run_one(domain: Domain, backend: Any, pid: str, question: str, ref: Any, t: float) -> dict[str, Any]:
    task = Task.build(question, domain=domain.name)
    budget = Budget(n=N, max_tokens=domain.max_tokens, temperature=t, seed=domain.seed)
    res = get_strategy("self-consistency")(task, backend, budget=budget,
                                           on_token=GistStream(domain.name, adaptive=True))
    samples = [e for e in res.trace if e.kind == "sample"]
    texts = [e.text for e in samples]
    answers = [e.data.get("answer") for e in samples]
    right = domain.grade(ref, texts, answers)
    winner = right[texts.index(res.output)] if res.output in texts else False
    return {"id": pid, "correct": bool(winner), "samples_correct": [bool(x) for x in right],
            "tokens": res.usage.completion_tokens}


def _paired(a: list[bool], b: list[bool]) -> dict[str, Any]:
    diffs = [float(x) - float(y) for x, y in zip(a, b)]
    lo, hi = bootstrap_interval(diffs, iterations=10000, seed=0)
    return {"difference": round(sum(diffs) / len(diffs), 4), "ci95_paired_bootstrap": [round(lo, 4), round(hi, 4)],
            "excludes_0": lo > 0 or hi < 0}


def summarize(rows: dict[float, list[dict]]) -> dict[str, Any]:
    per_t: dict[str, Any] = {}
    for t, rs in rows.items():
        k, n = sum(r["correct"] for r in rs), len(rs)
        lo, hi = wilson_interval(k, n)
        single = [sum(r["samples_correct"]) / len(r["samples_correct"]) for r in rs]
        slo, shi = bootstrap_interval(single, iterations=10000, seed=0)
        per_t[str(t)] = {"problems": n, "sc5_correct": k, "sc5_accuracy": round(k / n, 4),
                         "sc5_ci95": [round(lo, 4), round(hi, 4)],
                         "single_sample_accuracy": round(sum(single) / n, 4),
                         "single_sample_ci95": [round(slo, 4), round(shi, 4)],
                         "tokens_per_problem": round(sum(r["tokens"] for r in rs) / n, 1)}
    best = max(rows, key=lambda t: (per_t[str(t)]["sc5_accuracy"], per_t[str(t)]["single_sample_accuracy"], -t))
    vs = {str(t): _paired([r["correct"] for r in rows[best]], [r["correct"] for r in rows[t]])
          for t in rows if t != best}
    signal = any(any(r["samples_correct"]) for rs in rows.values() for r in rs)
    # no correct sample at any temperature: nothing to choose by, the default stays as it was
    return {"by_temperature": per_t, "best": best, "chosen": best if signal else None, "signal": signal,
            "best_minus_other_sc5": vs}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--math", type=int, default=20, help="arith dev problems per level (levels 2-4)")
    ap.add_argument("--commonsense", type=int, default=40)
    ap.add_argument("--coding", type=int, default=0)
    ap.add_argument("--math-problems", type=int, default=None, help="at most this many math problems in all")
    ap.add_argument("--commonsense-problems", type=int, default=None, help="at most this many in all")
    ap.add_argument("--per-round", default="2,3,1", help="math,commonsense,coding problems per round")
    ap.add_argument("--max-wall-s", type=float, default=1740.0)
    ap.add_argument("--threads", type=int, default=int(os.environ.get("NLRL_THREADS", "1")))
    ap.add_argument("--out", type=Path, default=RESULTS / "temperature.json")
    args = ap.parse_args(argv)

    engine: list[Any] = []

    def make_inner() -> Any:
        if not engine:
            from nlrl.backends import load_backend

            engine.append(load_backend("embedded", n_ctx=4096, n_threads=args.threads))
        return engine[0]

    cache = RESULTS / "temperature_cache.jsonl"
    domains = [_math_domain(args.math), _commonsense_domain(args.commonsense), _coding_domain(args.coding)]
    for d, cap in zip(domains, (args.math_problems, args.commonsense_problems)):
        if cap is not None:
            d.problems = d.problems[:cap]
    backends = {d.name: sweep_base.CachedBackend(cache, make_inner, domain=d.name) for d in domains}
    # the strategies benchmark's commonsense samples (same prompt, seed and limits) replay, read-only
    old = RESULTS / "strategies_cache.jsonl"
    if old.exists():
        for line in old.read_text(encoding="utf-8").splitlines():
            if line.strip():
                rec = json.loads(line)
                backends["commonsense"]._cache.setdefault(rec["key"], rec)
    quota = dict(zip(("math", "commonsense", "coding"), (int(x) for x in args.per_round.split(","))))
    rows: dict[str, dict[float, list[dict]]] = {d.name: {t: [] for t in GRID} for d in domains}
    done = {d.name: 0 for d in domains}
    start = time.perf_counter()
    stopped = None
    while any(done[d.name] < len(d.problems) for d in domains) and stopped is None:
        for d in domains:
            for _ in range(quota[d.name]):
                if done[d.name] >= len(d.problems):
                    break
                if time.perf_counter() - start > args.max_wall_s:
                    stopped = f"--max-wall-s {args.max_wall_s:.0f} reached"
                    break
                pid, question, ref = d.problems[done[d.name]]
                t0 = time.perf_counter()
                got = {t: run_one(d, backends[d.name], pid, question, ref, t) for t in GRID}
                for t in GRID:
                    rows[d.name][t].append(got[t])
                done[d.name] += 1
                print(f"{d.name} {pid}: " + " ".join(f"T{t}={int(got[t]['correct'])}/{sum(got[t]['samples_correct'])}"
                                                     for t in GRID) + f" {time.perf_counter() - t0:.0f}s", flush=True)
            if stopped:
                break
    # T = 0.4 and 0.8 on every commonsense problem: recorded by benchmarks/strategies.py, so free
    cs = next(d for d in domains if d.name == "commonsense")
    pair: dict[float, list[dict]] = {0.4: [], 0.8: []}
    for i, (pid, question, ref) in enumerate(cs.problems):
        for t in pair:
            pair[t].append(rows["commonsense"][t][i] if i < done["commonsense"]
                           else run_one(cs, backends["commonsense"], pid, question, ref, t))
    result = {
        "benchmark": "self-consistency@5 over a temperature grid, per domain (embedded model)",
        "command": (f"NLRL_THREADS={args.threads} python benchmarks/temperature.py --math {args.math} "
                    f"--commonsense {args.commonsense} --coding {args.coding} --per-round {args.per_round} "
                    f"--max-wall-s {args.max_wall_s:.0f}"
                    + (f" --math-problems {args.math_problems}" if args.math_problems is not None else "")
                    + (f" --commonsense-problems {args.commonsense_problems}"
                       if args.commonsense_problems is not None else "")),
        "model": "gemma-3-270m (base, q4_k_m, llama.cpp)", "grid": list(GRID), "n": N,
        "choice_rule": ("highest self-consistency@5 accuracy; ties: higher single-sample accuracy, then lower T; "
                        "no correct sample at any T: no choice (the default stays as it was)"),
        "problems": {d.name: done[d.name] for d in domains},
        "datasets": {"math": "arith dev split, levels 2-4, interleaved (max_tokens 48, seed 0)",
                     "commonsense": f"CommonsenseQA dev, file order (benchmarks/strategies.py prompt, "
                                    f"max_tokens {sweep_base.MAX_TOKENS}, seed {sweep_base.SEED})",
                     "coding": "MBPP sanitized, file order (max_tokens 160, seed 0; graded by its tests)"},
        "stopped_early": stopped,
        "domains": {d.name: {**summarize(rows[d.name]), "rows": {str(t): rows[d.name][t] for t in GRID}}
                    for d in domains if done[d.name]},
        "commonsense_all_problems_T0.4_vs_T0.8": (
            {**summarize(pair), "note": "every commonsense problem, replayed from strategies_cache.jsonl"}
            if cs.problems else None),
        "cache": cache.name, "new_samples": sum(b.misses for b in backends.values()),
        "cache_hits": sum(b.hits for b in backends.values()),
        "generation_wall_s_this_run": round(sum(b.generated_wall for b in backends.values()), 1),
        "wall_s_this_run": round(time.perf_counter() - start, 1),
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(), "threads": args.threads,
                    "note": "2 cores shared with other model processes"},
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    if engine:
        engine[0].close()
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
