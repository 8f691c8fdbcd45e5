"""Core benchmarks on the embedded model, written to benchmarks/results/core.json.

(a) Decode overhead: tokens/s of ``Pipeline.solve`` (classification skipped, gists streamed to a
    callback, no adaptive stop so both sides generate the same tokens) against raw
    ``llama_cpp.Llama.create_completion`` on the same prompt and settings, in the same run.
    Runs alternate A/B so machine load hits both alike; the figure is the ratio of medians.
    Goal: raw tokens/s ÷ pipeline tokens/s <= 1.03.
(b) Prompt tokens evaluated for 8 samples of one prompt ÷ the prompt's length (goal <= 1.1;
    naive 8.0), for the batched path and the sequential path, plus their throughput.

Usage: python benchmarks/core.py [--reps 5] [--max-tokens 128]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from pathlib import Path

from llama_cpp import Llama

from nlrl import Pipeline, SamplingParams
from nlrl.backends.llama import LlamaCppBackend, default_model_path
from nlrl.tasks.prompts import build_prompt

QUESTION = ("A baker makes 24 muffins in the morning and 18 in the afternoon. She sells 30 of "
            "them. How many muffins are left? Explain each step.")
RESULTS = Path(__file__).parent / "results" / "core.json"


def decode_overhead(reps: int, max_tokens: int, threads: int) -> dict:
    prompt = build_prompt(QUESTION, "math").text
    stop = ["Question:"]
    raw = Llama(model_path=default_model_path(), n_ctx=2048, n_threads=threads,
                n_threads_batch=threads, verbose=False)
    backend = LlamaCppBackend(n_ctx=2048, n_threads=threads)
    pipe = Pipeline(backend, max_tokens=max_tokens, adaptive=False)
    raw_tps, pipe_tps, texts = [], [], set()
    for _ in range(reps + 1):  # the first round warms both up and is not counted
        t = time.perf_counter()
        out = raw.create_completion(prompt, max_tokens=max_tokens, temperature=0.0, top_p=1.0,
                                    top_k=0, min_p=0.0, repeat_penalty=1.0, stop=stop)
        dt_raw = time.perf_counter() - t
        n_raw = out["usage"]["completion_tokens"]
        gists = []
        t = time.perf_counter()
        res = pipe.solve(QUESTION, domain="math", on_gist=gists.append)
        dt_pipe = time.perf_counter() - t
        n_pipe = res.usage.completion_tokens
        texts.add((out["choices"][0]["text"] == res.output, n_raw, n_pipe))
        raw_tps.append(n_raw / dt_raw)
        pipe_tps.append(n_pipe / dt_pipe)
    raw_tps, pipe_tps = raw_tps[1:], pipe_tps[1:]
    raw.close()
    backend.close()
    ratio = statistics.median(raw_tps) / statistics.median(pipe_tps)
    return {
        "prompt_tokens": backend_len(prompt),
        "completion_tokens": sorted(texts)[0][1],
        "same_output": all(same for same, _, _ in texts),
        "raw_tokens_per_s": [round(x, 2) for x in raw_tps],
        "pipeline_tokens_per_s": [round(x, 2) for x in pipe_tps],
        "raw_median_tokens_per_s": round(statistics.median(raw_tps), 2),
        "pipeline_median_tokens_per_s": round(statistics.median(pipe_tps), 2),
        "overhead_ratio": round(ratio, 4),
        "goal": "<= 1.03",
        "met": ratio <= 1.03,
    }


def backend_len(prompt: str) -> int:
    return len(Llama(model_path=default_model_path(), vocab_only=True, verbose=False)
               .tokenize(prompt.encode(), add_bos=True, special=True))


def prompt_reuse(max_tokens: int, threads: int) -> dict:
    prompt = build_prompt(QUESTION, "math").text
    params = SamplingParams(n=8, temperature=0.8, seed=7, max_tokens=max_tokens, stop=("Question:",))
    out = {}
    for mode, batched in (("batched", True), ("sequential", False)):
        backend = LlamaCppBackend(n_ctx=2048, n_threads=threads, batched=batched)
        length = backend.count_tokens(prompt)
        t = time.perf_counter()
        g = backend.complete(prompt, params)
        dt = time.perf_counter() - t
        backend.close()
        out[mode] = {
            "prompt_length": length,
            "prompt_tokens_evaluated": g.usage.prompt_tokens,
            "ratio": round(g.usage.prompt_tokens / length, 4),
            "completion_tokens": g.usage.completion_tokens,
            "seconds": round(dt, 2),
            "tokens_per_s": round(g.usage.completion_tokens / dt, 2),
        }
    out["goal"] = "<= 1.1 (naive: 8.0)"
    out["met"] = all(out[m]["ratio"] <= 1.1 for m in ("batched", "sequential"))
    out["batched_speedup"] = round(out["batched"]["tokens_per_s"] / out["sequential"]["tokens_per_s"], 2)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--max-tokens", type=int, default=128)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    results = {
        "machine": {"cpu_count": __import__("os").cpu_count(), "python": platform.python_version()},
        "model": Path(default_model_path()).name,
        "decode_overhead": decode_overhead(args.reps, args.max_tokens, args.threads),
        "prompt_reuse_8_samples": prompt_reuse(args.max_tokens, args.threads),
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
