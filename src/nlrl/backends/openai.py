"""OpenAI-compatible servers: vLLM, SGLang, llama.cpp's server, llama-cpp-python, Ollama, OpenAI.

Why ``httpx.AsyncClient`` and not the ``openai`` SDK: we need the raw response. Servers differ
in ways the SDK hides or rejects: llama-cpp-python's server answers a request for ``n=2`` with
one choice, streamed or not (we count the choices and fill the rest), and by default ends a
stream mid-completion when another request arrives (we finish the completion, then send it one
request at a time); llama.cpp's rejects ``n>1`` with a 400 (we fall back to one request per
sample); vLLM and SGLang interleave the choices' chunks (assembled per index); some send
non-JSON bodies, extra choices or cut streams that must become clear errors naming the server
(``_openai_errors``). The HTTP conformance matrix (tests/integration/http) runs every
strategy through this backend against real servers. Retrying is ours too: the SDK retries one URL, we move a
failed request to another server of the fleet and honour ``Retry-After``. And a raw client
builds no pydantic objects per chunk, which keeps the per-request overhead small (see
``benchmarks/backend_http.py``).

This module is the client loop (concurrency, retries across the fleet, filling and resuming
completions); the request body and the reading of responses and streams are ``_openai_wire``,
the error translation ``_openai_errors``, the fleet ``pool``.

The API is synchronous (:meth:`Backend.generate`) over an async core: one event loop in a
daemon thread owns the client, all requests of a call run concurrently, bounded by
``max_concurrency`` requests in flight across all servers. ``on_token`` is called from that
loop's thread, one call at a time. A caller that is itself an event loop (``nlrl serve``) can
lend the backend its loop (:meth:`~OpenAIBackend.attach_loop`): the client then lives there,
:meth:`~OpenAIBackend.agenerate` awaits the requests with no thread hop, and ``generate`` from
other threads sends its work to that loop.

>>> b = OpenAIBackend("my-model", base_url="http://127.0.0.1:8000/v1")   # doctest: +SKIP
>>> b.complete("Q: 2+2?\\nA:", SamplingParams(max_tokens=8)).texts      # doctest: +SKIP
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import random
import threading
import time
from collections import OrderedDict
from typing import Any, Awaitable, Callable, Literal, Sequence, TypeVar

import httpx

from .._exceptions import BackendConnectionError, BackendError, BackendResponseError, ConfigError
from ._openai_errors import _cut, _http_error, _json, _reason, _snippet
from ._openai_wire import PATHS, Choice, Endpoint, read_full, read_stream, request_body
from .base import (
    Backend,
    Completion,
    Generation,
    SamplingParams,
    TokenCallback,
    TokenEvent,
    Usage,
    check_prompts,
)
from .pool import Server, ServerPool, split_base_urls

log = logging.getLogger(__name__)

T = TypeVar("T")
_MAX_RETRY_AFTER_S = 60.0
_PROMPT_TOKENS_MEMO = 4096


class OpenAIBackend(Backend):
    """Generate through one or more OpenAI-compatible servers.

    ``base_url`` is one URL, a comma-separated list or a list (``http://host:8000`` means
    ``http://host:8000/v1``); when omitted, ``$OPENAI_BASE_URL``. ``endpoint="completions"`` sends the prompt as is (base models,
    few-shot prompts); ``"chat"`` sends it as one user message and the server applies the chat
    template. ``n_mode``: ``"auto"`` asks for ``n`` and fills what the server did not return with
    one request per missing sample (seed + i); ``"native"`` trusts ``n``; ``"emulate"`` always
    sends one request per sample. ``extra_body`` is merged into every request body (e.g.
    ``{"repeat_penalty": 1.1}`` for llama.cpp, ``{"return_token_ids": True}`` for vLLM).
    ``chat=True`` is ``endpoint="chat"`` (the CLI's ``--chat``). ``transport`` replaces httpx's
    network transport (tests, proxies).
    """

    name = "openai"
    concurrent_requests = 8  # network calls: a benchmark overlaps samples
    settings_options = {"chat": "chat", "base_url": "base_url"}

    def __init__(
        self,
        model: str | None = None,
        *,
        base_url: str | Sequence[str] | None = None,
        api_key_env: str = "OPENAI_API_KEY",
        endpoint: Endpoint = "completions",
        max_concurrency: int = 16,
        max_retries: int = 4,
        timeout_s: float = 60.0,
        backoff_s: float = 0.5,
        max_backoff_s: float = 8.0,
        n_mode: Literal["auto", "native", "emulate"] = "auto",
        extra_body: dict[str, Any] | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        chat: bool | None = None,
    ) -> None:
        if chat is not None:  # ``--chat``: an instruct model, so the chat endpoint
            endpoint = "chat" if chat else "completions"
        if endpoint not in PATHS:
            raise ConfigError(f"invalid endpoint {endpoint!r}: must be 'completions' or 'chat'")
        if n_mode not in ("auto", "native", "emulate"):
            raise ConfigError(f"invalid n_mode {n_mode!r}: must be 'auto', 'native' or 'emulate'")
        for name, value, low in (("max_concurrency", max_concurrency, 1), ("max_retries", max_retries, 0)):
            if not isinstance(value, int) or value < low:
                raise ConfigError(f"invalid {name}={value!r}: must be an integer >= {low}")
        if not (timeout_s > 0 and backoff_s >= 0 and max_backoff_s >= backoff_s):
            raise ConfigError("timeout_s must be > 0 and 0 <= backoff_s <= max_backoff_s")
        base_url = base_url or os.environ.get("OPENAI_BASE_URL")
        if not base_url:
            raise ConfigError("the openai backend needs a server: --base-url URL "
                              "(or base_url=..., or $OPENAI_BASE_URL)")
        self._pool = ServerPool(split_base_urls(base_url))
        self._model = model
        self._api_key = os.environ.get(api_key_env) or "EMPTY"
        self._api_key_env = api_key_env
        self._endpoint: Endpoint = endpoint
        self.chat = endpoint == "chat"
        self._max_concurrency = max_concurrency
        self._max_retries = max_retries
        self._timeout_s = float(timeout_s)
        self._backoff_s = float(backoff_s)
        self._max_backoff_s = float(max_backoff_s)
        self._n_mode = n_mode
        self._extra_body = dict(extra_body or {})
        self._transport = transport
        self._model_info: dict[str, Any] | None = None
        self._prompt_tokens: OrderedDict[int, int] = OrderedDict()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._client: httpx.AsyncClient | None = None
        self._sem: asyncio.Semaphore | None = None
        self._start_lock = threading.Lock()
        self._owns_loop = True  # False while a caller's loop is attached

    # ---- capabilities -----------------------------------------------------------------------

    @property
    def model_name(self) -> str:
        return self._model or self._run(self._resolve_model())

    @property
    def base_urls(self) -> list[str]:
        return [s.url for s in self._pool.servers]

    @property
    def context_length(self) -> int | None:
        """From the server's model list where it says (vLLM ``max_model_len``), else None."""
        self._run(self._resolve_model())  # fetches the model list once
        info = self._model_info or {}
        for key in ("max_model_len", "context_length", "context_window"):
            if isinstance(info.get(key), int):
                return info[key]
        meta = info.get("meta")
        if isinstance(meta, dict) and isinstance(meta.get("n_ctx_train"), int):
            return meta["n_ctx_train"]
        return None

    @property
    def supports_logprobs(self) -> bool:
        return True

    def count_tokens(self, text: str) -> int | None:
        """Tokens ``text`` encodes to, asked of the server; None when it has no tokenize route."""
        return self._run(self._count(text))

    def server_stats(self) -> list[dict[str, object]]:
        """Per server: requests sent, retries, connection failures, requests in flight."""
        return self._pool.stats()

    # ---- the sync facade over the event loop thread ------------------------------------------

    def _ensure_loop(self) -> asyncio.AbstractEventLoop:
        with self._start_lock:
            if self._loop is None:
                loop = asyncio.new_event_loop()
                thread = threading.Thread(target=loop.run_forever, name="nlrl-openai", daemon=True)
                thread.start()
                self._loop, self._thread = loop, thread
            return self._loop

    def _run(self, coro: Awaitable[T]) -> T:
        if threading.current_thread() is self._thread:
            close = getattr(coro, "close", None)
            if close is not None:
                close()  # never awaited: no "coroutine was never awaited" warning
            raise ConfigError("OpenAIBackend.generate cannot be called from inside on_token "
                              "(nor from the event loop attached to it: await agenerate there)")
        fut = asyncio.run_coroutine_threadsafe(coro, self._ensure_loop())  # type: ignore[arg-type]
        try:
            return fut.result()
        except BaseException:
            fut.cancel()
            raise

    async def _client_(self) -> httpx.AsyncClient:
        if self._client is None:
            n = len(self._pool)
            self._client = httpx.AsyncClient(
                timeout=httpx.Timeout(self._timeout_s, connect=min(10.0, self._timeout_s)),
                limits=httpx.Limits(max_connections=self._max_concurrency * n + n,
                                    max_keepalive_connections=self._max_concurrency * n),
                headers={"Authorization": f"Bearer {self._api_key}"},
                transport=self._transport,
            )
            self._sem = asyncio.Semaphore(self._max_concurrency)
        return self._client

    def attach_loop(self, loop: asyncio.AbstractEventLoop) -> bool:
        """Do this backend's I/O on ``loop`` (the caller's running loop, this called on it):
        the loop thread of its own, if one was started, is stopped and its connections closed."""
        if self._loop is loop:
            return True
        self.close()
        with self._start_lock:
            self._loop, self._thread, self._owns_loop = loop, threading.current_thread(), False
            self._client = self._sem = None  # made on the new loop at the first request
        return True

    async def detach_loop(self) -> None:
        if self._owns_loop or self._loop is not asyncio.get_running_loop():
            return
        client, self._client, self._sem = self._client, None, None
        with self._start_lock:
            self._loop = self._thread = None
            self._owns_loop = True
        if client is not None:
            await client.aclose()

    async def agenerate(
        self,
        prompts: Sequence[str],
        params: SamplingParams,
        *,
        on_token: TokenCallback | None = None,
    ) -> list[Generation]:
        """On the attached loop, the requests are awaited right there; elsewhere they run on the
        backend's loop and this awaits their result."""
        check_prompts(prompts)
        if not prompts:
            return []
        coro = self._generate_all(list(prompts), params, on_token)
        if self._loop is asyncio.get_running_loop():
            return await coro
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coro, self._ensure_loop()))

    def close(self) -> None:
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        if not self._owns_loop:  # a caller's loop: close the client there, leave the loop be
            client, self._client, self._sem = self._client, None, None
            with self._start_lock:
                self._loop = self._thread = None
                self._owns_loop = True
            if client is not None and loop.is_running() and threading.current_thread() is not thread:
                asyncio.run_coroutine_threadsafe(client.aclose(), loop).result(timeout=10)
            return
        if self._client is not None:
            asyncio.run_coroutine_threadsafe(self._client.aclose(), loop).result(timeout=10)
            self._client = None
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        loop.close()
        self._loop = self._thread = None

    # ---- generation -------------------------------------------------------------------------

    def generate(
        self,
        prompts: Sequence[str],
        params: SamplingParams,
        *,
        on_token: TokenCallback | None = None,
    ) -> list[Generation]:
        check_prompts(prompts)
        if not prompts:
            return []
        return self._run(self._generate_all(list(prompts), params, on_token))

    async def _generate_all(
        self, prompts: list[str], params: SamplingParams, on_token: TokenCallback | None
    ) -> list[Generation]:
        await self._client_()
        model = await self._resolve_model()
        tasks = [asyncio.ensure_future(self._generate_one(pi, p, model, params, on_token))
                 for pi, p in enumerate(prompts)]
        try:
            return list(await asyncio.gather(*tasks))
        except BaseException:
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            raise

    async def _generate_one(
        self, pi: int, prompt: str, model: str, params: SamplingParams, on_token: TokenCallback | None
    ) -> Generation:
        start = time.perf_counter()
        n = params.n
        emulate = n > 1 and (self._n_mode == "emulate"
                             or (self._n_mode == "auto" and self._pool.any_non_native_n()))
        done: dict[int, Choice] = {}
        usage = Usage()
        if not emulate:
            got, usage = await self._request(pi, prompt, model, params, n, 0, on_token)
            done.update(got)
        missing = [i for i in range(n) if i not in done]
        if missing:
            results = await asyncio.gather(
                *(self._request(pi, prompt, model, params, 1, i, on_token) for i in missing))
            for got, u in results:
                done.update(got)
                usage = usage + u
        for _ in range(self._max_retries + 1):
            ended = [i for i in range(n) if done[i].finish is None]
            if not ended:
                break
            results = await asyncio.gather(
                *(self._resume(pi, prompt, model, params, i, done[i], on_token) for i in ended))
            for i, (c, u) in zip(ended, results):
                done[i] = c
                usage = usage + u
        else:
            raise BackendResponseError(
                f"openai server {self.base_urls[0] if len(self._pool) == 1 else 'fleet'}: "
                f"completion {ended[0]} was ended early by the server "
                f"{self._max_retries + 1} times in a row (no finish_reason)", provider=self.name)
        comps = []
        for i in range(n):
            c = done[i]
            comps.append(Completion(
                index=i,
                text=c.buf.text,
                token_ids=tuple(c.token_ids),
                logprobs=tuple(c.logprobs) if params.logprobs and c.logprobs else None,
                finish_reason=c.finish,  # type: ignore[arg-type]
            ))
        usage = Usage(usage.prompt_tokens, usage.completion_tokens, usage.calls,
                      time.perf_counter() - start)
        return Generation(prompt, tuple(comps), usage)

    async def _resume(
        self, pi: int, prompt: str, model: str, params: SamplingParams, i: int, c: Choice,
        on_token: TokenCallback | None,
    ) -> tuple[Choice, Usage]:
        """Finish completion ``i``, which the server ended without a ``finish_reason``.

        llama-cpp-python's server does this to a stream when another request arrives (its
        default ``--interrupt_requests``): the stream ends with ``[DONE]`` mid-completion. On the
        completions endpoint the completion is continued (prompt + its text so far, the tokens
        left); on the chat endpoint the request is sent again with the same seed and the part
        already streamed is checked and not streamed twice.
        """
        left = params.max_tokens - c.generated
        if left <= 0:
            c.finish = "length"
            tail = c.buf.flush()
            if tail and on_token is not None:
                on_token(TokenEvent(pi, i, tail, None, None))
            return c, Usage()
        if self._endpoint == "completions":
            got, usage = await self._request(pi, prompt + "".join(c.raw), model,
                                             params.replace(max_tokens=left), 1, i, on_token,
                                             resume=c, seed=c.seed)
            return got[i], usage
        shown = c.shown if len(c.shown) > len(c.buf.text) else c.buf.text
        sent = [""]  # what this replay has released so far

        def replay(ev: TokenEvent) -> bool | None:
            before = sent[0]
            sent[0] += ev.text
            if not (shown.startswith(sent[0]) or sent[0].startswith(shown)):
                raise BackendConnectionError(
                    f"openai server ended completion {i} early and sent different text when "
                    f"asked again ({shown[len(before):][:40]!r} vs {ev.text[:40]!r}); give a "
                    "seed, or start llama-cpp-python's server with --interrupt_requests False",
                    provider=self.name)
            new = sent[0][max(len(before), len(shown)):]
            if not new or on_token is None:
                return None
            return on_token(TokenEvent(ev.prompt_index, ev.index, new, ev.token_id, ev.logprob))

        got, usage = await self._request(pi, prompt, model, params, 1, i,
                                         replay if on_token is not None else None, seed=c.seed)
        out = got[i]
        out.shown = shown if len(shown) > len(sent[0]) else sent[0]
        return out, usage

    def _body(self, prompt: str, model: str, params: SamplingParams, n: int, seed: int | None,
              stream: bool) -> dict[str, Any]:
        return request_body(self._endpoint, prompt, model, params, n, seed, stream, self._extra_body)

    async def _request(
        self, pi: int, prompt: str, model: str, params: SamplingParams, n: int, first: int,
        on_token: TokenCallback | None, *, resume: Choice | None = None,
        seed: int | None | Literal[False] = False,
    ) -> tuple[dict[int, Choice], Usage]:
        """One logical request (retried as needed); returns its choices keyed by sample index.

        ``resume``: a completion the server ended early, continued by this request.
        ``seed``: the seed to send (default: the params' seed for sample ``first``)."""
        if seed is False:
            seed = params.seed_for(first)
            if (seed is None and on_token is not None and self._endpoint == "chat"
                    and not params.greedy):
                # A stream the server ends early is replayed on the chat endpoint; the same
                # seed makes the replay reproduce what was already streamed.
                seed = random.randrange(2**31)
        streamed = [0]  # events already handed to on_token: a retry would repeat them

        async def attempt(server: Server) -> tuple[dict[int, Choice], Usage]:
            ask = n if server.native_n is not False else 1
            body = self._body(prompt, model, params, ask, seed, on_token is not None)
            try:
                got, usage = await self._post(server, body, pi, first, params, on_token, streamed,
                                              resume)
            except BackendResponseError as exc:
                if exc.status != 400 or ask == 1 or server.native_n is not None:
                    raise
                # llama.cpp's server rejects n > 1 with a 400: ask again for one sample.
                body = self._body(prompt, model, params, 1, seed, on_token is not None)
                got, usage = await self._post(server, body, pi, first, params, on_token, streamed,
                                              resume)
                server.native_n = False
                log.info("openai server %s rejects n>1; sampling one request per completion",
                         server.url)
                return got, usage
            if ask > 1 and server.native_n is None:
                server.native_n = len(got) >= ask
                if not server.native_n:
                    log.info("openai server %s answered n=%d with %d choice(s): it has no native "
                             "n; the missing samples are asked for one request each (seed + i)",
                             server.url, ask, len(got))
            for c in got.values():
                c.seed = seed
            return got, usage

        return await self._with_retries(attempt, lambda: streamed[0] == 0)

    async def _with_retries(self, fn: Callable[[Server], Awaitable[T]],
                            can_retry: Callable[[], bool] = lambda: True) -> T:
        assert self._sem is not None
        failed: Server | None = None
        for attempt in range(self._max_retries + 1):
            async with self._sem:
                server = self._pool.pick(avoid=failed)
                server.outstanding += 1
                server.requests += 1
                gate = server.gate if server.preempts else None
                held = False
                try:
                    if gate is not None:
                        await gate.acquire()
                        held = True
                    result = await fn(server)
                    self._pool.mark_up(server)
                    return result
                except BackendError as exc:
                    error = exc
                finally:
                    server.outstanding -= 1
                    if held:
                        gate.release()  # type: ignore[union-attr]
            if not (error.retryable and can_retry()) or attempt == self._max_retries:
                if attempt:
                    error.args = (f"{error.args[0]} (gave up after {attempt + 1} attempts)",)
                error.attempts = attempt + 1  # type: ignore[attr-defined]
                raise error
            delay = self._delay(attempt, error.retry_after)
            server.retries += 1
            if isinstance(error, BackendConnectionError):
                self._pool.mark_down(server, delay)
            failed = server if len(self._pool) > 1 else None
            log.warning("%s; retry %d/%d in %.2fs", error, attempt + 1, self._max_retries, delay)
            await asyncio.sleep(delay)
        raise AssertionError("unreachable")

    def _delay(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None and 0 <= retry_after <= _MAX_RETRY_AFTER_S:
            return retry_after
        # Full jitter: spreads the retries of many concurrent requests over the window.
        cap = min(self._max_backoff_s, self._backoff_s * 2 ** attempt)
        return random.uniform(cap / 2, cap)

    # ---- one HTTP exchange ------------------------------------------------------------------

    async def _post(
        self, server: Server, body: dict[str, Any], pi: int, first: int, params: SamplingParams,
        on_token: TokenCallback | None, streamed: list[int], resume: Choice | None = None,
    ) -> tuple[dict[int, Choice], Usage]:
        client = await self._client_()
        url = server.url + PATHS[self._endpoint]
        try:
            if not body.get("stream"):
                resp = await client.post(url, json=body)
                if resp.status_code >= 400:
                    raise _http_error(server.url, resp, body.get("model"), self._api_key_env)
                data = _json(server.url, resp)
                return await self._parse_full(server, data, body, pi, first, params, None, resume)
            async with client.stream("POST", url, json=body) as resp:
                if resp.status_code >= 400:
                    await resp.aread()
                    raise _http_error(server.url, resp, body.get("model"), self._api_key_env)
                if "text/event-stream" not in resp.headers.get("content-type", ""):
                    await resp.aread()  # the server ignored stream=true: one JSON body
                    data = _json(server.url, resp)
                    return await self._parse_full(server, data, body, pi, first, params, on_token,
                                                  resume)
                return await self._parse_stream(server, resp, body, pi, first, params,
                                                on_token, streamed, resume)
        except httpx.TimeoutException as exc:
            raise BackendConnectionError(
                f"openai server {server.url}: no response within {self._timeout_s:g}s "
                f"({type(exc).__name__})", provider=self.name, retryable=True) from exc
        except httpx.ConnectError as exc:
            raise BackendConnectionError(
                f"openai server {server.url}: cannot connect ({_reason(exc)})",
                provider=self.name, retryable=True) from exc
        except (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError) as exc:
            raise _cut(server.url, _reason(exc), streamed[0]) from exc

    async def _parse_full(
        self, server: Server, data: Any, body: dict[str, Any], pi: int, first: int,
        params: SamplingParams, on_token: TokenCallback | None, resume: Choice | None = None,
    ) -> tuple[dict[int, Choice], Usage]:
        out = read_full(server.url, self._endpoint, data, body.get("n", 1), pi, first, params,
                        on_token, resume)
        return out, await self._usage(server, body, data.get("usage"), 0)

    async def _parse_stream(
        self, server: Server, resp: httpx.Response, body: dict[str, Any], pi: int, first: int,
        params: SamplingParams, on_token: TokenCallback | None, streamed: list[int],
        resume: Choice | None = None,
    ) -> tuple[dict[int, Choice], Usage]:
        # a continued completion already holds the tokens of the requests before this one
        base = resume.generated if resume is not None else 0
        read = await read_stream(server.url, self._endpoint, resp, body.get("n", 1), pi, first,
                                 params, on_token, streamed, resume)
        if read.unfinished and not server.preempts:
            # [DONE] mid-completion: the server ended it to serve another request. Those
            # completions are finished by _resume; the server now gets one request at a time.
            server.preempts = True
            log.warning("openai server %s ended a streamed completion early (no finish_reason) to "
                        "serve another request; sending it one request at a time from now on "
                        "(for llama-cpp-python's server: --interrupt_requests False avoids this)",
                        server.url)
        counted = sum(c.generated for c in read.choices.values()) - base
        return read.choices, await self._usage(server, body, read.usage, counted)

    async def _usage(self, server: Server, body: dict[str, Any], raw: Any, counted: int) -> Usage:
        """The server's usage; for a stream without one, what we can honestly count."""
        key = hash(body.get("prompt") or json.dumps(body.get("messages")))
        if isinstance(raw, dict) and "completion_tokens" in raw:
            prompt = int(raw.get("prompt_tokens") or 0)
            self._remember(key, prompt)
            return Usage(prompt, int(raw.get("completion_tokens") or 0), 1)
        # No usage: a stream we closed early, or a server that sends none in streams
        # (llama-cpp-python). Servers stream one token per chunk; the prompt is counted by the
        # server's tokenize route (once per distinct prompt), or 0 where it has none.
        completion = counted
        prompt = self._prompt_tokens.get(key)
        if prompt is None and "prompt" in body:
            prompt = await self._count_on(server, body["prompt"])
            if prompt is not None:
                self._remember(key, prompt)
        return Usage(prompt or 0, completion, 1)

    def _remember(self, key: int, prompt_tokens: int) -> None:
        self._prompt_tokens[key] = prompt_tokens
        self._prompt_tokens.move_to_end(key)
        while len(self._prompt_tokens) > _PROMPT_TOKENS_MEMO:
            self._prompt_tokens.popitem(last=False)

    async def _count(self, text: str) -> int | None:
        await self._client_()
        model = await self._resolve_model()
        return await self._count_on(self._pool.pick(), text, model)

    async def _count_on(self, server: Server, text: str, model: str | None = None) -> int | None:
        """Ask the server's tokenize route: vLLM/SGLang and llama.cpp at /tokenize,
        llama-cpp-python at /extras/tokenize/count. Learned once per server."""
        client = await self._client_()
        routes = ["/extras/tokenize/count", "/tokenize"]
        if server.tokenize_route is not None:
            routes = [server.tokenize_route] if server.tokenize_route else []
        body = {"model": model or self._model, "prompt": text, "content": text, "input": text}
        for route in routes:
            try:
                resp = await client.post(server.root + route, json=body)
                data = resp.json() if resp.status_code == 200 else None
            except (httpx.HTTPError, json.JSONDecodeError, UnicodeDecodeError):
                data = None
            count = None
            if isinstance(data, dict):
                count = data.get("count")
                if not isinstance(count, int) and isinstance(data.get("tokens"), list):
                    count = len(data["tokens"])
            if isinstance(count, int):
                server.tokenize_route = route
                return count
        if server.tokenize_route is None:
            server.tokenize_route = ""
        return None

    async def _resolve_model(self) -> str:
        """The model to ask for: the given name, else the first the server lists."""
        if self._model is not None and self._model_info is not None:
            return self._model
        await self._client_()

        async def fetch(server: Server) -> str:
            client = await self._client_()
            try:
                resp = await client.get(server.url + "/models")
            except httpx.TimeoutException as exc:
                raise BackendConnectionError(
                    f"openai server {server.url}: no response within {self._timeout_s:g}s",
                    provider=self.name, retryable=True) from exc
            except httpx.TransportError as exc:
                raise BackendConnectionError(
                    f"openai server {server.url}: cannot connect ({_reason(exc)})",
                    provider=self.name, retryable=True) from exc
            if resp.status_code >= 400:
                if self._model is not None and resp.status_code in (404, 405, 501):
                    self._model_info = {}  # no model list here; the name given will be checked
                    return self._model
                raise _http_error(server.url, resp, None, self._api_key_env)
            data = _json(server.url, resp)
            models = data.get("data") if isinstance(data, dict) else None
            if not isinstance(models, list):
                raise BackendResponseError(
                    f"openai server {server.url}: /models answered without a model list: "
                    f"{_snippet(data)}", provider=self.name, status=resp.status_code)
            entries = [m for m in models if isinstance(m, dict) and isinstance(m.get("id"), str)]
            mine = [m for m in entries if m["id"] == self._model] if self._model else entries[:1]
            if not mine and self._model is None:
                raise BackendResponseError(f"openai server {server.url} serves no model",
                                           provider=self.name, status=resp.status_code)
            self._model_info = mine[0] if mine else {}
            return self._model or mine[0]["id"]

        if self._model is None:
            self._model = await self._with_retries(fetch)
        elif self._model_info is None:
            try:
                await self._with_retries(fetch)
            except BackendResponseError as exc:
                if exc.status in (401, 403):
                    raise
                self._model_info = {}  # the model list is a nicety; generation will tell
        return self._model
