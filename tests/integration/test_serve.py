"""``nlrl serve`` as a real process on the embedded model, called by the official ``openai``
client and by plain httpx; and as a proxy in front of llama-cpp-python's real server.

One server is shared by the module (the model loads once); tests that stop a server start their
own. Every generation asks for a handful of tokens.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import httpx
import pytest
from helpers.servers import free_port, spawn, terminate, wait_ready

pytestmark = [pytest.mark.integration, pytest.mark.slow]

openai = pytest.importorskip("openai")
pytest.importorskip("fastapi")
pytest.importorskip("prometheus_client")

KEY = "sk-test-7f3a9c1e5b"
NAME = "gemma-3-270m"
Q = [{"role": "user", "content": "What is 2 + 3?"}]


@dataclass
class NlrlServer:
    url: str
    proc: subprocess.Popen
    run_dir: Path
    out: Path

    @property
    def v1(self) -> str:
        return self.url + "/v1"

    def log_lines(self) -> list[dict]:
        path = self.run_dir / "serve-requests.jsonl"
        return [json.loads(ln) for ln in path.read_text().splitlines()] if path.exists() else []

    def stop(self) -> int:
        return terminate(self.proc, 30)


def start_nlrl(run_dir: Path, *args: str, key: str | None = None, ready_s: float = 90.0) -> NlrlServer:
    port = free_port()
    run_dir.mkdir(parents=True, exist_ok=True)
    out = run_dir / "stdout.log"
    env = {k: v for k, v in os.environ.items() if k != "NLRL_API_KEY"}
    env.update(NLRL_THREADS="1", PYTHONUNBUFFERED="1")
    if key:
        env["NLRL_API_KEY"] = key
    cmd = [sys.executable, "-m", "nlrl", "serve", "--port", str(port), "--run-dir", str(run_dir),
           "--served-model-name", NAME, "--log-level", "info", *args]
    server = NlrlServer(f"http://127.0.0.1:{port}", spawn(cmd, out, env, inherit_env=False), run_dir, out)
    wait_ready(server.proc, server.url + "/health", out, "nlrl serve", ready_s)
    return server


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NlrlServer]:
    s = start_nlrl(tmp_path_factory.mktemp("nlrl-serve"), "--max-queue", "2", "--max-n", "4",
                   "--samples", "2", "--max-tokens", "8", key=KEY)
    yield s
    assert s.stop() == 0


@pytest.fixture
def client(server: NlrlServer):
    c = openai.OpenAI(base_url=server.v1, api_key=KEY, max_retries=0, timeout=120)
    yield c
    c.close()


def auth(key: str = KEY) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


# ---- the openai client ------------------------------------------------------------------------


def test_chat_on_the_base_model_gives_a_real_answer_with_honest_usage(client):
    r = client.chat.completions.create(model=NAME, messages=Q, max_tokens=8)
    assert r.object == "chat.completion" and len(r.choices) == 1
    assert r.choices[0].message.content.strip()  # a base model through a chat template says nothing
    assert r.usage.prompt_tokens > 50  # nlrl's few-shot prompt was evaluated
    assert 1 <= r.usage.completion_tokens <= 8
    extra = r.model_extra["nlrl"]
    assert extra["strategy"] == "cot" and extra["strategy_source"] == "default"


def test_streamed_chat_streams_tokens_and_reports_usage(client):
    stream = client.chat.completions.create(model=NAME, messages=Q, max_tokens=8, stream=True,
                                            stream_options={"include_usage": True})
    chunks = list(stream)
    pieces = [c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta.content]
    assert len(pieces) >= 2  # token by token, not one chunk at the end
    finals = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finals in (["stop"], ["length"])
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens >= len(pieces) - 1
    assert chunks[-1].usage.prompt_tokens >= 1  # evaluated: the engine reuses a cached prompt prefix


def test_n_two_and_strategy_from_extra_body(client):
    r = client.chat.completions.create(
        model=NAME, messages=Q, max_tokens=6, n=2, temperature=0.9, seed=3,
        extra_body={"nlrl": {"strategy": "self-consistency", "n": 2, "return_trace": True}})
    assert [c.index for c in r.choices] == [0, 1]
    meta = r.model_extra["nlrl"]
    assert meta["strategy"] == "self-consistency" and meta["strategy_source"] == "body"
    traces = [c["trace"] for c in meta["choices"]]
    assert all(sum(ev["kind"] == "sample" for ev in t) == 2 for t in traces)
    assert all(any(ev["kind"] == "vote" for ev in t) for t in traces)
    # usage is the total over all 2 x 2 samples, in the response and per choice
    assert r.usage.completion_tokens == sum(c["usage"]["completion_tokens"] for c in meta["choices"])
    assert r.usage.completion_tokens > 6
    assert meta["usage"]["by_kind"]["sample"]["calls"] >= 2  # by kind of call: here all samples


def test_multi_sample_stream_shows_the_search_then_the_answer(client):
    stream = client.chat.completions.create(model=f"self-consistency-2/{NAME}", messages=Q, max_tokens=6,
                                            temperature=0.8, stream=True)
    chunks = list(stream)
    reasoning = "".join(c.choices[0].delta.model_extra.get("reasoning_content") or ""
                        for c in chunks if c.choices)
    assert "[sample 0]" in reasoning and "[sample 1]" in reasoning and "vote:" in reasoning
    events = [c.model_extra["nlrl"]["event"]["kind"] for c in chunks
              if (c.model_extra or {}).get("nlrl", {}).get("event")]
    assert events.count("sample") == 2 and "vote" in events
    content = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert content.strip()


def test_completions_route_and_async_client(server):
    async def go() -> tuple:
        c = openai.AsyncOpenAI(base_url=server.v1, api_key=KEY, max_retries=0, timeout=120)
        try:
            plain = await c.completions.create(model=NAME, prompt="Q: What is 1 + 1?\nA:", max_tokens=3)
            streamed = await c.completions.create(model=f"cot/{NAME}", prompt="Q: What is 1 + 1?\nA:",
                                                  max_tokens=3, stream=True)
            texts = [ch.choices[0].text async for ch in streamed if ch.choices]
            return plain, texts
        finally:
            await c.close()

    plain, texts = asyncio.run(go())
    assert plain.object == "text_completion" and plain.choices[0].text
    assert plain.usage.completion_tokens <= 3
    assert "".join(texts) == plain.choices[0].text  # greedy: the same text, streamed


def test_logprobs_for_cot(client):
    r = client.chat.completions.create(model=NAME, messages=Q, max_tokens=4, logprobs=True)
    content = r.choices[0].logprobs.content
    assert content and all(t.logprob <= 0 for t in content)
    assert "".join(t.token for t in content) == r.choices[0].message.content


def test_models_lists_the_model_and_strategy_prefixes(client):
    ids = [m.id for m in client.models.list().data]
    assert ids[0] == NAME
    assert f"self-consistency/{NAME}" in ids and f"bon-{NAME}" in ids


def test_optillm_prefix_selects_the_matching_strategy(client):
    r = client.chat.completions.create(model=f"bon-{NAME}", messages=Q, max_tokens=4, temperature=0.7,
                                       extra_body={"nlrl": {"n": 2, "reward": "agreement"}})
    assert r.model_extra["nlrl"]["strategy"] == "best-of-n"
    assert r.model_extra["nlrl"]["strategy_source"] == "model"


# ---- errors, auth, limits ----------------------------------------------------------------------


def test_auth(server):
    body = {"model": NAME, "messages": Q, "max_tokens": 1}
    assert httpx.get(server.url + "/health").status_code == 200  # open
    for headers in ({}, auth("sk-wrong"), {"Authorization": KEY}):
        r = httpx.post(server.v1 + "/chat/completions", json=body, headers=headers)
        assert r.status_code == 401 and r.json()["error"]["code"] == "invalid_api_key"
    assert httpx.get(server.v1 + "/models").status_code == 401
    assert httpx.get(server.url + "/metrics").status_code == 401
    assert httpx.post(server.v1 + "/chat/completions", json=body, headers=auth()).status_code == 200
    logged = "".join(p.read_text(errors="replace") for p in server.run_dir.iterdir() if p.is_file())
    assert KEY not in logged and "sk-wrong" not in logged


def test_error_objects(server):
    url = server.v1 + "/chat/completions"

    def post(**kw):
        return httpx.post(url, headers={**auth(), **kw.pop("headers", {})}, timeout=60, **kw)

    cases = [
        (post(content=b'{"messages": [', headers={"content-type": "application/json"}), 400, None),
        (post(json={"messages": "hi"}), 400, "messages"),
        (post(json={"messages": Q, "max_tokens": "5"}), 400, "max_tokens"),
        (post(json={"messages": Q, "nlrl": {"strategy": "tree-of-magic"}}), 400, "strategy"),
        (post(json={"model": "gpt-9", "messages": Q}), 404, "model"),
        (post(json={"messages": Q, "n": 99}), 400, "n"),
        (post(json={"messages": Q, "max_tokens": 10**9}), 400, "max_tokens"),
        (post(json={"messages": [{"role": "user", "content": "x " * 5000}], "max_tokens": 1}), 400, "messages"),
    ]
    for r, status, param in cases:
        assert r.status_code == status, r.text
        err = r.json()["error"]
        assert set(err) == {"message", "type", "param", "code"} and err["message"]
        assert err["param"] == param or (param and param in (err["param"] or "")), err
    assert "known:" in cases[3][0].json()["error"]["message"]
    assert "cap" in cases[5][0].json()["error"]["message"]


def test_body_too_large_is_413(server):
    r = httpx.post(server.v1 + "/chat/completions", headers={**auth(), "content-type": "application/json"},
                   content=b'{"messages": "' + b"x" * (2 << 20) + b'"}', timeout=60)
    assert r.status_code == 413 and r.json()["error"]["code"] == "body_too_large"


def test_burst_beyond_the_queue_is_429_with_retry_after(server):
    body = {"model": NAME, "prompt": "1, 2, 3,", "max_tokens": 12}

    async def burst() -> list[httpx.Response]:
        async with httpx.AsyncClient(timeout=120, headers=auth()) as c:
            return await asyncio.gather(*[c.post(server.v1 + "/completions", json=body) for _ in range(7)])

    rs = asyncio.run(burst())
    codes = sorted(r.status_code for r in rs)
    assert codes.count(200) >= 1 and codes.count(429) >= 1 and set(codes) <= {200, 429}
    assert codes.count(200) <= 3  # one running, two queued (--max-queue 2)
    busy = next(r for r in rs if r.status_code == 429)
    assert int(busy.headers["retry-after"]) >= 1 and busy.json()["error"]["type"] == "rate_limit_error"


def test_disconnect_cancels_the_run_and_frees_the_slot(server):
    body = {"model": NAME, "prompt": "1, 2, 3, 4, 5, 6,", "max_tokens": 400, "stream": True}
    seen = 0
    with httpx.stream("POST", server.v1 + "/completions", json=body, headers=auth(), timeout=60) as r:
        assert r.status_code == 200
        rid = r.headers["x-request-id"]
        for line in r.iter_lines():
            if line.startswith("data: {") and json.loads(line[6:])["choices"]:
                seen += 1
            if seen >= 3:
                break  # hang up mid-stream
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        h = httpx.get(server.url + "/health").json()
        if h["runs_in_progress"] == 0:
            break
        time.sleep(0.05)
    assert h["runs_in_progress"] == 0 and h["queued"] == 0
    entry = next(e for e in server.log_lines() if e["request_id"] == rid)
    assert entry["status"] == 499 and entry["tokens_streamed"] < 60  # stopped long before 400
    r = httpx.post(server.v1 + "/completions", json={**body, "stream": False, "max_tokens": 2},
                   headers=auth(), timeout=60)
    assert r.status_code == 200


def test_metrics_count_requests_and_tokens(server):
    httpx.post(server.v1 + "/completions", json={"prompt": "A B C", "max_tokens": 2}, headers=auth(), timeout=60)
    text = httpx.get(server.url + "/metrics", headers=auth()).text
    assert 'nlrl_requests_total{route="/v1/completions",status="200",strategy="cot"}' in text
    assert "nlrl_completion_tokens_total" in text and "nlrl_queue_depth" in text
    assert "nlrl_request_latency_seconds_bucket" in text


def test_fuzz_hostile_requests_never_500(server):
    url = server.v1 + "/chat/completions"
    big = 10**30
    bodies: list[bytes] = [
        b"", b"{", b"}", b"[]", b"null", b"42", b'"x"', b"{'a': 1}", b'{"messages": [}', b"\xff\xfe\xfa",
        b'{"messages": [{"role": "user", "content": "\xff\xfe"}]}', b"[" * 5000 + b"]" * 5000,
        b'{"messages": ' + b"[" * 3000 + b"]" * 3000 + b"}", b'{"messages": NaN}',
        b'{"messages": [{"role": "user", "content": "hi"}], "temperature": NaN}',
        b'{"messages": [{"role": "user", "content": "hi"}], "temperature": Infinity}',
        b'{"messages": [{"role": "user", "content": "hi"}], "max_tokens": 1e999}',
    ]
    objs: list[object] = [
        {}, {"messages": []}, {"messages": None}, {"messages": [{}]}, {"messages": [{"role": "user"}]},
        {"messages": [{"role": "user", "content": ""}], "max_tokens": 1},
        {"messages": [{"role": "user", "content": "   "}], "max_tokens": 1},
        {"messages": [{"role": "wizard", "content": "hi"}]}, {"messages": [{"role": "tool", "content": "x"}]},
        {"messages": [{"role": "assistant", "content": "hi"}]}, {"messages": [{"role": "system", "content": "hi"}]},
        {"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "prefill"}]},
        {"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": "x"}]}]},
        {"messages": [{"role": "user", "content": 123}]}, {"messages": [{"role": "user", "content": {"a": 1}}]},
        {"messages": [{"role": ["user"], "content": "x"}]}, {"messages": "user: hi"}, {"messages": 5},
    ]
    fields = {"n": [0, -1, big, "2", 1.5, None, True], "max_tokens": [0, -5, big, "8", 2.5, []],
              "max_completion_tokens": [0, big, {}], "temperature": [-1, 3, big, "hot", []],
              "top_p": [0, -0.5, 2, "x"], "seed": [-1, big, 1.5, "s"], "stop": [5, [1, 2], ["x"] * 40, {"a": 1}],
              "stream": ["yes", 2, None], "stream_options": ["x", {"include_usage": "y"}],
              "model": [5, ["a"], "x" * 10000, "nope/" + NAME, "self-consistency-999999999/" + NAME,
                        "mcts-" + NAME, "self-consistency-0/" + NAME],
              "nlrl": ["x", [], {"strategy": 5}, {"strategy": "nope"}, {"n": 0}, {"n": big}, {"n": -3},
                      {"max_total_tokens": big}, {"max_total_tokens": 0}, {"reward": "nope"},
                      {"unknown": 1}, {"domain": "astrology"}, {"return_trace": "yes"}],
              "logprobs": ["x", 5], "top_logprobs": [-1, 99]}
    for name, values in fields.items():
        for v in values:
            objs.append({"messages": Q, "max_tokens": 1, name: v})
    objs += [{"messages": Q, "max_tokens": 1, "nlrl": {"strategy": "self-consistency", "n": 1}, "logprobs": True},
             {"messages": Q * 200, "max_tokens": 1}, {"messages": Q, "max_tokens": 1, "junk": {"a": [1, {"b": None}]}}]
    bodies += [json.dumps(o).encode() for o in objs]
    bodies.append(b'{"messages": "' + b"x" * (10 << 20) + b'"}')  # 10 MB
    assert len(bodies) >= 100
    statuses = []
    with httpx.Client(timeout=120, headers={**auth(), "content-type": "application/json"}) as c:
        for raw in bodies:
            r = c.post(url, content=raw)
            statuses.append(r.status_code)
            assert r.status_code < 500, (raw[:200], r.status_code, r.text[:300])
            if r.status_code != 200:
                assert set(r.json()["error"]) == {"message", "type", "param", "code"}
        for path, method in (("/v1/nothing", "GET"), ("/v1/chat/completions", "GET"), ("/health", "POST")):
            assert c.request(method, server.url + path).status_code in (404, 405)
    assert server.proc.poll() is None
    assert statuses.count(413) == 1 and sum(s == 400 for s in statuses) > 80
    r = httpx.post(url, json={"messages": Q, "max_tokens": 2}, headers=auth(), timeout=60)
    assert r.status_code == 200 and r.json()["choices"][0]["message"]["content"]


# ---- lifecycle --------------------------------------------------------------------------------


def test_sigterm_drains_in_flight_requests(tmp_path):
    s = start_nlrl(tmp_path / "drain", "--grace", "60")
    result: dict = {}

    def call() -> None:
        result["r"] = httpx.post(s.v1 + "/completions", json={"prompt": "1, 2, 3,", "max_tokens": 16},
                                 timeout=120)

    t = threading.Thread(target=call)
    t.start()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and httpx.get(s.url + "/health").json()["runs_in_progress"] == 0:
        time.sleep(0.02)
    s.proc.send_signal(signal.SIGTERM)
    t.join(timeout=120)
    assert result["r"].status_code == 200 and result["r"].json()["usage"]["completion_tokens"] >= 1
    assert s.proc.wait(timeout=60) == 0
    with pytest.raises(httpx.HTTPError):
        httpx.get(s.url + "/health", timeout=2)


# ---- as a proxy -------------------------------------------------------------------------------


def test_proxy_in_front_of_llama_cpp_python(llama_server, tmp_path):
    s = start_nlrl(tmp_path / "proxy", "--backend", "openai", "--base-url", llama_server.url,
                   "--model", NAME, "--max-concurrency", "4")
    try:
        c = openai.OpenAI(base_url=s.v1, api_key="none", max_retries=0, timeout=120)
        r = c.chat.completions.create(model=NAME, messages=Q, max_tokens=8)
        assert r.choices[0].message.content.strip() and r.usage.prompt_tokens > 50
        r2 = c.chat.completions.create(model=f"self-consistency-2/{NAME}", messages=Q, max_tokens=6,
                                       temperature=0.8, n=2)
        assert len(r2.choices) == 2 and all(ch.message.content for ch in r2.choices)
        assert r2.model_extra["nlrl"]["usage"]["calls"] >= 4  # 2 answers x 2 samples, all counted
        chunks = list(c.chat.completions.create(model=NAME, messages=Q, max_tokens=6, stream=True))
        assert sum(bool(ch.choices and ch.choices[0].delta.content) for ch in chunks) >= 2
        # a raw cot completion (made on the server's event loop) is the upstream's own answer
        direct = openai.OpenAI(base_url=llama_server.url, api_key="none", max_retries=0, timeout=120)
        for p in ("Q: What is 3 + 4?\nA:", "Q: Name a colour.\nA:"):
            ours = c.completions.create(model=NAME, prompt=p, max_tokens=8, temperature=0.0)
            theirs = direct.completions.create(model=NAME, prompt=p, max_tokens=8, temperature=0.0)
            assert ours.choices[0].text == theirs.choices[0].text
            assert ours.choices[0].finish_reason == theirs.choices[0].finish_reason
            assert (ours.usage.prompt_tokens, ours.usage.completion_tokens) == (
                theirs.usage.prompt_tokens, theirs.usage.completion_tokens)
        direct.close()
        c.close()
    finally:
        assert s.stop() == 0
