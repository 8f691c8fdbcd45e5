"""PRM scoring throughput: steps scored per second, batched vs one solution at a time.

    python benchmarks/prm_throughput.py --shape 1.5b --device cuda --dtype bfloat16   # on a GPU
    python benchmarks/prm_throughput.py --shape tiny --device cpu                      # 2-core CPU

A Qwen2.5-Math-PRM-shaped checkpoint (Qwen2 token-classification head, two labels, ChatML
template, ``<extra_0>`` after every step) is built from a config with random weights: throughput
does not depend on the weights' values and no hub download is needed. ``--solutions`` partial
solutions of ``--steps`` steps (each step about 40 tokens) are scored by
:class:`nlrl.rewards.prm.HFProcessReward` two ways, in the same run:

* ``one_at_a_time``: ``score_steps`` per solution (one forward pass each), as a strategy that
  scores candidates in a loop does;
* ``batched``: ``score_batch`` with ``batch_size = --batch`` (padded forward passes).

Before timing, the two ways' scores are compared (they must agree to 1e-3; bf16 rounding aside).
Writes benchmarks/results/prm_throughput_<device>.json (or ``--out``).
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from pathlib import Path

SHAPES = {
    # Qwen2.5-Math-1.5B's shape (Qwen2.5-Math-PRM ships 7B/72B; 1.5B is the synthetic size)
    "1.5b": dict(hidden_size=1536, intermediate_size=8960, num_hidden_layers=28, num_attention_heads=12,
                 num_key_value_heads=2, vocab_size=151936),
    "tiny": dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                 num_key_value_heads=2, vocab_size=1024),
}
TEMPLATE = ("{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] "
            "+ '<|im_end|>' + '\\n'}}{% endfor %}")


def build(shape: str, path: Path) -> None:
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast, Qwen2Config, Qwen2ForTokenClassification

    corpus = [f"Step {i}: we have {i} + {i * 3} = {i * 4}, so the running total is {i * 7}." for i in range(200)]
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.train_from_iterator(corpus, trainers.BpeTrainer(
        vocab_size=min(1000, SHAPES[shape]["vocab_size"] - 8),
        special_tokens=["<pad>", "<|im_start|>", "<|im_end|>", "<extra_0>"], show_progress=False,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>",
                                   additional_special_tokens=["<|im_start|>", "<|im_end|>", "<extra_0>"])
    fast.chat_template = TEMPLATE
    torch.manual_seed(0)
    cfg = Qwen2Config(num_labels=2, max_position_embeddings=4096, pad_token_id=0, **SHAPES[shape])
    Qwen2ForTokenClassification(cfg).save_pretrained(path)
    fast.save_pretrained(path)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shape", choices=sorted(SHAPES), default="tiny")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--dtype", default="float32")
    ap.add_argument("--solutions", type=int, default=32)
    ap.add_argument("--steps", type=int, default=4)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()

    import torch

    from nlrl.rewards.prm import HFProcessReward

    if args.threads:
        torch.set_num_threads(args.threads)
    question = "A farmer has 12 cows and buys 3 times as many sheep. How many animals does he have?"
    sols = [[f"Step {k + 1}: we have {k + j} + {3 * (k + j)} = {4 * (k + j)}, so the running total is "
             f"{7 * (k + j)} animals counted so far in this part of the farm." for k in range(args.steps)]
            for j in range(args.solutions)]
    with tempfile.TemporaryDirectory() as tmp:
        build(args.shape, Path(tmp))
        prm = HFProcessReward(tmp, family="qwen-prm", device=args.device, dtype=args.dtype, batch_size=args.batch)
        tokens = [len(prm._render(question, s)) for s in sols]
        one = [prm.score_steps(question, s) for s in sols[:2]]  # warm-up and correctness check
        both = prm.score_batch(question, sols[:2])
        diff = max(abs(a - b) for x, y in zip(one, both) for a, b in zip(x, y))
        sync = torch.cuda.synchronize if args.device.startswith("cuda") else (lambda: None)
        results = {}
        for method in ("one_at_a_time", "batched"):
            sync()
            start = time.perf_counter()
            if method == "batched":
                prm.score_batch(question, sols)
            else:
                for s in sols:
                    prm.score_steps(question, s)
            sync()
            secs = time.perf_counter() - start
            results[method] = {"seconds": round(secs, 4), "steps_per_s": round(args.solutions * args.steps / secs, 2)}
    results["speedup"] = round(results["batched"]["steps_per_s"] / results["one_at_a_time"]["steps_per_s"], 3)
    report = {
        "benchmark": "prm_throughput", "shape": args.shape, "device": args.device, "dtype": args.dtype,
        "solutions": args.solutions, "steps_per_solution": args.steps, "batch_size": args.batch,
        "tokens_per_solution": round(sum(tokens) / len(tokens), 1), "max_abs_diff_batched_vs_one": diff,
        "threads": torch.get_num_threads(), "machine": platform.machine(), "torch": torch.__version__,
        **results,
    }
    out = args.out or Path(__file__).parent / "results" / f"prm_throughput_{args.device.split(':')[0]}.json"
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))
    if diff > 1e-3:
        raise SystemExit(f"batched and one-at-a-time scores differ by {diff}")


if __name__ == "__main__":
    main()
