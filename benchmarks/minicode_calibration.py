"""Calibrate the levels of the ``minicode`` benchmark: the embedded model's pass rate per kind of
task, written to benchmarks/results/minicode_calibration.json.

    NLRL_THREADS=1 python benchmarks/minicode_calibration.py --tasks 8

What runs: for every kind of task (``nlrl.bench.minicode.KINDS``), its first ``--tasks`` tasks of
the **dev** split (the levels are tuned on dev, reported on test), with nlrl's coding prompt:
one greedy program (temperature 0) and ``--n`` sampled ones (T = ``--temperature``, seed 0,
stopped at the closing fence), each graded on the hidden tests by the code verifier in the
sandbox. Reported per kind: greedy accuracy and the mean sampled pass rate, with 95% Wilson
intervals (over tasks, and over all samples). ``LEVEL_KINDS`` groups the kinds in order of these
figures. Completions are cached (``minicode_cache.jsonl``, shared with
``benchmarks/public_tests.py --minicode``), so a rerun replays.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "benchmarks"))

from nlrl.bench.metrics import wilson_interval  # noqa: E402
from nlrl.bench.minicode import KINDS, LEVEL_KINDS, kind_records  # noqa: E402
from nlrl.gists import GistStream  # noqa: E402
from nlrl.strategies import Budget, get_strategy  # noqa: E402
from nlrl.tasks.task import Task  # noqa: E402
from nlrl.verifiers.code import CodeVerifier  # noqa: E402
from strategies import CachedBackend, run_record, write_result  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"


def _rate(k: int, n: int) -> dict:
    lo, hi = wilson_interval(k, n) if n else (0.0, 1.0)
    return {"correct": k, "n": n, "accuracy": round(k / n, 4) if n else None, "ci95": [round(lo, 4), round(hi, 4)]}


def _programs(backend, prompt: str, n: int, temperature: float, max_tokens: int) -> list[str]:
    task = Task.build(prompt, domain="coding")
    res = get_strategy("self-consistency")(task, backend, budget=Budget(n=n, max_tokens=max_tokens,
                                                                        temperature=temperature, seed=0),
                                           on_token=GistStream("coding", adaptive=True))
    return [e.text for e in res.trace if e.kind == "sample"]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tasks", type=int, default=8)
    ap.add_argument("--n", type=int, default=4)
    ap.add_argument("--temperature", type=float, default=0.7)
    ap.add_argument("--max-tokens", type=int, default=128)
    ap.add_argument("--threads", type=int, default=int(os.environ.get("NLRL_THREADS", "1")))
    ap.add_argument("--out", type=Path, default=RESULTS / "minicode_calibration.json")
    args = ap.parse_args(argv)

    def make_inner():
        from nlrl.backends import load_backend

        return load_backend("embedded", n_ctx=4096, n_threads=args.threads)

    backend = CachedBackend(RESULTS / "minicode_cache.jsonl", make_inner, domain="coding")
    verifier = CodeVerifier(timeout_s=10.0)
    start = time.perf_counter()
    kinds: dict[str, dict] = {}
    for kind in KINDS:
        greedy, sampled = [], []
        for rec in kind_records("dev", kind, args.tasks):
            g = _programs(backend, rec.prompt, 1, 0.0, args.max_tokens)
            s = _programs(backend, rec.prompt, args.n, args.temperature, args.max_tokens)
            v = verifier.check_many([(t, rec.reference) for t in g + s])
            greedy.append(v[0].correct)
            sampled += [x.correct for x in v[1:]]
        kinds[kind] = {"greedy": _rate(sum(greedy), len(greedy)), "sampled": _rate(sum(sampled), len(sampled)),
                       "level": next((lv for lv, ks in LEVEL_KINDS.items() if kind in ks), None)}
        print(f"{kind}: greedy {sum(greedy)}/{len(greedy)} sampled {sum(sampled)}/{len(sampled)} "
              f"({time.perf_counter() - start:.0f}s)", flush=True)
    levels = {}
    for lv, ks in LEVEL_KINDS.items():
        g = sum(kinds[k]["greedy"]["correct"] for k in ks)
        gn = sum(kinds[k]["greedy"]["n"] for k in ks)
        s = sum(kinds[k]["sampled"]["correct"] for k in ks)
        sn = sum(kinds[k]["sampled"]["n"] for k in ks)
        levels[str(lv)] = {"kinds": list(ks), "greedy": _rate(g, gn), "sampled": _rate(s, sn)}
    result = {
        "benchmark": "minicode calibration: pass rate of the embedded model per kind of task (dev split)",
        "command": (f"NLRL_THREADS={args.threads} python benchmarks/minicode_calibration.py --tasks {args.tasks} "
                    f"--n {args.n} --temperature {args.temperature} --max-tokens {args.max_tokens}"),
        "model": "gemma-3-270m (base, q4_k_m, llama.cpp)", "split": "dev", "tasks_per_kind": args.tasks,
        "n": args.n, "temperature": args.temperature, "max_tokens": args.max_tokens,
        "kinds": kinds, "levels": levels,
        **run_record(backend, "minicode_cache.jsonl", args.threads, start),
    }
    write_result(args.out, result, backend)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
