"""Best-of-16 sampling throughput of the transformers backend vs a loop of 16 ``generate`` calls.

    python benchmarks/backend_hf_gpu.py --model Qwen/Qwen2.5-0.5B          # on a GPU machine
    python benchmarks/backend_hf_gpu.py --model /path/to/local/model --device cuda --dtype bf16
    python benchmarks/backend_hf_gpu.py --synthetic 0.5b                    # no download needed
    python benchmarks/backend_hf_gpu.py --synthetic tiny --device cpu --threads 1   # 2-core CPU

Same model, prompt and run, three ways to draw ``--n`` samples of ``--max-tokens`` tokens:

* ``loop``: the original design, ``--n`` sequential ``model.generate`` calls of one sample;
* ``hf_num_return_sequences``: one ``model.generate(num_return_sequences=n)`` (transformers'
  own batching, which copies the prompt n times before the prefill);
* ``nlrl``: ``HFBackend.generate(n=n)``: one prefill, the KV cache repeated, n rows decoded.

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
    ap.add_argument("--threads", type=int, help="torch CPU threads (1 holds up best on a busy "
                    "2-core machine: OpenMP threads spin on each other)")
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    model_ref, tokenizer = args.model, None
    if args.synthetic:
        model_ref = tempfile.mkdtemp(prefix=f"nlrl-synthetic-{args.synthetic}-")
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

    def loop() -> int:
        total = 0
        for _ in range(n):
            out = model.generate(ids, **hf_kw)
            total += out.shape[1] - ids.shape[1]
        return total

    def hf_batch() -> int:
        out = model.generate(ids, num_return_sequences=n, **hf_kw)
        return (out.shape[1] - ids.shape[1]) * n

    params = SamplingParams(n=n, temperature=1.0, max_tokens=T, seed=0)

    def ours() -> int:
        return backend.generate([prompt], params)[0].usage.completion_tokens

    methods = {"loop": loop, "hf_num_return_sequences": hf_batch, "nlrl": ours}
    results: dict[str, Any] = {}
    with torch.inference_mode():
        for name, fn in methods.items():
            fn()  # warm-up (CUDA context, kernels, allocator)
            best = None
            for _ in range(args.repeats):
                wall, tokens = timed(fn, device)
                tps = tokens / wall
                if best is None or tps > best["tokens_per_s"]:
                    best = {"tokens": tokens, "wall_s": round(wall, 3), "tokens_per_s": round(tps, 1)}
            results[name] = best
            print(name, best, flush=True)

    gpu = torch.cuda.get_device_name(0) if device.startswith("cuda") else None
    record = {
        "model": args.model or f"synthetic-{args.synthetic} (random weights, Qwen2 shape)",
        "params_millions": round(sum(p.numel() for p in model.parameters()) / 1e6, 1),
        "device": device, "gpu": gpu, "dtype": str(backend.dtype).replace("torch.", ""),
        "n": n, "max_tokens": T, "prompt_tokens": int(ids.shape[1]), "load_s": round(load_s, 2),
        "results": results,
        "speedup_vs_loop": round(results["nlrl"]["tokens_per_s"] / results["loop"]["tokens_per_s"], 2),
        "speedup_vs_hf_batch": round(results["nlrl"]["tokens_per_s"]
                                     / results["hf_num_return_sequences"]["tokens_per_s"], 2),
        "versions": {"torch": torch.__version__, "transformers": transformers.__version__,
                     "python": platform.python_version()},
        "threads": torch.get_num_threads(),
    }
    out = args.out or ROOT / "benchmarks" / "results" / f"backend_hf_{device.split(':')[0]}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    existing = json.loads(out.read_text()) if out.exists() else {}
    runs = existing.get("runs", []) if isinstance(existing, dict) else []
    runs = [r for r in runs if r.get("model") != record["model"]] + [record]
    out.write_text(json.dumps({"runs": runs}, indent=2) + "\n")
    print(json.dumps(record, indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
