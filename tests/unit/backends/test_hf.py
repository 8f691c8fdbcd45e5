"""The transformers backend on CPU with a tiny random Llama built offline (no hub access)."""

from __future__ import annotations

import json
import shutil

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from nlrl import BackendError, ConfigError, PromptError, SamplingParams  # noqa: E402
from nlrl._exceptions import ModelLoadError  # noqa: E402
from nlrl.backends import load_backend  # noqa: E402
from nlrl.backends.base import encode_prompts  # noqa: E402
from nlrl.backends.hf import HFBackend, pick_device, pick_dtype  # noqa: E402

P = SamplingParams
PROMPT = "Question: what is 2 + 2? Answer:"


def build_tiny_model(path) -> None:
    """A 2-layer Llama with a byte-level BPE tokenizer trained here on a few sentences."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    corpus = ["Question: what is 2 + 2? Answer: 4.", "The quick brown fox jumps over the lazy dog.",
              "Final Answer: 42\n", "Let's think step by step. 3 * 7 = 21."] * 10
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator(corpus, trainers.BpeTrainer(
        vocab_size=300, special_tokens=["<s>", "</s>"], show_progress=False,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>")
    cfg = LlamaConfig(vocab_size=len(fast), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                      num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256,
                      bos_token_id=0, eos_token_id=1)
    torch.manual_seed(0)
    LlamaForCausalLM(cfg).save_pretrained(path)
    fast.save_pretrained(path)


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory):
    path = tmp_path_factory.mktemp("tiny-llama")
    build_tiny_model(path)
    return path


@pytest.fixture(scope="module", params=["eager", "static"])
def hf(tiny_dir, request):
    """Both decode loops: the dynamic-cache one (CPU default) and the fixed-shape one that CUDA
    graphs replay on a GPU (here stepped without a graph: same cache, mask and positions)."""
    b = HFBackend(str(tiny_dir), device="cpu", decode=request.param)
    yield b
    b.close()


@pytest.fixture
def forward_shapes(hf):
    """The input_ids shape of every forward pass the model runs (a torch hook, not a mock)."""
    shapes: list[tuple[int, ...]] = []
    handle = hf.model.register_forward_pre_hook(
        lambda mod, args, kwargs: shapes.append(tuple(kwargs["input_ids"].shape)), with_kwargs=True)
    yield shapes
    handle.remove()


def test_greedy_matches_transformers_generate(hf):
    g = hf.complete(PROMPT, P(max_tokens=12))
    ids = torch.tensor([hf.tokenize(PROMPT)])
    ref = hf.model.generate(ids, attention_mask=torch.ones_like(ids), do_sample=False,
                            max_new_tokens=12, eos_token_id=1, pad_token_id=1)
    assert list(g.completions[0].token_ids) == ref[0, ids.shape[1]:].tolist()
    assert g.completions[0].text == hf.tokenizer.decode(g.completions[0].token_ids)
    assert g.usage.prompt_tokens == ids.shape[1] and g.usage.completion_tokens == 12
    assert g.completions[0].finish_reason == "length"


def test_n_samples_share_one_prefill(hf, forward_shapes):
    g = hf.complete(PROMPT, P(n=4, max_tokens=5, temperature=1.0, seed=7))
    prompt_len = len(hf.tokenize(PROMPT))
    assert forward_shapes[0] == (1, prompt_len)  # the prompt, encoded once
    # then the four samples decode as one batch (the fixed-shape decoder's first use also runs
    # one step to allocate its cache)
    assert forward_shapes[-4:] == [(4, 1)] * 4 and len(forward_shapes) <= 6
    assert len(set(g.texts)) > 1
    assert g.usage.prompt_tokens == prompt_len and g.usage.completion_tokens == 20


def test_seeds_reproduce_and_differ(hf):
    a = hf.complete(PROMPT, P(n=3, max_tokens=6, temperature=1.0, seed=1))
    b = hf.complete(PROMPT, P(n=3, max_tokens=6, temperature=1.0, seed=1))
    c = hf.complete(PROMPT, P(n=3, max_tokens=6, temperature=1.0, seed=2))
    assert a.texts == b.texts and a.texts != c.texts


def test_streaming_rebuilds_each_sample(hf):
    events = []
    g = hf.complete(PROMPT, P(n=3, max_tokens=8, temperature=1.0, seed=3), on_token=events.append)
    for c in g.completions:
        mine = [e for e in events if e.index == c.index]
        assert "".join(e.text for e in mine) == c.text
        # an event carries the token that completed its piece (held-back bytes emit nothing)
        it = iter(c.token_ids)
        assert all(any(t == e.token_id for t in it) for e in mine if e.token_id is not None)
    assert {e.prompt_index for e in events} == {0}
    # detokenized at the end (nothing to stream, no stop strings): the same text
    assert hf.complete(PROMPT, P(n=3, max_tokens=8, temperature=1.0, seed=3)).texts == g.texts


def test_on_token_true_ends_that_sample_only(hf, forward_shapes):
    counts = {0: 0, 1: 0, 2: 0}

    def stop_sample_1(e):
        counts[e.index] += 1
        return e.index == 1 and counts[1] == 2

    g = hf.complete(PROMPT, P(n=3, max_tokens=10, temperature=1.0, seed=4), on_token=stop_sample_1)
    fin = [c.finish_reason for c in g.completions]
    assert fin[1] == "answer" and fin[0] == fin[2] == "length"
    assert g.completions[1].num_tokens < 10 and g.completions[0].num_tokens == 10
    if hf.decode == "eager":
        assert (2, 1) in forward_shapes  # the finished sample left the batch
    else:  # a fixed shape: the row stays (in a bucket of 4), its tokens are dropped
        assert set(forward_shapes[1:]) == {(4, 1)}


def test_stop_strings(hf):
    free = hf.complete(PROMPT, P(max_tokens=12)).completions[0].text
    stop = next(free[i:i + 2] for i in range(3, len(free) - 1) if "\ufffd" not in free[i:i + 2])
    g = hf.complete(PROMPT, P(max_tokens=12, stop=[stop]))
    assert g.texts == [free[: free.index(stop)]] and g.completions[0].finish_reason == "stop"
    events = []
    hf.complete(PROMPT, P(max_tokens=12, stop=[stop]), on_token=events.append)
    assert "".join(e.text for e in events) == g.texts[0]


def test_logprobs_are_the_models(hf):
    g = hf.complete(PROMPT, P(n=2, max_tokens=6, temperature=1.0, seed=5, logprobs=True))
    prompt_ids = hf.tokenize(PROMPT)
    for c in g.completions:
        assert c.logprobs is not None and len(c.logprobs) == c.num_tokens == 6
        full = torch.tensor([prompt_ids + list(c.token_ids)])
        with torch.no_grad():
            logits = hf.model(input_ids=full).logits[0].float()
        ref = torch.log_softmax(logits[len(prompt_ids) - 1:-1], -1).gather(
            1, torch.tensor(c.token_ids)[:, None]).squeeze(1)
        assert torch.allclose(torch.tensor(c.logprobs), ref, atol=1e-4)
    assert hf.complete(PROMPT, P(max_tokens=2)).completions[0].logprobs is None


def test_eos_ends_a_sample(tiny_dir, tmp_path, hf):
    greedy = hf.complete(PROMPT, P(max_tokens=6)).completions[0].token_ids
    copy = tmp_path / "eos"
    shutil.copytree(tiny_dir, copy)
    cfg = json.loads((copy / "generation_config.json").read_text())
    cfg["eos_token_id"] = [1, greedy[3]]
    (copy / "generation_config.json").write_text(json.dumps(cfg))
    b = HFBackend(str(copy), device="cpu", decode=hf.decode)
    c = b.complete(PROMPT, P(max_tokens=6)).completions[0]
    assert c.token_ids == greedy[:3] and c.finish_reason == "stop"
    # no streaming and no stop strings: the fixed-shape loop reads tokens back every few steps;
    # what a sample decoded past its EOS is dropped, its text and counts are the same
    g = b.complete(PROMPT, P(n=3, max_tokens=6, logprobs=True))
    assert [c.token_ids for c in g.completions] == [greedy[:3]] * 3
    assert [len(c.logprobs) for c in g.completions] == [3] * 3 and g.usage.completion_tokens == 9


def test_sampling_knobs_run(hf):
    g = hf.complete(PROMPT, P(n=2, max_tokens=5, temperature=0.8, top_k=20, top_p=0.9,
                              repetition_penalty=1.3, seed=0))
    assert [c.num_tokens for c in g.completions] == [5, 5]


def test_several_prompts_in_order(hf):
    gens = hf.generate(["a b", PROMPT], P(max_tokens=3))
    assert [g.prompt for g in gens] == ["a b", PROMPT]
    assert gens[1].texts == hf.complete(PROMPT, P(max_tokens=3)).texts


def test_device_and_dtype_selection(tiny_dir):
    assert pick_device("auto") in ("cuda", "mps", "cpu")
    if not torch.cuda.is_available():
        assert pick_device("auto") in ("cpu", "mps")
        with pytest.raises(ConfigError, match="no CUDA GPU"):
            pick_device("cuda")
    if not (torch.backends.mps.is_available()):
        with pytest.raises(ConfigError, match="no Apple MPS"):
            pick_device("mps")
    with pytest.raises(ConfigError, match="invalid device"):
        pick_device("tpu-please")
    assert pick_dtype("bf16", "cpu") is torch.bfloat16 and pick_dtype("auto", "cpu") is torch.float32
    with pytest.raises(ConfigError, match="invalid dtype"):
        pick_dtype("int3", "cpu")
    b = load_backend("hf", str(tiny_dir), device="cpu", dtype="bfloat16",
                     tokenizer=HFBackend(str(tiny_dir), device="cpu").tokenizer)
    assert b.model.dtype is torch.bfloat16 and b.device == "cpu"
    assert b.complete(PROMPT, P(max_tokens=3)).completions[0].num_tokens == 3


def test_bad_model_and_prompt(hf, tiny_dir, tmp_path):
    with pytest.raises(ModelLoadError, match="not found"):
        HFBackend(str(tmp_path / "missing"), device="cpu")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelLoadError, match="cannot load hf model"):
        HFBackend(str(tmp_path / "empty"), device="cpu")
    with pytest.raises(ConfigError, match="needs --model"):
        HFBackend(None)
    with pytest.raises(PromptError, match="256-token context"):
        hf.complete("word " * 400, P(max_tokens=1))
    assert not hf.chat and hf.apply_chat_template([{"role": "user", "content": "x"}]) is None
    # a model directory without tokenizer files: for Qwen2, transformers 5 builds an empty
    # tokenizer instead of failing
    from transformers import Qwen2Config, Qwen2ForCausalLM

    Qwen2ForCausalLM(Qwen2Config(vocab_size=300, hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                                 num_attention_heads=4, num_key_value_heads=2)).save_pretrained(tmp_path / "no-tok")
    with pytest.raises(ModelLoadError, match="cannot load hf model .*encodes text to no tokens"):
        HFBackend(str(tmp_path / "no-tok"), device="cpu")
    with pytest.raises(PromptError, match="encodes to no tokens"):
        encode_prompts(hf, ["x"], lambda text: [])


def test_model_failures_are_backend_errors(hf):
    def fail(module, args, kwargs):
        raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB\nmore detail")

    handle = hf.model.register_forward_pre_hook(fail, with_kwargs=True)
    try:
        with pytest.raises(BackendError, match=r"failed: CUDA out of memory. Tried to allocate 2.00 GiB$"):
            hf.complete(PROMPT, P(max_tokens=3))
    finally:
        handle.remove()
    assert hf.complete(PROMPT, P(max_tokens=3)).completions[0].num_tokens == 3


def test_fixed_shape_decoding_matches_eager(tiny_dir):
    eager = HFBackend(str(tiny_dir), device="cpu", decode="eager")
    static = HFBackend(str(tiny_dir), device="cpu", decode="static")
    for params in (P(max_tokens=40, logprobs=True), P(n=3, max_tokens=20, repetition_penalty=1.3, logprobs=True)):
        a, b = (x.complete(PROMPT, params).completions for x in (eager, static))
        assert [c.token_ids for c in a] == [c.token_ids for c in b]
        for ca, cb in zip(a, b):
            assert torch.allclose(torch.tensor(ca.logprobs), torch.tensor(cb.logprobs), atol=1e-5)
    assert static._static_error is None


def test_fixed_shape_decoders_are_bucketed_reused_and_bounded(tiny_dir):
    b = HFBackend(str(tiny_dir), device="cpu", decode="static")
    b.complete(PROMPT, P(n=3, max_tokens=4, temperature=1.0, seed=0))
    first = b._decoders[(4, 256)]  # 3 rows round up to 4; positions to the 256-token context
    b.complete(PROMPT, P(n=4, max_tokens=9, temperature=1.0, seed=0))
    assert b._decoders[(4, 256)] is first  # the same shape reuses cache (and graph)
    b.complete(PROMPT, P(max_tokens=2))  # max_tokens 2: one fixed-shape step
    b.complete(PROMPT, P(n=16, max_tokens=2))
    assert list(b._decoders) == [(1, 256), (16, 256)]  # the least recently used went
    b.close()
    assert b._decoders == {}


def test_decode_mode_validation_and_fallback(tiny_dir, tmp_path, caplog):
    with pytest.raises(ConfigError, match="invalid decode mode"):
        HFBackend(str(tiny_dir), device="cpu", decode="fast")
    with pytest.raises(ConfigError, match="needs a CUDA device"):
        HFBackend(str(tiny_dir), device="cpu", decode="graph")
    assert HFBackend(str(tiny_dir), device="cpu")._mode() == "eager"  # auto on a CPU

    # Sliding-window attention has no fixed-shape decoder: a warning, then the eager loop.
    from transformers import Qwen2Config, Qwen2ForCausalLM

    tok = HFBackend(str(tiny_dir), device="cpu").tokenizer
    cfg = Qwen2Config(vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                      num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256,
                      use_sliding_window=True, sliding_window=8, max_window_layers=0,
                      bos_token_id=0, eos_token_id=1)
    torch.manual_seed(0)
    Qwen2ForCausalLM(cfg).save_pretrained(tmp_path / "sliding")
    eager = HFBackend(str(tmp_path / "sliding"), device="cpu", tokenizer=tok, decode="eager")
    static = HFBackend(str(tmp_path / "sliding"), device="cpu", tokenizer=tok, decode="static")
    with caplog.at_level("WARNING", logger="nlrl.backends.hf"):
        got = static.complete(PROMPT, P(n=2, max_tokens=12))
    assert "StaticSlidingWindowLayer is not a full-attention static layer" in static._static_error
    assert "using the eager loop" in caplog.text
    assert got.texts == eager.complete(PROMPT, P(n=2, max_tokens=12)).texts


def test_settings_reach_the_hf_backend(tiny_dir, monkeypatch, tmp_path):
    from nlrl.cli.options import open_backend

    monkeypatch.setenv("NLRL_DEVICE", "cpu")
    monkeypatch.setenv("NLRL_DTYPE", "bfloat16")
    monkeypatch.setenv("NLRL_DECODE", "static")
    _, b = open_backend("hf", str(tiny_dir), None, tmp_path)
    with b:
        assert (b.device, b.model.dtype, b.decode, b.compile) == ("cpu", torch.bfloat16, "static", False)
        assert b.complete(PROMPT, P(n=2, max_tokens=3)).usage.completion_tokens == 6
    monkeypatch.setenv("NLRL_DECODE", "graph")
    with pytest.raises(ConfigError, match="needs a CUDA device"):
        open_backend("hf", str(tiny_dir), None, tmp_path)


def test_model_name_is_the_reference_or_the_given_name(tiny_dir):
    # A converted copy reports the model it was converted from (the GPI learner resumes by name).
    assert HFBackend(str(tiny_dir), device="cpu").model_name == str(tiny_dir)
    assert HFBackend(str(tiny_dir), device="cpu", name="gemma.gguf").model_name == "gemma.gguf"
