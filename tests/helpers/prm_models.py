"""Tiny randomly initialised PRMs of each family, built offline with their tokenizer conventions:
Qwen2.5-Math-PRM's ChatML template and ``<extra_0>`` separator on a Qwen2 token-classification
head; Math-Shepherd's ``ки`` step tag and ``+``/``-`` tokens on a Llama causal LM; RLHFlow's
Llama-3 chat template; an outcome model with a one-label sequence-classification head."""

from __future__ import annotations

from pathlib import Path

QWEN_TEMPLATE = ("{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] "
                 "+ '<|im_end|>' + '\\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}")
LLAMA3_TEMPLATE = ("{{ bos_token }}{% for message in messages %}{{ '<|start_header_id|>' + message['role'] + "
                   "'<|end_header_id|>\\n\\n' + message['content'] + '<|eot_id|>' }}{% endfor %}"
                   "{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{% endif %}")

CORPUS = ["Question: what is 2 + 2? Step 1: 2 + 2 = 4. Step 2: so the answer is 4.",
          "Janet has 3 apples and buys 5 more - she has 8. + - + - ки",
          "Let's think step by step. 3 * 7 = 21 - 1 = 20. The answer is \\boxed{20}."] * 20


def _tokenizer(special: list[str], extra: list[str] = (), template: str | None = None):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator(CORPUS, trainers.BpeTrainer(
        vocab_size=400, special_tokens=["<s>", "</s>", "<pad>", *special], show_progress=False,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>", pad_token="<pad>",
                                   additional_special_tokens=list(special))
    if extra:
        fast.add_tokens(list(extra))
    if template:
        fast.chat_template = template
    return fast


def build(family: str, path: Path) -> Path:
    import torch
    from transformers import (LlamaConfig, LlamaForCausalLM, LlamaForSequenceClassification, Qwen2Config,
                              Qwen2ForTokenClassification)

    torch.manual_seed(0)
    small = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                 num_key_value_heads=2, max_position_embeddings=512, bos_token_id=0, eos_token_id=1,
                 pad_token_id=2, initializer_range=0.5)
    if family == "qwen-prm":
        tok = _tokenizer(["<|im_start|>", "<|im_end|>", "<extra_0>"], template=QWEN_TEMPLATE)
        model = Qwen2ForTokenClassification(Qwen2Config(vocab_size=len(tok), num_labels=2, **small))
    elif family == "math-shepherd":
        tok = _tokenizer([], extra=["ки"])
        model = LlamaForCausalLM(LlamaConfig(vocab_size=len(tok), **small))
    elif family == "rlhflow":
        tok = _tokenizer(["<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"], template=LLAMA3_TEMPLATE)
        model = LlamaForCausalLM(LlamaConfig(vocab_size=len(tok), **small))
    elif family == "outcome":
        tok = _tokenizer(["<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"], template=LLAMA3_TEMPLATE)
        model = LlamaForSequenceClassification(LlamaConfig(vocab_size=len(tok), num_labels=1, **small))
    else:
        raise ValueError(family)
    model.save_pretrained(path)
    tok.save_pretrained(path)
    return path
