"""The openai backend against a small OpenAI-compatible HTTP server on 127.0.0.1.

The fake server below speaks real HTTP/1.1 over a real socket (keep-alive, chunked SSE), so connection refusals,
timeouts and cut streams are the genuine article. Its "model" is deterministic: choice ``j`` of
a request with seed ``s`` writes tokens ``" s{s}c{j}t{k}"``. Faults are queued per server and
consumed by the next generation request: ``("status", code, headers, body)``, ``("raw", code,
bytes, content_type)``, ``("cut", chunks)`` (send that many stream events, or a partial JSON
body, then drop the connection), ``("hang", seconds)``, ``("preempt", chunks)`` (send that many
stream events, then ``[DONE]`` without a finish_reason, as llama-cpp-python's server does when
another request arrives) and ``("events", payloads, done)`` (stream exactly these ``data:``
payloads, then ``[DONE]`` if ``done``).
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from nlrl import BackendError, ConfigError, SamplingParams
from nlrl._exceptions import BackendConnectionError, BackendResponseError
from nlrl.backends import load_backend
from nlrl.backends.openai import OpenAIBackend


class FakeOpenAI:
    def __init__(
        self,
        *,
        n_support: str = "native",  # "native" | "one" (llama-cpp-python) | "reject" (llama.cpp)
        models: tuple[str, ...] = ("fake-model",),
        api_key: str | None = None,
        delay_s: float = 0.0,
        token_delay_s: float = 0.0,
        honour_stop: bool = True,
        words: list[str] | None = None,
        tokenize: bool = False,
        stream_usage: bool = True,
    ) -> None:
        self.tokenize = tokenize
        self.stream_usage = stream_usage
        self.n_support = n_support
        self.models = models
        self.api_key = api_key
        self.delay_s = delay_s
        self.token_delay_s = token_delay_s
        self.honour_stop = honour_stop
        self.words = words
        self.faults: list[tuple[Any, ...]] = []
        self.requests: list[dict[str, Any]] = []
        self.disconnects = 0
        self.in_flight = 0
        self.max_in_flight = 0
        self._lock = threading.Lock()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/v1"
        self._thread = threading.Thread(target=self.httpd.serve_forever, args=(0.02,), daemon=True)
        self._thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def gen_requests(self) -> list[dict[str, Any]]:
        return [r for r in self.requests if r["path"].endswith("completions")]

    def tokens(self, body: dict[str, Any], j: int) -> list[str]:
        seed = body.get("seed", 0)
        if self.words is not None:
            toks = list(self.words)
        else:
            toks = [f" s{seed}c{j}t{k}" for k in range(1000)]
        return toks[: body.get("max_tokens", 16)]


def _handler(srv: FakeOpenAI) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # else delayed ACKs add ~40 ms to every request

        def log_message(self, *args: Any) -> None:
            pass

        def _send_json(self, code: int, data: Any, headers: dict[str, str] | None = None) -> None:
            raw = json.dumps(data).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(raw)

        def do_GET(self) -> None:
            srv.requests.append({"path": self.path, "body": None, "auth": self.headers.get("Authorization")})
            if not self._authorized():
                return
            if self.path == "/v1/models":
                self._send_json(200, {"object": "list", "data": [
                    {"id": m, "object": "model", "max_model_len": 2048} for m in srv.models]})
            else:
                self._send_json(404, {"detail": "Not Found"})

        def _authorized(self) -> bool:
            if srv.api_key and self.headers.get("Authorization") != f"Bearer {srv.api_key}":
                self._send_json(401, {"error": {"message": "Incorrect API key provided",
                                                "type": "invalid_request_error"}})
                return False
            return True

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", 0))
            body = json.loads(self.rfile.read(length) or b"{}")
            srv.requests.append({"path": self.path, "body": body, "auth": self.headers.get("Authorization")})
            with srv._lock:
                srv.in_flight += 1
                srv.max_in_flight = max(srv.max_in_flight, srv.in_flight)
                fault = srv.faults.pop(0) if srv.faults else None
            try:
                self._serve(body, fault)
            except (BrokenPipeError, ConnectionResetError):
                srv.disconnects += 1
            finally:
                with srv._lock:
                    srv.in_flight -= 1

        def _serve(self, body: dict[str, Any], fault: tuple[Any, ...] | None) -> None:
            if not self._authorized():
                return
            if self.path == "/tokenize" and srv.tokenize:
                self._send_json(200, {"tokens": list(range(len(body["prompt"].split())))})
                return
            if self.path not in ("/v1/completions", "/v1/chat/completions"):
                self._send_json(404, {"detail": "Not Found"})
                return
            if body.get("model") not in srv.models:
                self._send_json(404, {"error": {"message": f"The model `{body.get('model')}` does not exist.",
                                                "type": "NotFoundError", "code": 404}})
                return
            if fault and fault[0] == "hang":
                time.sleep(fault[1])
                fault = None
            if fault and fault[0] == "status":
                _, code, headers, data = fault
                self._send_json(code, data, headers)
                return
            if fault and fault[0] == "events":
                _, payloads, done = fault
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                for p in payloads + (["[DONE]"] if done else []):
                    self._chunk(p if isinstance(p, str) else json.dumps(p))
                self.wfile.write(b"0\r\n\r\n")
                self.wfile.flush()
                return
            if fault and fault[0] == "raw":
                _, code, raw, ctype = fault
                self.send_response(code)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)
                return
            n = int(body.get("n") or 1)
            if n > 1 and srv.n_support == "reject":
                self._send_json(400, {"error": {"code": 400, "type": "invalid_request_error",
                                                "message": "Only one completion choice is allowed"}})
                return
            if srv.n_support == "one":
                n = 1
            time.sleep(srv.delay_s)
            chat = self.path.endswith("chat/completions")
            prompt = body["messages"][-1]["content"] if chat else body["prompt"]
            choices = []
            for j in range(n):
                toks, finish = srv.tokens(body, j), "length"
                stops = body.get("stop") or []
                if srv.honour_stop and stops:
                    text = "".join(toks)
                    cut = min((i for i in (text.find(s) for s in stops) if i >= 0), default=-1)
                    if cut >= 0:
                        kept, acc = [], ""
                        for t in toks:
                            if len(acc) + len(t) > cut:
                                if cut > len(acc):
                                    kept.append(t[: cut - len(acc)])
                                break
                            kept.append(t)
                            acc += t
                        toks, finish = kept, "stop"
                choices.append((toks, finish))
            usage = {"prompt_tokens": len(prompt.split()),
                     "completion_tokens": sum(len(t) for t, _ in choices)}
            usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
            if body.get("stream"):
                self._stream(body, chat, choices, usage, fault)
            else:
                self._full(body, chat, choices, usage, fault)

        def _full(self, body, chat, choices, usage, fault) -> None:
            out = []
            for j, (toks, finish) in enumerate(choices):
                lps = [-(k + 1) / 10 for k in range(len(toks))]
                c: dict[str, Any] = {"index": j, "finish_reason": finish}
                if chat:
                    c["message"] = {"role": "assistant", "content": "".join(toks)}
                    if body.get("logprobs"):
                        c["logprobs"] = {"content": [{"token": t, "logprob": lp} for t, lp in zip(toks, lps)]}
                else:
                    c["text"] = "".join(toks)
                    if body.get("logprobs") is not None:
                        c["logprobs"] = {"tokens": toks, "token_logprobs": lps}
                out.append(c)
            data = {"id": "cmpl-1", "object": "text_completion", "model": body["model"],
                    "choices": out, "usage": usage}
            if fault and fault[0] == "cut":
                raw = json.dumps(data).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw[: len(raw) // 2])
                self.wfile.flush()
                self.close_connection = True
                return
            self._send_json(200, data)

        def _chunk(self, payload: str) -> None:
            raw = f"data: {payload}\n\n".encode()
            self.wfile.write(f"{len(raw):x}\r\n".encode() + raw + b"\r\n")
            self.wfile.flush()

        def _stream(self, body, chat, choices, usage, fault) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            sent = 0
            longest = max(len(t) for t, _ in choices)
            for k in range(longest + 1):
                for j, (toks, finish) in enumerate(choices):
                    if k > len(toks):
                        continue
                    if fault and fault[0] == "cut" and sent >= fault[1]:
                        self.close_connection = True
                        return  # no terminating chunk: the client sees an incomplete body
                    if fault and fault[0] == "preempt" and sent >= fault[1]:
                        self._chunk("[DONE]")
                        self.wfile.write(b"0\r\n\r\n")
                        self.wfile.flush()
                        return
                    last = k == len(toks)
                    piece = "" if last else toks[k]
                    c: dict[str, Any] = {"index": j, "finish_reason": finish if last else None}
                    if chat:
                        c["delta"] = {"content": piece} if piece else {}
                        if piece and body.get("logprobs"):
                            c["logprobs"] = {"content": [{"token": piece, "logprob": -(k + 1) / 10}]}
                    else:
                        c["text"] = piece
                        if piece and body.get("logprobs") is not None:
                            c["logprobs"] = {"tokens": [piece], "token_logprobs": [-(k + 1) / 10]}
                    self._chunk(json.dumps({"id": "s", "object": "chunk", "choices": [c]}))
                    sent += 1
                    if srv.token_delay_s:
                        time.sleep(srv.token_delay_s)
            if srv.stream_usage and (body.get("stream_options") or {}).get("include_usage"):
                self._chunk(json.dumps({"id": "s", "choices": [], "usage": usage}))
            self._chunk("[DONE]")
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()

    return Handler


# ---- fixtures ------------------------------------------------------------------------------


@pytest.fixture
def make_server():
    servers: list[FakeOpenAI] = []

    def make(**kw: Any) -> FakeOpenAI:
        servers.append(FakeOpenAI(**kw))
        return servers[-1]

    yield make
    for s in servers:
        s.close()


@pytest.fixture
def make_backend():
    backends: list[OpenAIBackend] = []

    def make(base_url: Any, model: str | None = "fake-model", **kw: Any) -> OpenAIBackend:
        kw.setdefault("backoff_s", 0.01)
        kw.setdefault("max_backoff_s", 0.05)
        kw.setdefault("timeout_s", 5)
        backends.append(OpenAIBackend(model, base_url=base_url, **kw))
        return backends[-1]

    yield make
    for b in backends:
        b.close()


def closed_port_url() -> str:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"


P = SamplingParams


# ---- the protocol -------------------------------------------------------------------------


def test_completion_maps_params_and_usage(make_server, make_backend):
    srv = make_server()
    b = make_backend(srv.url)
    g = b.complete("a b c", P(max_tokens=3, temperature=0.5, top_p=0.9, seed=7, stop=["zz"]))
    assert g.texts == [" s7c0t0 s7c0t1 s7c0t2"]
    assert g.completions[0].finish_reason == "length"
    assert g.usage.prompt_tokens == 3 and g.usage.completion_tokens == 3 and g.usage.calls == 1
    body = srv.gen_requests()[0]["body"]
    assert body == {"model": "fake-model", "prompt": "a b c", "max_tokens": 3, "temperature": 0.5,
                    "top_p": 0.9, "stop": ["zz"], "seed": 7}
    assert srv.gen_requests()[0]["auth"] == "Bearer EMPTY"


def test_registry_factory_and_bare_host_url(make_server):
    srv = make_server()
    with load_backend("openai", "fake-model", base_url=f"http://127.0.0.1:{srv.port}") as b:
        assert b.base_urls == [srv.url]
        assert b.complete("x", P(max_tokens=1)).texts == [" s0c0t0"]


def test_prompts_keep_order_and_run_concurrently(make_server, make_backend):
    srv = make_server(delay_s=0.05)
    b = make_backend(srv.url, max_concurrency=3)
    prompts = [f"p{i} " * (i + 1) for i in range(9)]
    gens = b.generate(prompts, P(max_tokens=1))
    assert [g.prompt for g in gens] == prompts
    assert [g.usage.prompt_tokens for g in gens] == list(range(1, 10))
    assert srv.max_in_flight == 3  # concurrent, not one after another (and never more)


def test_chat_endpoint_and_logprobs(make_server, make_backend):
    srv = make_server()
    b = make_backend(srv.url, endpoint="chat")
    g = b.complete("hello there", P(max_tokens=2, logprobs=True))
    assert g.texts == [" s0c0t0 s0c0t1"]
    assert g.completions[0].logprobs == (-0.1, -0.2)
    body = srv.gen_requests()[0]["body"]
    assert body["messages"] == [{"role": "user", "content": "hello there"}] and body["logprobs"] is True
    assert b.chat and b.apply_chat_template([{"role": "user", "content": "x"}]) is None
    assert make_backend(srv.url, chat=True).complete("hi", P(max_tokens=1)).texts == [" s0c0t0"]
    assert srv.gen_requests()[-1]["path"] == "/v1/chat/completions"


def test_completions_logprobs(make_server, make_backend):
    srv = make_server()
    g = make_backend(srv.url).complete("q", P(max_tokens=3, logprobs=True))
    assert g.completions[0].logprobs == (-0.1, -0.2, -0.3)
    assert srv.gen_requests()[0]["body"]["logprobs"] == 1
    assert make_backend(srv.url).complete("q", P(max_tokens=3)).completions[0].logprobs is None


def test_model_resolved_from_server_when_not_given(make_server, make_backend):
    srv = make_server(models=("served-a", "served-b"))
    b = make_backend(srv.url, model=None)
    assert b.model_name == "served-a"
    assert b.context_length == 2048
    b.complete("x", P(max_tokens=1))
    assert srv.gen_requests()[0]["body"]["model"] == "served-a"


def test_api_key_read_from_named_env_var(make_server, make_backend, monkeypatch):
    srv = make_server(api_key="sk-right")
    monkeypatch.setenv("MY_KEY", "sk-right")
    assert make_backend(srv.url, api_key_env="MY_KEY").complete("x", P(max_tokens=1)).texts
    assert srv.gen_requests()[-1]["auth"] == "Bearer sk-right"


# ---- n samples ----------------------------------------------------------------------------


def test_native_n_is_one_request(make_server, make_backend):
    srv = make_server(n_support="native")
    g = make_backend(srv.url).complete("a b", P(n=3, max_tokens=2, temperature=1.0, seed=5))
    assert g.texts == [" s5c0t0 s5c0t1", " s5c1t0 s5c1t1", " s5c2t0 s5c2t1"]
    assert len(srv.gen_requests()) == 1 and srv.gen_requests()[0]["body"]["n"] == 3
    assert g.usage.prompt_tokens == 2 and g.usage.completion_tokens == 6 and g.usage.calls == 1


def test_server_returning_one_choice_is_filled_with_seeded_requests(make_server, make_backend):
    srv = make_server(n_support="one")  # llama-cpp-python: asked for 3, returns 1
    b = make_backend(srv.url)
    g = b.complete("a b", P(n=3, max_tokens=1, temperature=1.0, seed=10))
    assert g.texts == [" s10c0t0", " s11c0t0", " s12c0t0"]
    assert [c.index for c in g.completions] == [0, 1, 2]
    assert g.usage.calls == 3 and g.usage.prompt_tokens == 6  # each request evaluated the prompt
    # learned: the next call sends one request per sample straight away, none with n
    srv.requests.clear()
    g = b.complete("a b", P(n=2, max_tokens=1, temperature=1.0, seed=0))
    assert g.texts == [" s0c0t0", " s1c0t0"]
    assert sorted(r["body"]["seed"] for r in srv.gen_requests()) == [0, 1]
    assert all("n" not in r["body"] for r in srv.gen_requests())


def test_server_rejecting_n_falls_back_to_one_request_per_sample(make_server, make_backend):
    srv = make_server(n_support="reject")  # llama.cpp's server: 400 on n > 1
    g = make_backend(srv.url).complete("q", P(n=2, max_tokens=1, temperature=1.0, seed=3))
    assert g.texts == [" s3c0t0", " s4c0t0"]
    assert [r["body"].get("n") for r in srv.gen_requests()] == [2, None, None]


def test_emulate_mode_without_seed_sends_no_seed(make_server, make_backend):
    srv = make_server()
    g = make_backend(srv.url, n_mode="emulate").complete("q", P(n=2, max_tokens=1))
    assert len(g.completions) == 2 and len(srv.gen_requests()) == 2
    assert all("seed" not in r["body"] for r in srv.gen_requests())


# ---- streaming ----------------------------------------------------------------------------


def test_streaming_events_rebuild_the_text(make_server, make_backend):
    srv = make_server()
    events = []
    g = make_backend(srv.url).complete("q", P(n=2, max_tokens=3, logprobs=True, seed=1),
                                       on_token=events.append)
    for i in range(2):
        mine = [e for e in events if e.index == i]
        assert "".join(e.text for e in mine) == g.completions[i].text
        assert [e.logprob for e in mine] == [-0.1, -0.2, -0.3]
        assert all(e.prompt_index == 0 for e in mine)
    assert g.completions[0].finish_reason == "length"
    assert g.usage.completion_tokens == 6 and g.usage.prompt_tokens == 1  # from the usage chunk
    body = srv.gen_requests()[0]["body"]
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}


def test_on_token_true_closes_the_stream(make_server, make_backend):
    srv = make_server(token_delay_s=0.02)
    seen = []

    def stop_at_third(e):
        seen.append(e.text)
        return len(seen) == 3

    g = make_backend(srv.url).complete("q", P(max_tokens=200), on_token=stop_at_third)
    c = g.completions[0]
    assert c.finish_reason == "answer" and c.text == "".join(seen) == " s0c0t0 s0c0t1 s0c0t2"
    assert g.usage.completion_tokens == 3
    deadline = time.time() + 3
    while srv.disconnects == 0 and time.time() < deadline:
        time.sleep(0.02)
    assert srv.disconnects == 1  # the server noticed: it stopped generating


def test_stream_without_usage_counts_chunks_and_asks_tokenize(make_server, make_backend):
    srv = make_server(tokenize=True, stream_usage=False)  # llama-cpp-python sends no usage
    b = make_backend(srv.url)
    assert b.count_tokens("one two three") == 3
    g = b.complete("a b c d", P(max_tokens=4), on_token=lambda e: None)
    assert g.usage.prompt_tokens == 4 and g.usage.completion_tokens == 4
    g = b.complete("a b c d", P(max_tokens=2), on_token=lambda e: None)
    assert g.usage.prompt_tokens == 4  # remembered: no second tokenize request
    assert sum(r["path"] == "/tokenize" for r in srv.requests) == 2
    no_route = make_server(stream_usage=False)
    g = make_backend(no_route.url).complete("a b", P(max_tokens=2), on_token=lambda e: None)
    assert g.usage.prompt_tokens == 0 and g.usage.completion_tokens == 2


def test_stop_strings_applied_even_when_server_ignores_them(make_server, make_backend):
    srv = make_server(honour_stop=False, words=["4", "\n", "Q", ":", " next"])
    b = make_backend(srv.url)
    g = b.complete("q", P(max_tokens=5, stop=["\nQ:"]))
    assert g.texts == ["4"] and g.completions[0].finish_reason == "stop"
    events = []
    g = b.complete("q", P(max_tokens=5, stop=["\nQ:"]), on_token=events.append)
    assert g.texts == ["4"] and "".join(e.text for e in events) == "4"
    assert g.completions[0].finish_reason == "stop"


# ---- several servers ----------------------------------------------------------------------


def test_load_spread_by_least_outstanding(make_server, make_backend):
    a, b = make_server(delay_s=0.03), make_server(delay_s=0.03)
    be = make_backend([a.url, b.url], max_concurrency=8)
    be.generate([f"p{i}" for i in range(24)], P(max_tokens=1))
    na, nb = len(a.gen_requests()), len(b.gen_requests())
    assert na + nb == 24 and abs(na - nb) <= 2
    assert a.max_in_flight <= 5 and b.max_in_flight <= 5


def test_slow_server_gets_fewer_requests(make_server, make_backend):
    slow, fast = make_server(delay_s=0.15), make_server(delay_s=0.01)
    be = make_backend(f"{slow.url},{fast.url}", max_concurrency=4)
    be.generate([f"p{i}" for i in range(32)], P(max_tokens=1))
    assert len(fast.gen_requests()) >= 2 * len(slow.gen_requests())


def test_down_server_is_skipped(make_server, make_backend):
    up = make_server()
    down = closed_port_url()
    be = make_backend([down, up.url], max_concurrency=4)
    gens = be.generate([f"p{i}" for i in range(8)], P(max_tokens=1))
    assert all(g.texts for g in gens)
    stats = {s["url"]: s for s in be.server_stats()}
    assert stats[down]["failures"] >= 1 and stats[up.url]["requests"] >= 8


# ---- retries ------------------------------------------------------------------------------


def test_429_is_retried_after_retry_after(make_server, make_backend):
    srv = make_server()
    srv.faults = [("status", 429, {"Retry-After": "0.3"}, {"error": {"message": "slow down"}})]
    t0 = time.perf_counter()
    g = make_backend(srv.url).complete("q", P(max_tokens=1))
    assert g.texts == [" s0c0t0"] and len(srv.gen_requests()) == 2
    assert time.perf_counter() - t0 >= 0.3


def test_5xx_and_cut_body_are_retried(make_server, make_backend):
    srv = make_server()
    srv.faults = [("status", 503, {}, {"error": "loading model"}),
                  ("raw", 502, b"<html>bad gateway</html>", "text/html"),
                  ("cut", 0)]
    g = make_backend(srv.url).complete("q", P(max_tokens=1))
    assert g.texts == [" s0c0t0"] and len(srv.gen_requests()) == 4


def test_timeout_is_retried(make_server, make_backend):
    srv = make_server()
    srv.faults = [("hang", 1.0)]
    g = make_backend(srv.url, timeout_s=0.3).complete("q", P(max_tokens=1))
    assert g.texts == [" s0c0t0"] and len(srv.gen_requests()) == 2


def test_persistent_5xx_gives_up_after_max_retries(make_server, make_backend):
    srv = make_server()
    srv.faults = [("status", 500, {}, {"error": {"message": "boom"}})] * 10
    with pytest.raises(BackendResponseError) as info:
        make_backend(srv.url, max_retries=2).complete("q", P(max_tokens=1))
    e = info.value
    assert e.status == 500 and e.retryable and e.provider == "openai" and e.attempts == 3
    assert srv.url in str(e) and "boom" in str(e) and "gave up after 3 attempts" in str(e)
    assert len(srv.gen_requests()) == 3


def test_unreachable_url(make_backend):
    url = closed_port_url()
    with pytest.raises(BackendConnectionError) as info:
        make_backend(url, max_retries=2).complete("q", P(max_tokens=1))
    assert url in str(info.value) and "cannot connect (Connection refused)" in str(info.value)
    assert info.value.attempts == 3 and info.value.retryable


# ---- errors that retrying cannot fix --------------------------------------------------------


def test_wrong_api_key_is_not_retried(make_server, make_backend, monkeypatch):
    srv = make_server(api_key="sk-right")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-wrong")
    with pytest.raises(BackendResponseError) as info:
        make_backend(srv.url).complete("q", P(max_tokens=1))
    e = info.value
    assert e.status == 401 and not e.retryable and e.attempts == 1
    assert srv.url in str(e) and "authentication failed" in str(e) and "$OPENAI_API_KEY" in str(e)
    assert len(srv.gen_requests()) == 0  # the model list was refused first


def test_unknown_model_is_not_retried(make_server, make_backend):
    srv = make_server()
    with pytest.raises(BackendResponseError, match="model 'nope' not found") as info:
        make_backend(srv.url, model="nope").complete("q", P(max_tokens=1))
    assert info.value.status == 404 and len(srv.gen_requests()) == 1


def test_wrong_path_names_the_base_url(make_server, make_backend):
    srv = make_server()
    with pytest.raises(BackendResponseError, match="check the base URL") as info:
        make_backend(srv.url.replace("/v1", "/api")).complete("q", P(max_tokens=1))
    assert info.value.status == 404


def test_bad_request_is_not_retried(make_server, make_backend):
    srv = make_server()
    srv.faults = [("status", 400, {}, {"error": {"message": "max_tokens too large"}})]
    with pytest.raises(BackendResponseError, match="HTTP 400: max_tokens too large"):
        make_backend(srv.url).complete("q", P(max_tokens=1))
    assert len(srv.gen_requests()) == 1


def test_non_json_response(make_server, make_backend):
    srv = make_server()
    srv.faults = [("raw", 200, b"<html>welcome to nginx</html>", "text/html")]
    with pytest.raises(BackendResponseError, match="not JSON \\(text/html\\)") as info:
        make_backend(srv.url).complete("q", P(max_tokens=1))
    assert srv.url in str(info.value) and len(srv.gen_requests()) == 1


def test_stream_cut_after_tokens_were_delivered_is_not_retried(make_server, make_backend):
    srv = make_server()
    srv.faults = [("cut", 2)]
    events = []
    with pytest.raises(BackendConnectionError, match="stream cut after 2 streamed pieces") as info:
        make_backend(srv.url).complete("q", P(max_tokens=5), on_token=events.append)
    assert srv.url in str(info.value) and not info.value.retryable
    assert len(events) == 2 and len(srv.gen_requests()) == 1


def test_stream_cut_before_any_token_is_retried(make_server, make_backend):
    srv = make_server()
    srv.faults = [("cut", 0)]
    events = []
    g = make_backend(srv.url).complete("q", P(max_tokens=2), on_token=events.append)
    assert g.texts == [" s0c0t0 s0c0t1"] and len(srv.gen_requests()) == 2


def test_config_errors():
    with pytest.raises(ConfigError, match="invalid base URL"):
        OpenAIBackend("m", base_url="localhost:8000")
    with pytest.raises(ConfigError, match="needs a server: --base-url URL"):
        OpenAIBackend("m", base_url="")
    with pytest.raises(ConfigError, match="needs base_url"):
        OpenAIBackend("m", base_url=[" "])
    with pytest.raises(ConfigError, match="endpoint"):
        OpenAIBackend("m", base_url="http://x", endpoint="embeddings")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="max_concurrency"):
        OpenAIBackend("m", base_url="http://x", max_concurrency=0)
    assert issubclass(BackendConnectionError, BackendError)


# ---- n emulation, interleaving and malformed streams (issue 12) -----------------------------


def test_streamed_request_answered_with_one_choice_is_filled(make_server, make_backend, caplog):
    srv = make_server(n_support="one")  # llama-cpp-python streams index 0 only, whatever n is
    b = make_backend(srv.url)
    events = []
    with caplog.at_level("INFO", logger="nlrl.backends.openai"):
        g = b.complete("a b", P(n=3, max_tokens=2, temperature=1.0, seed=10), on_token=events.append)
        b.complete("a b", P(n=3, max_tokens=2, temperature=1.0, seed=20), on_token=events.append)
    assert g.texts == [" s10c0t0 s10c0t1", " s11c0t0 s11c0t1", " s12c0t0 s12c0t1"]
    assert all(c.finish_reason == "length" for c in g.completions)
    assert sorted({e.index for e in events}) == [0, 1, 2]
    assert sum("no native n" in r.message for r in caplog.records) == 1  # logged once
    seeds = [r["body"].get("seed") for r in srv.gen_requests()[:3]]
    assert seeds[0] == 10 and sorted(seeds[1:]) == [11, 12]  # the fill requests run concurrently


def test_completion_ended_early_by_the_server_is_continued(make_server, make_backend, caplog):
    srv = make_server(words=[" a", " b", " c", " d"], tokenize=True, stream_usage=False)
    srv.faults = [("preempt", 2)]  # two pieces, then [DONE] with no finish_reason
    b = make_backend(srv.url)
    events = []
    with caplog.at_level("WARNING", logger="nlrl.backends.openai"):
        g = b.complete("q", P(max_tokens=4, seed=3), on_token=events.append)
    c = g.completions[0]
    # the continuation asked for the 2 tokens left, with the text so far appended to the prompt
    second = srv.gen_requests()[1]["body"]
    assert second["prompt"] == "q a b" and second["max_tokens"] == 2 and second["seed"] == 3
    assert c.text == " a b a b" and c.finish_reason == "length"  # the fake repeats its words
    assert "".join(e.text for e in events) == c.text
    assert g.usage.calls == 2 and g.usage.completion_tokens == 4
    assert b._pool.servers[0].preempts and "one request at a time" in caplog.text


def test_chat_completion_ended_early_is_replayed_without_repeating_tokens(make_server, make_backend):
    srv = make_server()
    srv.faults = [("preempt", 2)]
    events = []
    g = make_backend(srv.url, endpoint="chat").complete("q", P(max_tokens=3, seed=4),
                                                        on_token=events.append)
    assert g.texts == [" s4c0t0 s4c0t1 s4c0t2"]
    assert [e.text for e in events] == [" s4c0t0", " s4c0t1", " s4c0t2"]
    assert [r["body"]["seed"] for r in srv.gen_requests()] == [4, 4]


def test_preempting_server_gets_one_request_at_a_time(make_server, make_backend):
    srv = make_server(token_delay_s=0.005)
    srv.faults = [("preempt", 1)]
    b = make_backend(srv.url, max_concurrency=8)
    b.complete("q", P(max_tokens=2), on_token=lambda e: None)
    # The preempted request's handler may still be unwinding on the server after the client gave
    # up on its stream; count only what the backend sends from now on.
    deadline = time.monotonic() + 10
    while srv.in_flight and time.monotonic() < deadline:
        time.sleep(0.01)
    srv.max_in_flight = 0
    gens = b.generate([f"q{i}" for i in range(6)], P(max_tokens=3), on_token=lambda e: None)
    assert len(gens) == 6 and srv.max_in_flight == 1


def _chunk(index, text=None, finish=None):
    c = {"index": index, "finish_reason": finish}
    if text is not None:
        c["text"] = text
    return {"id": "x", "object": "text_completion", "choices": [c]}


def test_interleaved_out_of_order_choices_are_reassembled(make_server, make_backend):
    srv = make_server()
    srv.faults = [("events", [
        _chunk(2, " z1"), _chunk(0, " a1"), _chunk(1, " m1"), _chunk(0, " a2"),
        _chunk(2, " z2", "stop"),  # finish_reason on a chunk that also carries text
        _chunk(1, " m2"), _chunk(0, "", "length"), _chunk(1, " m3", "stop"),
        {"id": "x", "choices": [], "usage": {"prompt_tokens": 1, "completion_tokens": 7}},
    ], True)]
    events = []
    g = make_backend(srv.url).complete("q", P(n=3, max_tokens=3), on_token=events.append)
    assert g.texts == [" a1 a2", " m1 m2 m3", " z1 z2"]
    assert [c.finish_reason for c in g.completions] == ["length", "stop", "stop"]
    assert g.usage.calls == 1 and g.usage.completion_tokens == 7


def test_stream_closed_without_done_after_every_finish_is_accepted(make_server, make_backend):
    srv = make_server()
    srv.faults = [("events", [_chunk(0, " a"), _chunk(0, " b", "stop")], False)]
    g = make_backend(srv.url).complete("q", P(max_tokens=3), on_token=lambda e: None)
    assert g.texts == [" a b"]  # as the openai client accepts it


@pytest.mark.parametrize("events, done, match", [
    ([_chunk(0, " a"), _chunk(3, " b")], True, "index 3 when n=2 was asked"),
    ([_chunk(0, " a"), _chunk("one", " b")], True, "index 'one'"),
    ([_chunk(0, " a"), "<html>oops</html>"], True, "stream event is not JSON: '<html>oops</html>'"),
    ([_chunk(0, " a"), "[1, 2]"], True, "not a JSON object"),
    ([{"error": {"message": "out of memory"}}], True, "error in the stream: out of memory"),
])
def test_malformed_streams_are_clear_errors(make_server, make_backend, events, done, match):
    srv = make_server()
    srv.faults = [("events", events, done)]
    with pytest.raises(BackendResponseError, match=match) as info:
        make_backend(srv.url).complete("q", P(n=2, max_tokens=2), on_token=lambda e: None)
    assert srv.url in str(info.value) and len(srv.gen_requests()) == 1


def test_stream_closed_mid_completion_without_done_is_a_cut(make_server, make_backend):
    srv = make_server()
    srv.faults = [("events", [_chunk(0, " a")], False)]
    with pytest.raises(BackendConnectionError, match="unfinished \\(no \\[DONE\\]\\)"):
        make_backend(srv.url).complete("q", P(max_tokens=3), on_token=lambda e: None)


def _full(choices):
    return {"id": "x", "object": "text_completion", "choices": choices,
            "usage": {"prompt_tokens": 1, "completion_tokens": 1}}


@pytest.mark.parametrize("data, match", [
    (_full([{"index": i, "text": "x", "finish_reason": "stop"} for i in range(3)]),
     "asked for n=2, answered with 3 choices"),
    (_full([{"index": 5, "text": "x", "finish_reason": "stop"}]), "index 5 when n=2"),
    (_full([{"index": 0, "text": "x", "finish_reason": "stop"}] * 2), "two choices with index 0"),
    ({"error": {"message": "model is loading", "type": "server_error"}},
     "error in a 200 response: model is loading"),
])
def test_malformed_responses_are_clear_errors(make_server, make_backend, data, match):
    srv = make_server()
    srv.faults = [("status", 200, {}, data)]
    with pytest.raises(BackendResponseError, match=match) as info:
        make_backend(srv.url).complete("q", P(n=2, max_tokens=2))
    assert srv.url in str(info.value) and len(srv.gen_requests()) == 1
