"""A fleet of OpenAI-compatible servers with load spread by least outstanding requests.

Each request goes to the server with the fewest requests in flight (ties rotate, so equal
servers share evenly). A server that just refused a connection is set aside for a short
cool-down, so retries go to its peers while it is down; when every server is down the least
recently failed one is tried anyway. The pool also remembers what each server taught us, such as
whether it honours ``n`` natively. All state is touched from one event loop thread only.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Iterable, Sequence
from urllib.parse import urlsplit

from .._exceptions import ConfigError


@dataclass
class Server:
    """One base URL and what the pool knows about it."""

    url: str
    outstanding: int = 0
    requests: int = 0
    retries: int = 0
    failures: int = 0
    down_until: float = 0.0
    #: True/False once learned: does the server return ``n`` choices when asked for them?
    native_n: bool | None = None
    #: learned: which tokenize route the server has ("" = none), None until asked
    tokenize_route: str | None = None
    #: learned: the server ends a streamed completion early (``[DONE]`` without a
    #: ``finish_reason``) when another request arrives, as llama-cpp-python's server does by
    #: default (``--interrupt_requests``); from then on it gets one request at a time.
    preempts: bool = False
    gate: asyncio.Lock = field(default_factory=asyncio.Lock, repr=False)

    @property
    def root(self) -> str:
        """The URL without its trailing ``/v1`` (tokenize routes live at the root)."""
        return self.url[: -len("/v1")] if self.url.endswith("/v1") else self.url

    def stats(self) -> dict[str, object]:
        return {"url": self.url, "requests": self.requests, "retries": self.retries,
                "failures": self.failures, "outstanding": self.outstanding}


def normalize_base_url(url: str) -> str:
    """``http://host:8000`` → ``http://host:8000/v1``; a given path is kept as is."""
    url = url.strip().rstrip("/")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(f"invalid base URL {url!r}: must be http(s)://host[:port][/path]")
    # OpenAI-compatible servers (vLLM, SGLang, llama.cpp, Ollama) all serve under /v1.
    return url if parts.path else url + "/v1"


def split_base_urls(base_url: str | Sequence[str]) -> list[str]:
    """Accept one URL, a comma-separated string (as the CLI passes it) or a list."""
    raw: Iterable[str] = base_url.split(",") if isinstance(base_url, str) else base_url
    urls = [normalize_base_url(u) for u in raw if u and u.strip()]
    if not urls:
        raise ConfigError("the openai backend needs base_url: one or more http(s) URLs")
    if len(set(urls)) != len(urls):
        raise ConfigError(f"base_url lists a server twice: {urls}")
    return urls


class ServerPool:
    """Pick servers by least outstanding requests, skipping those in cool-down."""

    def __init__(self, urls: Sequence[str]) -> None:
        self.servers = [Server(u) for u in urls]
        self._turn = 0

    def __len__(self) -> int:
        return len(self.servers)

    def pick(self, avoid: Server | None = None) -> Server:
        """The server to send the next request to (``avoid``: the one that just failed)."""
        now = time.monotonic()
        up = [s for s in self.servers if s.down_until <= now and s is not avoid]
        if not up:
            others = [s for s in self.servers if s is not avoid] or self.servers
            return min(others, key=lambda s: s.down_until)
        least = min(s.outstanding for s in up)
        n = len(self.servers)
        for k in range(n):
            s = self.servers[(self._turn + k) % n]
            if s in up and s.outstanding == least:
                self._turn = (self._turn + k + 1) % n
                return s
        raise AssertionError("unreachable: some server is up")

    def mark_down(self, server: Server, seconds: float) -> None:
        server.failures += 1
        server.down_until = time.monotonic() + seconds

    def mark_up(self, server: Server) -> None:
        server.down_until = 0.0

    def any_non_native_n(self) -> bool:
        return any(s.native_n is False for s in self.servers)

    def stats(self) -> list[dict[str, object]]:
        return [s.stats() for s in self.servers]
