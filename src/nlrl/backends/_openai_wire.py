"""The OpenAI wire format for :mod:`nlrl.backends.openai`: the request body, and a response or a
stream read into completions (``Choice``), with stop strings applied client-side and text
streamed to ``on_token``. Whatever a server sends that does not fit becomes one of nlrl's typed
errors (``_openai_errors``). No I/O decisions here: retries, resuming and the fleet stay with
the client."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Literal, Sequence

import httpx

from .._exceptions import BackendResponseError
from ._openai_errors import _cut, _error_message, _index, _snippet
from ._stops import StopBuffer
from .base import SamplingParams, TokenCallback, TokenEvent

Endpoint = Literal["completions", "chat"]
PATHS = {"completions": "/completions", "chat": "/chat/completions"}
_FINISH = {"stop": "stop", "eos": "stop", "length": "length"}


@dataclass
class Choice:
    """One completion as it is assembled from a response or a stream."""

    stops: Sequence[str]
    buf: StopBuffer = field(init=False)
    logprobs: list[float] = field(default_factory=list)
    token_ids: list[int] = field(default_factory=list)
    chunks: int = 0
    finish: str | None = None  # set once the completion is over, by the server or by us
    by_client: bool = False  # we ended it (stop string found here, or on_token said so)
    raw: list[str] = field(default_factory=list)  # every piece of text received, stops or not
    seed: int | None = None  # the seed the request that began it sent
    shown: str = ""  # text already handed to on_token by an earlier attempt (see _resume)

    def __post_init__(self) -> None:
        self.buf = StopBuffer(self.stops)

    @property
    def generated(self) -> int:
        """Tokens generated so far (servers stream one token per chunk)."""
        return max(self.chunks, len(self.logprobs))


def request_body(endpoint: Endpoint, prompt: str, model: str, params: SamplingParams, n: int,
                 seed: int | None, stream: bool, extra: dict[str, Any]) -> dict[str, Any]:
    body: dict[str, Any] = {"model": model, "max_tokens": params.max_tokens,
                            "temperature": params.temperature, "top_p": params.top_p}
    if endpoint == "chat":
        body["messages"] = [{"role": "user", "content": prompt}]
        if params.logprobs:
            body["logprobs"] = True
    else:
        body["prompt"] = prompt
        if params.logprobs:
            body["logprobs"] = 1
    if n > 1:
        body["n"] = n
    if params.stop:
        body["stop"] = list(params.stop)
    if seed is not None:
        body["seed"] = seed
    # Non-OpenAI knobs go out only when set: OpenAI itself rejects unknown fields.
    if params.top_k:
        body["top_k"] = params.top_k
    if params.repetition_penalty != 1.0:
        body["repetition_penalty"] = params.repetition_penalty
    if stream:
        body["stream"] = True
        body["stream_options"] = {"include_usage": True}
    body.update(extra)
    return body


def delta_text(endpoint: Endpoint, ch: dict[str, Any], *, full: bool) -> str:
    if endpoint == "chat":
        part = ch.get("message" if full else "delta") or {}
        text = part.get("content") if isinstance(part, dict) else None
    else:
        text = ch.get("text")
    return text if isinstance(text, str) else ""


def delta_logprobs(endpoint: Endpoint, ch: dict[str, Any]) -> list[float]:
    lp = ch.get("logprobs")
    if not isinstance(lp, dict):
        return []
    if endpoint == "chat":
        items = lp.get("content") or ()
        vals = [t.get("logprob") for t in items if isinstance(t, dict)]
    else:
        vals = lp.get("token_logprobs") or []
    return [float(v) for v in vals if isinstance(v, (int, float))]


def _token_ids(ch: dict[str, Any]) -> list[int]:
    return [t for t in ch.get("token_ids") or () if isinstance(t, int)]


def read_full(url: str, endpoint: Endpoint, data: Any, want: int, pi: int, first: int,
              params: SamplingParams, on_token: TokenCallback | None,
              resume: Choice | None = None) -> dict[int, Choice]:
    """The choices of a whole (non-streamed) response, keyed by sample index."""
    if isinstance(data, dict) and data.get("error") and not data.get("choices"):
        raise BackendResponseError(
            f"openai server {url}: error in a 200 response: {_error_message(data)}",
            provider="openai", status=200)
    raw = data.get("choices") if isinstance(data, dict) else None
    if not isinstance(raw, list) or not raw:
        raise BackendResponseError(
            f"openai server {url}: response has no choices: {_snippet(data)}",
            provider="openai", status=200)
    if len(raw) > want:
        raise BackendResponseError(
            f"openai server {url}: asked for n={want}, answered with {len(raw)} choices: "
            f"{_snippet(data)}", provider="openai", status=200)
    out: dict[int, Choice] = {}
    for pos, ch in enumerate(raw):
        if not isinstance(ch, dict):
            raise BackendResponseError(f"openai server {url}: malformed choice: {_snippet(ch)}",
                                       provider="openai", status=200)
        j = _index(url, ch, want, pos)
        if first + j in out:
            raise BackendResponseError(
                f"openai server {url}: two choices with index {j}: {_snippet(data)}",
                provider="openai", status=200)
        c = resume if resume is not None else Choice(params.stop)
        text = delta_text(endpoint, ch, full=True)
        c.raw.append(text)
        c.logprobs.extend(delta_logprobs(endpoint, ch))
        c.token_ids.extend(_token_ids(ch))
        released, stopped = c.buf.feed(text)
        if not stopped:
            released += c.buf.flush()
        c.finish = "stop" if stopped else _FINISH.get(ch.get("finish_reason") or "", "stop")
        if on_token is not None and released and on_token(
                TokenEvent(pi, first + j, released, None, sum(c.logprobs) if c.logprobs else None)):
            c.finish = "answer"
        out[first + j] = c
    return out


@dataclass
class StreamRead:
    """What a stream held: its choices, the usage it reported, whether it sent ``[DONE]``."""

    choices: dict[int, Choice]
    usage: Any
    done: bool

    @property
    def unfinished(self) -> list[int]:
        return [i for i, c in self.choices.items() if c.finish is None]


async def read_stream(url: str, endpoint: Endpoint, resp: httpx.Response, want: int, pi: int,
                      first: int, params: SamplingParams, on_token: TokenCallback | None,
                      streamed: list[int], resume: Choice | None = None) -> StreamRead:
    """Read an SSE stream of chunks into its choices. ``streamed[0]`` counts the events handed
    to ``on_token`` (a retry would repeat them). A stream cut before ``[DONE]`` with a choice
    unfinished raises; ``[DONE]`` with one unfinished (a server serving another request) is
    returned for the client to resume."""
    out: dict[int, Choice] = {}
    usage_raw: Any = None
    finished = False
    async for line in resp.aiter_lines():
        if not line.startswith("data:"):
            continue  # blank separators, comments (": ping"), event:/id: fields
        payload = line[5:].strip()
        if payload == "[DONE]":
            finished = True
            break
        try:
            chunk = json.loads(payload)
        except json.JSONDecodeError:
            raise BackendResponseError(
                f"openai server {url}: stream event is not JSON: {payload[:200]!r}",
                provider="openai", status=resp.status_code) from None
        if not isinstance(chunk, dict):
            raise BackendResponseError(
                f"openai server {url}: stream event is not a JSON object: {payload[:200]!r}",
                provider="openai", status=resp.status_code)
        if chunk.get("error"):
            raise BackendResponseError(
                f"openai server {url}: error in the stream: {_error_message(chunk)}",
                provider="openai", status=resp.status_code)
        if chunk.get("usage"):
            usage_raw = chunk["usage"]
        for ch in chunk.get("choices") or ():
            if not isinstance(ch, dict):
                raise BackendResponseError(
                    f"openai server {url}: malformed choice in the stream: {payload[:200]!r}",
                    provider="openai", status=resp.status_code)
            j = _index(url, ch, want, 0)
            c = out.get(first + j)
            if c is None:
                c = out[first + j] = resume if resume is not None else Choice(params.stop)
            if c.finish is not None:
                continue
            text = delta_text(endpoint, ch, full=False)
            lps = delta_logprobs(endpoint, ch)
            c.raw.append(text)
            c.logprobs.extend(lps)
            c.token_ids.extend(_token_ids(ch))
            if text:
                c.chunks += 1
                released, stopped = c.buf.feed(text)
                if released and on_token is not None:
                    streamed[0] += 1
                    if on_token(TokenEvent(pi, first + j, released, None, sum(lps) if lps else None)):
                        c.finish, c.by_client = "answer", True
                        continue
                if stopped:
                    c.finish, c.by_client = "stop", True
                    continue
            reason = ch.get("finish_reason")
            if reason:
                c.finish = _FINISH.get(reason, "stop")
                tail = c.buf.flush()
                if tail and on_token is not None:
                    streamed[0] += 1
                    on_token(TokenEvent(pi, first + j, tail, None, None))
        if out and all(c.finish for c in out.values()) and any(c.by_client for c in out.values()):
            break  # we ended every completion ourselves: close the stream, stop the server
    read = StreamRead(out, usage_raw, finished)
    open_ = read.unfinished
    if not out or (open_ and not finished):
        why = "ended before any completion" if not out else f"ended with completion {open_[0]} unfinished"
        if not finished:
            why += " (no [DONE])"
        raise _cut(url, why, streamed[0])
    return read
