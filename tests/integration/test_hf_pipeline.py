"""The pipeline end to end on the transformers backend (a tiny random Llama built offline: the
answers are noise, the plumbing — prompts, streaming gists, n samples, usage — is real)."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from nlrl.backends.hf import HFBackend  # noqa: E402
from nlrl.pipeline import Pipeline  # noqa: E402

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def hf(tmp_path_factory):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    path = tmp_path_factory.mktemp("tiny-llama-pipeline")
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator(["Question: What is 2 + 2?\nFinal Answer: 4\n"] * 20, trainers.BpeTrainer(
        vocab_size=280, special_tokens=["<s>", "</s>"], show_progress=False,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>")
    torch.manual_seed(0)
    LlamaForCausalLM(LlamaConfig(
        vocab_size=len(fast), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=4096,
        bos_token_id=0, eos_token_id=1)).save_pretrained(path)
    fast.save_pretrained(path)
    backend = HFBackend(str(path), device="cpu")
    yield backend
    backend.close()


def test_pipeline_cot_through_hf(hf):
    gists = []
    result = Pipeline(hf, max_tokens=12).solve("What is 2 + 2?", domain="math", on_gist=gists.append)
    assert result.usage.calls == 1 and 1 <= result.usage.completion_tokens <= 12
    assert result.usage.prompt_tokens == hf.count_tokens(result.prompt_text)


def test_pipeline_self_consistency_one_prefill(hf):
    result = Pipeline(hf, strategy="self-consistency", n=4, max_tokens=8, temperature=1.0, seed=0).solve(
        "What is 2 + 2?", domain="math")
    # four samples, one prompt encoding
    assert result.usage.prompt_tokens == hf.count_tokens(result.prompt_text)
    assert 4 <= result.usage.completion_tokens <= 32
