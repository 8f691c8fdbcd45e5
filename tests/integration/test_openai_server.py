"""The openai backend, and the pipeline through it, against llama-cpp-python's real server."""

from __future__ import annotations

import pytest

from nlrl import SamplingParams
from nlrl.backends import load_backend
from nlrl.backends.openai import OpenAIBackend

pytestmark = pytest.mark.integration

from helpers.servers import MODEL_ALIAS
FEW_SHOT = "Q: What is 1 + 1?\nA: 2\nQ: What is 2 + 3?\nA:"
P = SamplingParams


@pytest.fixture(scope="module")
def backend(llama_server):
    b = OpenAIBackend(MODEL_ALIAS, base_url=llama_server.url, timeout_s=60)
    yield b
    b.close()


def test_greedy_completion_matches_the_embedded_engine(llama_server, embedded):
    params = P(max_tokens=6, stop=["\n"])
    # Same GGUF, same greedy decoding; the server's own default repeat penalty is switched off.
    plain = OpenAIBackend(MODEL_ALIAS, base_url=llama_server.url, extra_body={"repeat_penalty": 1.0})
    try:
        served = plain.complete(FEW_SHOT, params)
    finally:
        plain.close()
    assert served.texts == embedded.complete(FEW_SHOT, params).texts
    c = served.completions[0]
    assert c.text.strip() and c.finish_reason in ("stop", "length")
    assert served.usage.prompt_tokens == embedded.count_tokens(FEW_SHOT)
    assert 1 <= served.usage.completion_tokens <= 6


def test_n_samples_are_filled_when_the_server_returns_one(backend):
    g = backend.complete(FEW_SHOT, P(n=3, max_tokens=4, temperature=1.0, seed=11))
    assert [c.index for c in g.completions] == [0, 1, 2]
    assert g.usage.calls == 3  # llama-cpp-python answered n=3 with one choice; two more asked
    again = backend.complete(FEW_SHOT, P(n=3, max_tokens=4, temperature=1.0, seed=11))
    assert again.texts == g.texts  # seed + i per sample: reproducible


def test_streaming_with_early_stop_and_logprobs(backend):
    events = []

    def stop_after_two(e):
        events.append(e)
        return len(events) == 2

    g = backend.complete(FEW_SHOT, P(max_tokens=16, logprobs=True), on_token=stop_after_two)
    c = g.completions[0]
    assert c.finish_reason == "answer" and c.text == "".join(e.text for e in events)
    assert c.logprobs is not None and len(c.logprobs) == 2 and all(lp <= 0 for lp in c.logprobs)
    assert g.usage.completion_tokens == 2 and g.usage.prompt_tokens > 0  # via /extras/tokenize/count
    full = backend.complete(FEW_SHOT, P(max_tokens=4, logprobs=True))
    assert len(full.completions[0].logprobs) == full.usage.completion_tokens


def test_pipeline_solves_through_the_server(llama_server):
    from nlrl.pipeline import Pipeline

    with Pipeline("openai", model=MODEL_ALIAS, base_url=llama_server.url, max_tokens=24) as pipe:
        gists = []
        result = pipe.solve("What is 2 + 3?", domain="math", on_gist=gists.append)
    assert result.output.strip()
    assert result.usage.completion_tokens > 0 and result.usage.calls >= 1


def test_load_spreads_over_two_servers(llama_server, second_llama_server):
    urls = [llama_server.url, second_llama_server.url]
    before = [s.completions_served() for s in (llama_server, second_llama_server)]
    with load_backend("openai", MODEL_ALIAS, base_url=",".join(urls), max_concurrency=4) as b:
        gens = b.generate([f"Q: What is {i} + 1?\nA:" for i in range(8)], P(max_tokens=2))
    assert all(g.completions[0].text for g in gens)
    served = [s.completions_served() - b0 for s, b0 in zip((llama_server, second_llama_server), before)]
    assert sum(served) == 8 and min(served) >= 3
