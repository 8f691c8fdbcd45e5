"""OpenAI error objects: every failure the server reports is ``{"error": {...}}`` with a status.

:func:`error_for` maps nlrl's exception tree to statuses: bad settings and prompts are 400, an
upstream server's failure is 502 with its message, anything else is an nlrl bug: 500 with the
request id (the traceback goes to the log, never into the body).
"""

from __future__ import annotations

from typing import Any

from .._exceptions import BackendError, ConfigError, NLRLError, PromptError, UnknownNameError

_TYPES = {400: "invalid_request_error", 401: "authentication_error", 403: "permission_error",
          404: "not_found_error", 405: "invalid_request_error", 413: "invalid_request_error",
          429: "rate_limit_error", 499: "cancelled", 502: "upstream_error", 503: "service_unavailable"}


class APIError(Exception):
    """An error the server answers with: status, message, and OpenAI's ``param``/``code``."""

    def __init__(self, status: int, message: str, *, param: str | None = None, code: str | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.param, self.code = status, message, param, code
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        return error_body(self.status, self.message, param=self.param, code=self.code)


def error_body(status: int, message: str, *, param: str | None = None, code: str | None = None) -> dict[str, Any]:
    etype = _TYPES.get(status, "server_error" if status >= 500 else "invalid_request_error")
    return {"error": {"message": message, "type": etype, "param": param, "code": code}}


class RunCancelled(BaseException):
    """Raised inside a strategy run whose client went away or whose server is shutting down.

    A BaseException, as :class:`asyncio.CancelledError` is, so library ``except Exception``
    blocks (a reward model guarding its own failures, say) let it through."""


def error_for(exc: BaseException, request_id: str) -> APIError:
    """The API error an exception raised while serving a request becomes."""
    if isinstance(exc, APIError):
        return exc
    if isinstance(exc, UnknownNameError):
        return APIError(400, str(exc), param=exc.kind, code=f"unknown_{exc.kind}")
    if isinstance(exc, PromptError):
        return APIError(400, str(exc), param="messages", code="invalid_prompt")
    if isinstance(exc, ConfigError):
        return APIError(400, str(exc), code="invalid_value")
    if isinstance(exc, BackendError) and exc.status in (400, 413, 422):
        return APIError(400, f"the upstream server refused the request: {exc}", code="upstream_rejected")
    if isinstance(exc, BackendError):
        where = f" ({exc.provider})" if exc.provider else ""
        status = 502
        headers = {}
        if exc.retry_after is not None:
            headers["Retry-After"] = str(max(1, int(round(exc.retry_after))))
        return APIError(status, f"upstream failure{where}: {exc}", code="upstream_error", headers=headers)
    if isinstance(exc, NLRLError):
        return APIError(400, str(exc), code="invalid_request")
    return APIError(500, f"internal error in nlrl (request id {request_id}); see the server log",
                    code="internal_error")
