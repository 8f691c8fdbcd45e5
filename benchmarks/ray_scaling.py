"""Benchmark runs on Ray against the local executor, in the same process and the same run.

1. Harness overhead. An instant scripted model (it knows the gsm8k answers and gets about a third
   wrong) answers ``--limit`` samples; we time ``BenchRunner.run`` with the local executor, then on
   a local Ray cluster with 1 and with 2 workers, batches of 16 (and, for context, 1 and 64 with
   one worker). Ray overhead per sample = (wall on Ray with one worker - wall locally) / samples:
   what shipping records to a worker and rows back to the driver costs, the work itself being the
   same. Goal: under 5 ms per sample at batch size 16. Cluster start and worker start are timed
   apart (they are paid once per job, not per sample).
2. The embedded model (Gemma 3 270M, one llama.cpp thread per worker): samples/s with 2 Ray
   workers vs 1 (and the local executor), on ``--embedded-limit`` gsm8k samples, greedy.

Every Ray run's results are checked equal to the local run's (timings aside). Best of
``--repeat`` for the scripted timings (the machine is shared).

    python benchmarks/ray_scaling.py            # writes benchmarks/results/ray_scaling.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

import ray

from nlrl.bench import BenchRunner, load_dataset
from nlrl.bench.executors import BackendRecipe, RayExecutor, _local_token

GOAL_MS = 5.0


def scripted(limit: int):
    """A factory (built on each worker) of an instant model; nested so Ray pickles it by value."""

    def factory():
        import zlib

        from nlrl import ScriptedBackend
        from nlrl.bench import load_dataset

        by_question = {r.prompt.strip(): r for r in load_dataset("gsm8k").select(limit=limit)}

        def answer(prompt: str, i: int) -> str:
            q = prompt.rsplit("Question:", 1)[1].rsplit("Answer:", 1)[0].strip()
            rec = by_question[q]
            ref = rec.reference if zlib.crc32(q.encode()) % 3 else "0"
            return f" Let me think about this step by step.\nThe facts give the result.\nFinal Answer: {ref}\n"

        return ScriptedBackend(answer)

    return factory


def normalised(out: Path) -> list[str]:
    lines = []
    for line in (out / "results.jsonl").read_text(encoding="utf-8").splitlines():
        r = json.loads(line)
        for k in ("latency_s", "model_s"):
            r.pop(k)
        for k in ("wall_s", "prompt_tokens", "total_tokens"):  # prompt tokens: the engine's prefix cache
            r["usage"].pop(k)
        for g in r["gists"]:
            g.pop("t")
        lines.append(json.dumps(r, sort_keys=True))
    return sorted(lines)


def timed_run(ds, out: Path, *, backend=None, executor=None, **kw) -> float:
    start = time.perf_counter()
    BenchRunner(backend, executor=executor, progress=False, plots=False, **kw).run(ds, out)
    return time.perf_counter() - start


def scripted_part(tmp: Path, limit: int, repeat: int) -> dict:
    ds = load_dataset("gsm8k").select(limit=limit)
    factory = scripted(limit)
    local = min(timed_run(ds, tmp / f"local{i}", backend=factory()) for i in range(repeat))
    out: dict = {"samples": len(ds), "local": {"wall_s": round(local, 4), "samples_per_s": round(len(ds) / local, 1)}}
    for workers, batch in ((1, 16), (2, 16), (1, 1), (1, 64)):
        start = time.perf_counter()
        with RayExecutor(factory, workers=workers, batch_size=batch) as ex:
            started = time.perf_counter() - start
            walls = []
            for i in range(repeat):
                d = tmp / f"ray{workers}-{batch}-{i}"
                walls.append(timed_run(ds, d, executor=ex))
                assert normalised(d) == normalised(tmp / "local0"), "Ray results differ from local"
        wall = min(walls)
        key = f"ray_{workers}_worker{'s' if workers > 1 else ''}_batch_{batch}"
        out[key] = {"workers": workers, "batch_size": batch, "wall_s": round(wall, 4),
                    "samples_per_s": round(len(ds) / wall, 1),
                    "overhead_ms_per_sample_vs_local": round(1000 * (wall - local) / len(ds), 3),
                    "worker_start_s": round(started, 2), "results_equal_local": True}
        print(key, json.dumps(out[key]), flush=True)
    head = out["ray_1_worker_batch_16"]["overhead_ms_per_sample_vs_local"]
    out["goal"] = {"overhead_ms_per_sample_at_batch_16": head, "target_ms": GOAL_MS, "met": head < GOAL_MS}
    return out


def embedded_part(tmp: Path, limit: int, max_tokens: int) -> dict:
    ds = load_dataset("gsm8k").select(limit=limit)
    recipe = BackendRecipe("embedded", options={"n_ctx": 2048, "n_threads": 1})
    kw = {"max_tokens": max_tokens, "seed": 0}
    with recipe.build() as backend:
        local = timed_run(ds, tmp / "emb-local", backend=backend, **kw)
    out: dict = {"samples": len(ds), "max_tokens": max_tokens, "threads_per_worker": 1,
                 "local": {"wall_s": round(local, 2), "samples_per_s": round(len(ds) / local, 3)}}
    for workers in (1, 2):
        start = time.perf_counter()
        with RayExecutor(recipe, workers=workers, batch_size=1) as ex:
            started = time.perf_counter() - start
            d = tmp / f"emb-ray{workers}"
            wall = timed_run(ds, d, executor=ex, **kw)
        out[f"ray_{workers}_worker{'s' if workers > 1 else ''}"] = {
            "wall_s": round(wall, 2), "samples_per_s": round(len(ds) / wall, 3),
            "worker_start_s": round(started, 2), "results_equal_local": normalised(d) == normalised(tmp / "emb-local")}
        print(workers, json.dumps(out[f"ray_{workers}_worker{'s' if workers > 1 else ''}"]), flush=True)
    out["speedup_2_workers_vs_1"] = round(out["ray_1_worker"]["wall_s"] / out["ray_2_workers"]["wall_s"], 2)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--limit", type=int, default=1000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--embedded-limit", type=int, default=8)
    ap.add_argument("--max-tokens", type=int, default=64)
    ap.add_argument("--no-embedded", action="store_true")
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "ray_scaling.json")
    args = ap.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="nlrl-ray-bench-"))
    ray_tmp = tempfile.mkdtemp(prefix="nlrl-ray-", dir="/tmp")
    try:
        start = time.perf_counter()
        _local_token()
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, _temp_dir=ray_tmp)
        cluster_start = time.perf_counter() - start
        report = {
            "benchmark": "ray_scaling",
            "machine": {"python": sys.version.split()[0], "platform": platform.platform(), "cpus": os.cpu_count(),
                        "ray": ray.__version__, "note": "2 cores shared with other jobs; the driver and the "
                        "workers compete for them"},
            "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
            "cluster_start_s": round(cluster_start, 2),
            "scripted_instant": scripted_part(tmp, args.limit, args.repeat),
            "embedded": None if args.no_embedded else embedded_part(tmp, args.embedded_limit, args.max_tokens),
        }
        report["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    finally:
        ray.shutdown()
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.rmtree(ray_tmp, ignore_errors=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
