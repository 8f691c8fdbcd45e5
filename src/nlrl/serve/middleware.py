"""ASGI layers in front of the routes: request ids, the body-size limit and API keys.

They are plain ASGI (not ``BaseHTTPMiddleware``) so a streamed response passes through them
untouched and a client's disconnect still reaches the route.
"""

from __future__ import annotations

import hmac
import json
import uuid
from typing import Any, Awaitable, Callable, Sequence

from .errors import error_body

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

_DRAIN_LIMIT = 64 << 20  # read (and drop) at most this much of an oversized body before answering


async def send_error(send: Send, status: int, message: str, *, code: str | None = None,
                     headers: Sequence[tuple[bytes, bytes]] = ()) -> None:
    body = json.dumps(error_body(status, message, code=code)).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode()), *headers]})
    await send({"type": "http.response.body", "body": body})


class Gate:
    """Request id, API key check (every route but ``/health``), body size limit."""

    def __init__(self, app: ASGIApp, *, api_keys: Sequence[str], max_body_bytes: int,
                 on_reject: Callable[[Scope, int, str], None]) -> None:
        self.app = app
        self._keys = [k.encode() for k in api_keys]
        self.max_body_bytes = max_body_bytes
        self.on_reject = on_reject

    def _authorized(self, scope: Scope) -> bool:
        if not self._keys or scope["path"] == "/health":
            return True
        header = b""
        for name, value in scope.get("headers", ()):
            if name == b"authorization":
                header = value
        scheme, _, given = header.partition(b" ")
        ok = False
        for key in self._keys:  # every key compared, in constant time each
            ok |= hmac.compare_digest(given.strip(), key)
        return ok and scheme.lower() == b"bearer"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = uuid.uuid4().hex[:16]
        scope.setdefault("state", {})["request_id"] = rid
        rid_header = (b"x-request-id", rid.encode())

        async def send_with_id(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), rid_header]}
            await send(message)

        if not self._authorized(scope):
            self.on_reject(scope, 401, "invalid or missing API key")
            await send_error(send_with_id, 401, "invalid or missing API key: send 'Authorization: Bearer <key>'",
                             code="invalid_api_key", headers=[(b"www-authenticate", b"Bearer")])
            return
        declared = None
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = None
        chunks: list[bytes] = []
        size = 0
        too_big = declared is not None and declared > self.max_body_bytes
        more = scope["method"] in ("POST", "PUT", "PATCH")
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body = message.get("body", b"")
            size += len(body)
            if size > self.max_body_bytes:
                too_big = True
            if not too_big:
                chunks.append(body)
            more = message.get("more_body", False) and size <= _DRAIN_LIMIT
        if too_big:
            self.on_reject(scope, 413, "body too large")
            await send_error(send_with_id, 413, f"request body is larger than the server's limit of "
                             f"{self.max_body_bytes} bytes (--max-body-bytes)", code="body_too_large",
                             headers=[(b"connection", b"close")])
            return
        buffered = {"type": "http.request", "body": b"".join(chunks), "more_body": False}
        replayed = False

        async def replay() -> dict[str, Any]:
            nonlocal replayed
            if not replayed:
                replayed = True
                return buffered
            return await receive()

        await self.app(scope, replay, send_with_id)
