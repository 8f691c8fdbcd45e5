"""Harness overhead of the benchmark runner, excluding model time.

For each dataset, a scripted model answers instantly (deterministically: about two thirds right)
and we time ``BenchRunner.run``: prompts built from the templates, the strategy, gists streamed,
every sample graded by its verifier, stored in the SQLite run store, appended to results.jsonl,
then the summary. Model time (time inside ``Backend.generate``, measured per sample) is
subtracted. Baseline, measured in the same run: the bare loop that the harness wraps
(``Pipeline.solve`` then the verifier, nothing stored); the ratio shows what the store, the
results file and the summary cost. Also timed: re-running a finished run (nothing to do, the
resume path), and a run answered from the completion cache.

Best of ``--repeat`` timings each (the machine is shared). Target: >= 500 samples/s.

    python benchmarks/harness_overhead.py            # writes benchmarks/results/harness_overhead.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
import zlib
from pathlib import Path

from nlrl import Pipeline, ScriptedBackend
from nlrl.bench import BenchRunner, CachingBackend, load_dataset
from nlrl.bench.grading import grade_text
from nlrl.bench.runner import _Meter
from nlrl.verifiers import get_verifier

TARGET = 500.0
DATASETS = ("gsm8k", "commonsenseqa", "strategyqa", "hotpotqa")


def scripted(ds):
    """An instant model that knows the answers and gets about a third of them wrong."""
    by_question = {r.prompt.strip(): r for r in ds}

    def answer(prompt: str, i: int) -> str:
        q = prompt.rsplit("Question:", 1)[1].rsplit("Answer:", 1)[0].strip()
        rec = by_question[q]
        ref = rec.reference if zlib.crc32(q.encode()) % 3 else "0"
        return f" Let me think about this step by step.\nThe facts give the result.\nFinal Answer: {ref}\n"
    return answer


def bare_loop(ds) -> tuple[float, float]:
    meter = _Meter(ScriptedBackend(scripted(ds)))
    pipe = Pipeline(meter, strategy="cot", max_tokens=384, seed=0)
    start = time.perf_counter()
    for rec in ds:
        result = pipe.solve(rec.prompt, domain=rec.domain)
        get_verifier(rec.checker).check(grade_text(rec, result.output, result.final_answer), rec.reference,
                                        **rec.context)
    return time.perf_counter() - start, meter.model_s


def harness(ds, out: Path, backend=None) -> tuple[float, float, dict]:
    backend = backend or ScriptedBackend(scripted(ds))
    start = time.perf_counter()
    summary = BenchRunner(backend, progress=False, plots=False).run(ds, out)
    wall = time.perf_counter() - start
    rows = [json.loads(line) for line in (out / "results.jsonl").read_text(encoding="utf-8").splitlines()]
    return wall, sum(r["model_s"] for r in rows), summary


def best(fn, repeat: int):
    runs = [fn(i) for i in range(repeat)]
    return min(runs, key=lambda r: r[0] - r[1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--limit", type=int, default=1000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--datasets", nargs="*", default=list(DATASETS))
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "harness_overhead.json")
    args = ap.parse_args()

    load_start = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for name in args.datasets:
            ds = load_dataset(name).select(limit=args.limit)
            n = len(ds)
            BenchRunner(ScriptedBackend(scripted(ds)), progress=False, plots=False).solve(ds[0])  # warm up
            b_wall, b_model = best(lambda i: bare_loop(ds), args.repeat)
            h_wall, h_model, summary = best(lambda i: harness(ds, root / f"{name}-{i}"), args.repeat)
            r_wall, _, _ = best(lambda i: harness(ds, root / f"{name}-0"), args.repeat)      # all done already
            cache_file = root / f"{name}-cache.sqlite"
            harness(ds, root / f"{name}-fill", CachingBackend(ScriptedBackend(scripted(ds)), cache_file))
            c_wall, c_model, c_summary = best(
                lambda i: harness(ds, root / f"{name}-cached-{i}",
                                  CachingBackend(ScriptedBackend([]), cache_file)), args.repeat)
            harness_rate = n / (h_wall - h_model)
            bare_rate = n / (b_wall - b_model)
            results[name] = {
                "n": n,
                "accuracy": summary["accuracy"],
                "harness_wall_s": round(h_wall, 3),
                "harness_model_s": round(h_model, 3),
                "harness_samples_per_s_excl_model": round(harness_rate, 1),
                "bare_loop_samples_per_s_excl_model": round(bare_rate, 1),
                "harness_vs_bare_loop_ratio": round(harness_rate / bare_rate, 3),
                "resume_finished_run_s": round(r_wall, 3),
                "cached_run_samples_per_s": round(n / c_wall, 1),
                "cached_run_cache_hits": c_summary["cache"]["hits"],
                "meets_target": harness_rate >= TARGET,
            }
            print(name, json.dumps(results[name]), flush=True)
    report = {
        "benchmark": "harness_overhead",
        "what": "samples/s of BenchRunner.run with an instant scripted model, model time excluded; "
                "baseline: Pipeline.solve + verifier in a bare loop, same records, same run",
        "target_samples_per_s": TARGET,
        "min_harness_samples_per_s_excl_model": min(r["harness_samples_per_s_excl_model"] for r in results.values()),
        "all_meet_target": all(r["meets_target"] for r in results.values()),
        "datasets": results,
        "repeat": args.repeat,
        "machine": {"python": sys.version.split()[0], "platform": platform.platform(), "cpus": os.cpu_count(),
                    "load_average_at_start": load_start},
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
