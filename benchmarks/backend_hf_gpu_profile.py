"""Where a fixed-shape decode step's time goes on a GPU: kernels per step and their GPU time.

    python benchmarks/backend_hf_gpu_profile.py --synthetic 0.5b --device cuda

For the transformers backend's decode step (``_hf_static.StaticDecoder``), plain and compiled
with inductor, at ``--n`` rows: the number of GPU kernels one step launches and the sum of their
GPU times (``torch.profiler``, the step run eagerly), then the time of one step replayed as a CUDA
graph (CUDA events, median of ``--steps``). The gap between the two is what launching costs when
the step is not a graph; the kernel count is what a graph replays. Writes
benchmarks/results/backend_hf_cuda_profile.json (or ``--out``).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "benchmarks"))

import torch  # noqa: E402
from torch.profiler import ProfilerActivity, profile  # noqa: E402

from backend_hf_gpu import PRESETS, build_synthetic  # noqa: E402
from nlrl import SamplingParams  # noqa: E402
from nlrl.backends.hf import HFBackend  # noqa: E402


def measure(backend: HFBackend, prompt: str, n: int, steps: int, compile: bool) -> dict[str, Any]:
    backend.decode, backend.compile = "static", compile
    backend._decoders.clear()
    backend.generate([prompt], SamplingParams(n=n, max_tokens=8, temperature=1.0, seed=0))
    (dec,) = backend._decoders.values()
    cuda = backend.device.startswith("cuda")
    tokens = torch.zeros(dec.batch, dtype=torch.long, device=backend.device)

    def rewind() -> None:  # back to the end of the prompt, so the steps never run off the cache
        for layer in dec.layers:
            layer.cumulative_length.fill_(128)
        dec.position_ids.fill_(128)

    for _ in range(3):  # warm (and, if compiling, compiled) before profiling
        dec.step(tokens)
    acts = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if cuda else [])
    rewind()
    with profile(activities=acts) as prof:
        for _ in range(steps):
            dec.step(tokens)
        if cuda:
            torch.cuda.synchronize()
    try:
        kernels = [e for e in prof.events() if cuda and e.device_type == torch.autograd.DeviceType.CUDA]
        gpu_us = sum(e.time_range.elapsed_us() for e in kernels) if kernels else None
    except (AttributeError, TypeError) as exc:  # profiler event fields move between torch versions
        print("kernel events unreadable:", exc, flush=True)
        kernels, gpu_us = [], None
    eager_ms = []
    rewind()
    for _ in range(steps):
        t0 = time.perf_counter()
        dec.step(tokens)
        if cuda:
            torch.cuda.synchronize()
        eager_ms.append((time.perf_counter() - t0) * 1e3)
    out: dict[str, Any] = {
        "rows": dec.batch, "cache_positions": dec.max_len, "compile": compile,
        "kernels_per_step": round(len(kernels) / steps, 1) if kernels else None,
        "kernel_gpu_ms_per_step": round(gpu_us / steps / 1e3, 3) if gpu_us is not None else None,
        "eager_launch_ms_per_step_median": round(statistics.median(eager_ms), 3),
    }
    if cuda:
        rewind()
        dec._capture()
        rewind()
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        times = []
        for _ in range(steps):
            dec.input_ids.copy_(tokens.view(-1, 1))
            start.record()
            dec.graph.replay()
            end.record()
            end.synchronize()
            times.append(start.elapsed_time(end))
        out["graph_replay_ms_per_step_median"] = round(statistics.median(times), 3)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--synthetic", choices=sorted(PRESETS), default="0.5b")
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--dtype", default="auto")
    ap.add_argument("--n", type=int, default=16)
    ap.add_argument("--steps", type=int, default=20, help="at most 100 (the cache holds 256 positions)")
    ap.add_argument("--no-compile", action="store_true")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "backend_hf_cuda_profile.json")
    args = ap.parse_args()
    import tempfile

    path = Path(tempfile.gettempdir()) / f"nlrl-synthetic-{args.synthetic}"
    tok = build_synthetic(args.synthetic, path)
    backend = HFBackend(str(path), device=args.device, dtype=args.dtype, tokenizer=tok)
    prompt = " ".join(f"w{3 + (i * 7919) % 5000}" for i in range(128))
    params = sum(p.numel() for p in backend.model.parameters())
    record: dict[str, Any] = {
        "model": f"synthetic-{args.synthetic} (random weights, Qwen2 shape)", "device": backend.device,
        "gpu": torch.cuda.get_device_name(0) if backend.device.startswith("cuda") else None,
        "dtype": str(backend.dtype).replace("torch.", ""), "n": args.n,
        "weight_bytes": params * backend.model.dtype.itemsize,
        "versions": {"torch": torch.__version__, "transformers": __import__("transformers").__version__},
    }
    with torch.inference_mode():
        record["plain"] = measure(backend, prompt, args.n, args.steps, compile=False)
        print("plain", record["plain"], flush=True)
        if not args.no_compile:
            record["compiled"] = measure(backend, prompt, args.n, args.steps, compile=True)
            print("compiled", record["compiled"], flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(record, indent=2) + "\n")
    print(json.dumps(record, indent=2))


if __name__ == "__main__":
    main()
