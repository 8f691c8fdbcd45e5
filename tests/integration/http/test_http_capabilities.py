"""What each server of the matrix can do, asked over raw HTTP and checked against what the openai
backend learns. The findings fill docs/backends.md's compatibility table (written to
``$NLRL_CONFORMANCE_OUT`` with the matrix's cells)."""

from __future__ import annotations

import json

import httpx
import pytest
from helpers.http_servers import KEY_ENV

from nlrl import SamplingParams
from nlrl.backends.openai import OpenAIBackend

pytestmark = pytest.mark.integration

PROMPT = "Question: What is 1 + 1?\nAnswer: 1 + 1 = 2.\n\nQuestion: What is 2 + 3?\nAnswer:"


def post(t, endpoint: str, **body) -> httpx.Response:
    path = "/completions" if endpoint == "completions" else "/chat/completions"
    body["model"] = t.models[endpoint]
    if endpoint == "chat":
        body["messages"] = [{"role": "user", "content": body.pop("prompt")}]
    headers = {"Authorization": f"Bearer {t.api_key}"} if t.api_key else {}
    return httpx.post(t.url + path, json=body, headers=headers, timeout=120)


def text_of(choice: dict, endpoint: str) -> str:
    return choice["text"] if endpoint == "completions" else choice["message"]["content"] or ""


@pytest.mark.parametrize("target", ["conformance", "llama-cpp-python", "litellm"], indirect=True)
def test_capabilities(target, findings):
    found = findings.server(target)
    for endpoint in ("completions", "chat"):
        r = post(target, endpoint, prompt=PROMPT, max_tokens=4, temperature=0)
        found[f"{endpoint}_endpoint"] = r.status_code == 200
        assert r.status_code == 200, r.text[:300]
    # native n: the number of choices a request for two returns
    r = post(target, "completions", prompt=PROMPT, max_tokens=4, temperature=1.0, n=2, seed=1)
    found["native_n"] = len(r.json()["choices"]) == 2
    # seed: the same seed twice at temperature 1 gives the same text
    a, b = (text_of(post(target, "completions", prompt=PROMPT, max_tokens=8, temperature=1.0,
                         seed=123).json()["choices"][0], "completions") for _ in range(2))
    found["seed_reproducible"] = a == b
    # logprobs on the completions endpoint
    ch = post(target, "completions", prompt=PROMPT, max_tokens=4, temperature=0,
              logprobs=1).json()["choices"][0]
    lps = (ch.get("logprobs") or {}).get("token_logprobs") or []
    found["logprobs"] = bool(lps) and all(isinstance(x, (int, float)) for x in lps)
    # stop strings applied by the server itself
    ch = post(target, "completions", prompt=PROMPT, max_tokens=8, temperature=0,
              stop=["+"]).json()["choices"][0]
    found["server_applies_stop"] = "+" not in text_of(ch, "completions")
    # streaming: a usage chunk when asked for one, and how choices of n=2 are streamed
    headers = {"Authorization": f"Bearer {target.api_key}"} if target.api_key else {}
    indices, usage = [], False
    with httpx.stream("POST", target.url + "/completions", headers=headers, timeout=120, json={
            "model": target.models["completions"], "prompt": PROMPT, "max_tokens": 4, "n": 2,
            "seed": 5, "temperature": 1.0, "stream": True,
            "stream_options": {"include_usage": True}}) as resp:
        for line in resp.iter_lines():
            if line.startswith("data:") and line[5:].strip() != "[DONE]":
                chunk = json.loads(line[5:])
                usage = usage or bool(chunk.get("usage"))
                indices += [c.get("index") for c in chunk.get("choices") or ()]
    found["stream_usage"] = usage
    found["stream_choices_interleaved"] = len(set(indices)) > 1 and indices != sorted(indices)

    # What the backend learns agrees with what the server does.
    b = OpenAIBackend(target.models["completions"], base_url=target.url, api_key_env=KEY_ENV)
    try:
        g = b.complete(PROMPT, SamplingParams(n=2, max_tokens=4, temperature=1.0, seed=9))
        assert len(g.completions) == 2
        server = b._pool.servers[0]
        assert server.native_n is found["native_n"]
        found["tokenize_route"] = b.count_tokens("one two three") is not None
        found["tokenize_route_path"] = server.tokenize_route or None
    finally:
        b.close()
    if target.name == "conformance":  # the server built to have every feature
        assert all(found[k] for k in ("native_n", "seed_reproducible", "logprobs",
                                      "server_applies_stop", "stream_usage",
                                      "stream_choices_interleaved", "tokenize_route"))
