"""The coding domain's sampling temperature, measured: pass@1, self-consistency@n, best-of-n@n and
public-tests@n over a temperature grid on the ``minicode`` **dev** split with the embedded model,
written to benchmarks/results/coding_temperature.json. The coding entry of
``nlrl.strategies.sampling.DOMAIN_TEMPERATURES`` comes from this file.

    NLRL_THREADS=1 python benchmarks/coding_temperature.py --per-level 7 --n 5 --max-wall-s 1500

Problems: the first ``--per-level`` tasks of each of ``--levels`` of minicode's dev split, levels
in turn (``benchmarks/public_tests.py``'s order); by default levels 1-4, where the calibration
found some correct sample (levels 5 and 6 had none, so they cannot tell temperatures apart). For each problem, every temperature of the grid runs
``public_tests.solve`` (n programs sampled once, seed 0, every configuration replaying them, each
sample graded on the hidden tests afterwards), so all temperatures see the same problems; a run
stopped by ``--max-wall-s`` reports the problems every temperature finished. Samples are cached
in ``minicode_cache.jsonl`` (shared with ``public_tests.py --minicode``), so a rerun replays.

The choice rule, fixed before the run: the highest public-tests@n accuracy (the coding
strategy that uses samples best); ties go to the higher mean single-sample pass rate (pass@1),
then the lower temperature. Each temperature's paired differences to the chosen one carry 95%
paired bootstrap intervals over problems.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "benchmarks"))

from nlrl.bench.metrics import bootstrap_interval  # noqa: E402
from nlrl.verifiers.code import CodeVerifier  # noqa: E402
from nlrl.verifiers.sandbox import sandbox_info  # noqa: E402
from public_tests import LABELS, _paired, by_level, minicode_order, solve, summarize  # noqa: E402
from strategies import CachedBackend, make_reward, run_record, write_result  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"
GRID = (0.2, 0.4, 0.7, 1.0)


def pass1(rows: list[dict]) -> float:
    return sum(sum(r["sample_correct"]) / max(1, len(r["sample_correct"])) for r in rows) / max(1, len(rows))


def choose(by_t: dict[float, list[dict]]) -> float:
    """The rule: highest public-tests@n, then higher pass@1, then lower T."""
    return max(by_t, key=lambda t: (sum(r["correct"]["public-tests@n"] for r in by_t[t]), pass1(by_t[t]), -t))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--per-level", type=int, default=7)
    ap.add_argument("--n", type=int, default=5)
    ap.add_argument("--grid", default=",".join(map(str, GRID)))
    ap.add_argument("--levels", default="1,2,3,4", help="minicode levels swept (default: those with signal)")
    ap.add_argument("--max-tokens", type=int, default=128)
    ap.add_argument("--max-wall-s", type=float, default=1500.0)
    ap.add_argument("--threads", type=int, default=int(os.environ.get("NLRL_THREADS", "1")))
    ap.add_argument("--out", type=Path, default=RESULTS / "coding_temperature.json")
    args = ap.parse_args(argv)
    grid = tuple(float(x) for x in args.grid.split(","))

    def make_inner():
        from nlrl.backends import load_backend

        return load_backend("embedded", n_ctx=4096, n_threads=args.threads)

    backend = CachedBackend(RESULTS / "minicode_cache.jsonl", make_inner, domain="coding")
    reward = make_reward("logprob", backend)
    verifier = CodeVerifier(timeout_s=10.0)
    levels = tuple(int(x) for x in args.levels.split(","))
    order = minicode_order("dev", args.per_level, levels)
    by_t: dict[float, list[dict]] = {t: [] for t in grid}
    start = time.perf_counter()
    stopped = None
    for rec in order:
        if time.perf_counter() - start > args.max_wall_s:
            stopped = f"--max-wall-s {args.max_wall_s:.0f} reached after {len(by_t[grid[0]])} of {len(order)} problems"
            break
        for t in grid:
            ns = argparse.Namespace(n=args.n, temperature=t, max_tokens=args.max_tokens)
            by_t[t].append(solve(rec, backend, reward, ns, verifier))
        print(f"{rec.id}: " + " ".join(f"T{t}: pt={int(by_t[t][-1]['correct']['public-tests@n'])} "
                                       f"s={sum(by_t[t][-1]['sample_correct'])}" for t in grid)
              + f" ({time.perf_counter() - start:.0f}s)", flush=True)
    chosen = choose(by_t) if by_t[grid[0]] else None
    any_right = any(any(r["sample_correct"]) for rows in by_t.values() for r in rows)
    temps: dict[str, Any] = {}
    for t, rows in by_t.items():
        s = summarize(rows)
        temps[str(t)] = {**{k: s["configs"][k] for k in (*LABELS, "pass@1 (mean over samples)", "pass@n (oracle)")},
                         "tokens_per_problem": s["filtering"]["tokens_per_problem"],
                         "public_tests_minus_self_consistency": s["comparisons"][0],
                         "by_level": {lv: {"public-tests@n": v["configs"]["public-tests@n"]["accuracy"],
                                           "pass@1": v["configs"]["pass@1 (mean over samples)"]["accuracy"]}
                                      for lv, v in by_level(rows).items()}}
    versus = {}
    if chosen is not None:
        for t in grid:
            if t == chosen:
                continue
            a, b = by_t[chosen], by_t[t]
            p1 = [sum(x["sample_correct"]) / len(x["sample_correct"]) - sum(y["sample_correct"]) / len(y["sample_correct"])
                  for x, y in zip(a, b)]
            lo, hi = bootstrap_interval(p1, iterations=10000, seed=0)
            versus[str(t)] = {
                "public-tests@n": _paired([r["correct"]["public-tests@n"] for r in a], [r["correct"]["public-tests@n"] for r in b]),
                "pass@1": {"difference": round(sum(p1) / len(p1), 4), "ci95_paired_bootstrap": [round(lo, 4), round(hi, 4)],
                           "excludes_0": lo > 0 or hi < 0}}
    result = {
        "benchmark": "coding sampling temperature: pass@1 and public-tests@n over a grid, minicode dev split",
        "command": (f"NLRL_THREADS={args.threads} python benchmarks/coding_temperature.py --per-level {args.per_level} "
                    f"--n {args.n} --grid {args.grid} --levels {args.levels} --max-tokens {args.max_tokens} --max-wall-s {args.max_wall_s:.0f}"),
        "model": "gemma-3-270m (base, q4_k_m, llama.cpp)", "grid": list(grid), "n": args.n,
        "max_tokens": args.max_tokens, "seed": 0, "sandbox": sandbox_info(), "levels": list(levels),
        "choice_rule": "highest public-tests@n accuracy; ties: higher pass@1 (mean over samples), then lower T",
        "problems": len(by_t[grid[0]]), "stopped_early": stopped,
        "chosen": chosen if any_right else None, "signal": any_right,
        "by_temperature": temps, "chosen_minus_other": versus,
        "rows": {str(t): rows for t, rows in by_t.items()},
        **run_record(backend, "minicode_cache.jsonl", args.threads, start),
    }
    write_result(args.out, result, backend)
    print(f"chosen T = {result['chosen']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
