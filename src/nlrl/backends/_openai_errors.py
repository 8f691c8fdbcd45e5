"""Error translation for :mod:`nlrl.backends.openai` and its wire format: turning what a
server sent (an HTTP error, a body that is not JSON, a choice with a bad index, a cut stream)
into nlrl's typed errors, each naming the server and quoting what it sent."""

from __future__ import annotations

import email.utils
import json
import os
import time
from typing import Any

import httpx

from .._exceptions import BackendConnectionError, BackendError, BackendResponseError

def _http_error(url: str, resp: httpx.Response, model: Any, key_env: str) -> BackendError:
    status = resp.status_code
    msg = _error_message(_try_json(resp)) or resp.text[:200].strip() or resp.reason_phrase
    head = f"openai server {url}: HTTP {status}"
    if status in (401, 403):
        return BackendResponseError(
            f"{head} (authentication failed: {msg}); set the server's API key in ${key_env}",
            provider="openai", status=status)
    if status == 404:
        if model and ("model" in msg.lower() or str(model) in msg):
            text = f"{head} (model {model!r} not found: {msg})"
        else:
            text = f"{head} (not found: {msg}); check the base URL, it usually ends in /v1"
        return BackendResponseError(text, provider="openai", status=status)
    if status == 429 or status == 408 or status >= 500:
        return BackendResponseError(f"{head}: {msg}", provider="openai", status=status,
                                    retry_after=_retry_after(resp), retryable=True)
    return BackendResponseError(f"{head}: {msg}", provider="openai", status=status)


def _index(url: str, ch: dict[str, Any], want: int, default: int) -> int:
    """The choice's ``index``, which must name one of the ``want`` choices asked for."""
    j = ch.get("index", default)
    if isinstance(j, bool) or not isinstance(j, int) or not 0 <= j < want:
        raise BackendResponseError(
            f"openai server {url}: sent a choice with index {j!r} when n={want} was asked: "
            f"{_snippet(ch)}", provider="openai", status=200)
    return j


def _cut(url: str, why: str, streamed: int) -> BackendConnectionError:
    if streamed:
        # The caller already holds these tokens; a fresh request would send different ones.
        return BackendConnectionError(
            f"openai server {url}: stream cut after {streamed} streamed pieces ({why}); "
            "not retried because its tokens were already delivered", provider="openai")
    return BackendConnectionError(f"openai server {url}: connection lost ({why})",
                                  provider="openai", retryable=True)


def _json(url: str, resp: httpx.Response) -> Any:
    try:
        return resp.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        kind = resp.headers.get("content-type", "no content type")
        raise BackendResponseError(
            f"openai server {url}: HTTP {resp.status_code} response is not JSON ({kind}): "
            f"{resp.text[:120]!r}; is this an OpenAI-compatible endpoint?",
            provider="openai", status=resp.status_code) from None


def _try_json(resp: httpx.Response) -> Any:
    try:
        return resp.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None


def _error_message(data: Any) -> str:
    if not isinstance(data, dict):
        return ""
    err = data.get("error", data.get("detail", data.get("message")))
    if isinstance(err, dict):
        err = err.get("message") or err.get("msg") or json.dumps(err)[:200]
    elif isinstance(err, list):
        err = "; ".join(str(e.get("msg", e)) if isinstance(e, dict) else str(e) for e in err[:3])
    return str(err or "")[:300]


def _retry_after(resp: httpx.Response) -> float | None:
    ms = resp.headers.get("retry-after-ms")
    if ms:
        try:
            return float(ms) / 1000
        except ValueError:
            pass
    value = resp.headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _reason(exc: BaseException) -> str:
    # httpx says "All connection attempts failed"; the OS error underneath says why.
    seen: BaseException | None = exc
    for _ in range(8):
        if seen is None:
            break
        if isinstance(seen, OSError) and seen.errno:
            return os.strerror(seen.errno)
        seen = seen.__cause__ or seen.__context__
    text = str(exc) or type(exc).__name__
    return text if len(text) < 200 else text[:200] + "..."


def _snippet(data: Any) -> str:
    text = json.dumps(data) if not isinstance(data, str) else data
    return text[:200]
