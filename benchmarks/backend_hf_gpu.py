"""Best-of-16 sampling throughput of the transformers backend vs a loop of 16 ``generate`` calls.

    python benchmarks/backend_hf_gpu.py --model Qwen/Qwen2.5-0.5B          # on a GPU machine
    python benchmarks/backend_hf_gpu.py --model /path/to/local/model --device cuda --dtype bf16
    python benchmarks/backend_hf_gpu.py --synthetic 0.5b                    # no download needed
    python benchmarks/backend_hf_gpu.py --synthetic tiny --device cpu --threads 1   # 2-core CPU

Same model, prompt and run, three ways to draw ``--n`` samples of ``--max-tokens`` tokens:

* ``loop``: the original design, ``--n`` sequential ``model.generate`` calls of one sample;
* ``hf_num_return_sequences``: one ``model.generate(num_return_sequences=n)`` (transformers'
  own batching, which copies the prompt n times before the prefill);
* ``nlrl_eager``: ``HFBackend.generate(n=n)`` with ``decode="eager"``: one prefill, the KV
  cache repeated, n rows decoded with a dynamic cache, step by step from Python;
* ``nlrl_graph``: the same with ``decode="graph"`` (a static cache and the decode step replayed
  as one CUDA graph; ``decode="static"``, the same step without a graph, on a CPU);
* ``nlrl_compiled``: ``decode="graph"`` with ``compile=True`` (the step compiled by inductor,
  then captured). Not in the default set: run it with ``--methods nlrl_graph,nlrl_compiled``;
* ``*_live``: the same as the pipeline runs it, each token streamed to a callback and a stop
  string set, so tokens come back to the host every step.

Each method's first call is timed apart (``first_call_s``: graph capture, compilation).

Before timing, a correctness check: greedy decoding of ``--max-tokens`` tokens in the eager mode
and in the fast mode, the tokens compared (random weights give near-flat logits, so in bf16 an
argmax can flip on rounding; run ``--dtype float32`` for an exact check).

Tokens/s counts the tokens really generated (EOS is suppressed in the HF calls with
``min_new_tokens``; our backend may stop a sample at EOS, and counts what it produced).
``--synthetic`` builds a model of that shape from a config with random weights and a word-level
tokenizer covering its vocabulary: throughput does not depend on the weights' values, and no hub
download is needed (GPU machines here have no internet). Writes
benchmarks/results/backend_hf_<device>.json (or ``--out``).
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

import torch  # noqa: E402
import transformers  # noqa: E402

from nlrl import SamplingParams  # noqa: E402
from nlrl.backends.hf import HFBackend  # noqa: E402

# Qwen2.5-0.5B's shape (the model the H100 figures were measured with) and a small one.
METHODS = ("loop", "hf_num_return_sequences", "nlrl_eager", "nlrl_graph", "nlrl_compiled",
           "nlrl_eager_live", "nlrl_graph_live", "nlrl_compiled_live")
PRESETS: dict[str, dict[str, Any]] = {
    "0.5b": dict(vocab_size=151936, hidden_size=896, intermediate_size=4864, num_hidden_layers=24,
                 num_attention_heads=14, num_key_value_heads=2, max_position_embeddings=4096,
                 tie_word_embeddings=True),
    "tiny": dict(vocab_size=8192, hidden_size=256, intermediate_size=1024, num_hidden_layers=4,
                 num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=2048,
                 tie_word_embeddings=True),
}


def build_synthetic(preset: str, path: Path) -> Any:
    """Save a random-weight model of that shape in ``path``; return its tokenizer.

    The tokenizer is handed to HFBackend as an object: transformers 5's AutoTokenizer would
    rebuild it as the model type's own tokenizer class (Qwen2's BPE), dropping the word level."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast, Qwen2Config, Qwen2ForCausalLM

    shape = PRESETS[preset]
    # Special tokens must not be prefixes of word tokens ("w1" would split "w123").
    vocab = {"<s>": 0, "</s>": 1, "<unk>": 2, **{f"w{i}": i for i in range(3, shape["vocab_size"])}}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>",
                                   unk_token="<unk>")
    if not (path / "config.json").exists():
        cfg = Qwen2Config(bos_token_id=0, eos_token_id=1, **shape)
        torch.manual_seed(0)
        Qwen2ForCausalLM(cfg).save_pretrained(path)
    return fast


def sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def timed(fn: Any, device: str) -> tuple[float, Any]:
    sync(device)
    t0 = time.perf_counter()
    out = fn()
    sync(device)
    return time.perf_counter() - t0, out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--model", help="hub id or local directory of a causal LM")
    src.add_argument("--synthetic", choices=sorted(PRESETS), help="random weights of that shape")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--dtype", default="auto")
    ap.add_argument("--n", type=int, default=16)
    ap.add_argument("--max-tokens", type=int, default=64)
    ap.add_argument("--prompt-tokens", type=int, default=128, help="prompt length (synthetic)")
    ap.add_argument("--repeats", type=int, default=2, help="timed runs per method (best kept)")
    ap.add_argument("--loop-repeats", type=int, default=1, help="timed runs of the slow loop")
    ap.add_argument("--methods", default="loop,hf_num_return_sequences,nlrl_eager,nlrl_graph",
                    help="comma-separated, from: " + ", ".join(METHODS))
    ap.add_argument("--threads", type=int, help="torch CPU threads (1 holds up best on a busy "
                    "2-core machine: OpenMP threads spin on each other)")
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    model_ref, tokenizer = args.model, None
    if args.synthetic:  # kept between runs: building 0.5B random weights takes a while
        model_ref = str(Path(tempfile.gettempdir()) / f"nlrl-synthetic-{args.synthetic}")
        tokenizer = build_synthetic(args.synthetic, Path(model_ref))
    t0 = time.perf_counter()
    backend = HFBackend(model_ref, device=args.device, dtype=args.dtype, tokenizer=tokenizer)
    load_s = time.perf_counter() - t0
    model, tok, device = backend.model, backend.tokenizer, backend.device
    if args.synthetic:
        prompt = " ".join(f"w{3 + (i * 7919) % 5000}" for i in range(args.prompt_tokens))
    else:
        prompt = ("Question: Natalia sold clips to 48 of her friends in April, and then she sold half "
                  "as many clips in May. How many clips did Natalia sell altogether in April and May?\n"
                  "Answer: Let's think step by step.")
    ids = torch.tensor([backend.tokenize(prompt)], device=device)
    mask = torch.ones_like(ids)
    n, T = args.n, args.max_tokens
    pad = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
    hf_kw = dict(attention_mask=mask, do_sample=True, temperature=1.0, top_p=1.0, top_k=0,
                 max_new_tokens=T, min_new_tokens=T, pad_token_id=pad)

    params = SamplingParams(n=n, temperature=1.0, max_tokens=T, seed=0)
    fast = "graph" if device.startswith("cuda") else "static"

    # "live": what the pipeline does, streaming every token to a callback with a stop string
    # set (one that never matches here), so tokens reach the host every step.
    live = params.replace(stop=("Question:",))

    def nlrl(decode: str, compile: bool = False, streaming: bool = False) -> Any:
        def run(p: SamplingParams | None = None) -> int:
            if (backend.decode, backend.compile) != (decode, compile):
                backend.decode, backend.compile = decode, compile
                backend._decoders.clear()
                backend._static_error = None
            if p is None and streaming:
                return backend.generate([prompt], live, on_token=lambda e: False)[0].usage.completion_tokens
            return backend.generate([prompt], p or params)[0].usage.completion_tokens
        return run

    def loop(count: int = n) -> int:
        total = 0
        for _ in range(count):
            out = model.generate(ids, **hf_kw)
            total += out.shape[1] - ids.shape[1]
        return total

    def hf_batch() -> int:
        out = model.generate(ids, num_return_sequences=n, **hf_kw)
        return (out.shape[1] - ids.shape[1]) * n

    methods = {"loop": loop, "hf_num_return_sequences": hf_batch, "nlrl_eager": nlrl("eager"),
               "nlrl_graph": nlrl(fast), "nlrl_compiled": nlrl(fast, compile=True),
               "nlrl_eager_live": nlrl("eager", streaming=True),
               "nlrl_graph_live": nlrl(fast, streaming=True),
               "nlrl_compiled_live": nlrl(fast, compile=True, streaming=True)}
    chosen = [m.strip() for m in args.methods.split(",") if m.strip()]
    unknown = sorted(set(chosen) - set(methods))
    if unknown:
        ap.error(f"unknown methods: {', '.join(unknown)}")
    results: dict[str, Any] = {}
    with torch.inference_mode():
        # Correctness first: greedy tokens of the eager loop and of the fast mode(s) asked for.
        greedy = SamplingParams(max_tokens=T, logprobs=True)
        checks: dict[str, Any] = {}
        ref = None
        for name in ["nlrl_eager"] + [m for m in chosen if m in ("nlrl_graph", "nlrl_compiled")]:
            methods[name](greedy)
            comp = backend.generate([prompt], greedy)[0].completions[0]
            if ref is None:
                ref = comp
                continue
            same = 0
            for a, b in zip(ref.token_ids, comp.token_ids):
                if a != b:
                    break
                same += 1
            lp_diff = max((abs(x - y) for x, y in zip(ref.logprobs[:same], comp.logprobs[:same])), default=0.0)
            checks[name] = {"identical_prefix_tokens": same, "of": len(ref.token_ids),
                            "max_logprob_abs_diff_on_prefix": round(lp_diff, 6),
                            "static_error": backend._static_error}
            print("check", name, checks[name], flush=True)
        for name in chosen:
            fn = methods[name]
            warm, _ = timed(lambda: fn(1) if name == "loop" else fn(), device)  # CUDA context,
            # kernels, graph capture, compilation: the first call's extra cost is reported
            best = None
            for _ in range(args.loop_repeats if name == "loop" else args.repeats):
                wall, tokens = timed(fn, device)
                tps = tokens / wall
                if best is None or tps > best["tokens_per_s"]:
                    best = {"tokens": tokens, "wall_s": round(wall, 3), "tokens_per_s": round(tps, 1)}
            best["first_call_s"] = round(warm, 2)
            if name.startswith("nlrl") and not name.startswith("nlrl_eager"):
                best["mode"] = {"decode": backend.decode, "compile": backend.compile,
                                "graph_captured": any(d.graph is not None for d in backend._decoders.values()),
                                "fallback_reason": backend._static_error}
            results[name] = best
            print(name, best, flush=True)

    def ratio(a: str, b: str) -> float | None:
        if a in results and b in results:
            return round(results[a]["tokens_per_s"] / results[b]["tokens_per_s"], 2)
        return None

    gpu = torch.cuda.get_device_name(0) if device.startswith("cuda") else None
    params_count = sum(p.numel() for p in model.parameters())
    record = {
        "model": args.model or f"synthetic-{args.synthetic} (random weights, Qwen2 shape)",
        "params_millions": round(params_count / 1e6, 1),
        "device": device, "gpu": gpu, "dtype": str(backend.dtype).replace("torch.", ""),
        "n": n, "max_tokens": T, "prompt_tokens": int(ids.shape[1]), "load_s": round(load_s, 2),
        "methods": chosen, "checks": checks, "results": results,
        "ratios": {f"{a}/{b}": ratio(a, b) for a, b in [
            ("nlrl_graph", "loop"), ("nlrl_graph", "hf_num_return_sequences"), ("nlrl_graph", "nlrl_eager"),
            ("nlrl_eager", "loop"), ("nlrl_eager", "hf_num_return_sequences"),
            ("nlrl_compiled", "nlrl_graph"), ("nlrl_compiled", "loop"),
            ("nlrl_compiled", "hf_num_return_sequences"), ("nlrl_graph_live", "nlrl_graph"),
            ("nlrl_compiled_live", "nlrl_compiled"), ("nlrl_eager_live", "nlrl_eager")]
            if ratio(a, b) is not None},
        "versions": {"torch": torch.__version__, "transformers": transformers.__version__,
                     "python": platform.python_version()},
        "threads": torch.get_num_threads(),
    }
    for name in ("nlrl_graph", "nlrl_compiled"):
        if name in results:  # a decode step serves n rows: steps/s against the weight-read ceiling
            record[f"{name}_steps_per_s"] = round(results[name]["tokens_per_s"] / n, 1)
    out = args.out or ROOT / "benchmarks" / "results" / f"backend_hf_{device.split(':')[0]}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    existing = json.loads(out.read_text()) if out.exists() else {}
    runs = existing.get("runs", []) if isinstance(existing, dict) else []
    same = ("model", "n", "max_tokens", "methods")  # a rerun of the same measurement replaces it
    runs = [r for r in runs if [r.get(k) for k in same] != [record[k] for k in same]]
    runs.append(record)
    out.write_text(json.dumps({"runs": runs}, indent=2) + "\n")
    print(json.dumps(record, indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
