"""Servers of the HTTP conformance matrix, each started once per test session.

* ``llama-cpp-python``: its server as users start it (defaults, so ``--interrupt_requests`` is
  on: a request arriving mid-stream ends the stream early), no native ``n``;
* ``conformance``: the FastAPI server in this folder, native ``n`` with interleaved chunks;
* ``litellm``: the LiteLLM proxy routing one model name to the two llama-cpp-python servers of
  the parent conftest (``llama_server``, ``second_llama_server``), behind a master key.

LiteLLM is installed on first use into its own cached environment (see ``tests/helpers/http_servers.py``);
where that is impossible (no package registry) its tests skip, saying why, unless
``NLRL_REQUIRE_LITELLM`` is set (as ``.ci/run`` does), which makes it an error.

Set ``NLRL_CONFORMANCE_OUT=path.json`` to have the session write what the matrix found (the
data of docs/backends.md's compatibility table) to that file.
"""

from __future__ import annotations

import json
import os
import platform
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import pytest

from helpers.http_servers import (KEY_ENV, LITELLM_KEY, LITELLM_SPEC, MODEL_ALIAS, Unavailable,
                          start_conformance_server, start_litellm, start_llama)

@dataclass
class Target:
    """One server of the matrix and how nlrl talks to it."""

    name: str
    url: str
    models: dict[str, str]  # endpoint -> model name to ask for
    api_key: str | None = None
    info: dict[str, Any] = field(default_factory=dict)
    requests_log: Path | None = None


@pytest.fixture(scope="session")
def conformance_target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    d = tmp_path_factory.mktemp("conformance")
    proc = start_conformance_server(d)
    from helpers.conformance_server import MODEL

    yield Target("conformance", proc.url, {"completions": MODEL, "chat": MODEL},
                 info={"server": "tests/helpers/conformance_server.py (FastAPI)"},
                 requests_log=next(d.glob("*.requests.jsonl"), None) or d / "none")
    proc.stop()


@pytest.fixture(scope="session")
def llama_target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    import llama_cpp

    server = start_llama(tmp_path_factory.mktemp("llama-default"), interrupt=True)
    yield Target("llama-cpp-python", server.url, {"completions": MODEL_ALIAS, "chat": MODEL_ALIAS},
                 info={"server": f"llama-cpp-python {llama_cpp.__version__} "
                                 "(python -m llama_cpp.server via nlrl.backends.llama_server, default settings)"})
    server.stop()


@pytest.fixture(scope="session")
def litellm_target(tmp_path_factory: pytest.TempPathFactory, llama_server,
                   second_llama_server) -> Iterator[Target]:
    upstreams = [llama_server.url, second_llama_server.url]
    try:
        proc = start_litellm(tmp_path_factory.mktemp("litellm"), {
            # text-completion-openai/ sends /v1/completions upstream; openai/ sends chat.
            "gemma-text": (f"text-completion-openai/{MODEL_ALIAS}", upstreams),
            "gemma-chat": (f"openai/{MODEL_ALIAS}", upstreams),
        })
    except Unavailable as exc:
        if os.environ.get("NLRL_REQUIRE_LITELLM"):  # CI: the matrix must run in full
            raise
        pytest.skip(f"LiteLLM proxy unavailable: {exc}")
    yield Target("litellm", proc.url, {"completions": "gemma-text", "chat": "gemma-chat"},
                 api_key=LITELLM_KEY,
                 info={"server": f"LiteLLM proxy ({LITELLM_SPEC}) routing to two "
                                 "llama-cpp-python servers"})
    proc.stop()


@pytest.fixture
def target(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Target:
    t: Target = request.getfixturevalue(f"{request.param.replace('-', '_').split('_')[0]}_target")
    monkeypatch.setenv(KEY_ENV, t.api_key or "EMPTY")
    return t


class Findings:
    """What the matrix found, per server: capabilities and the cells that passed."""

    def __init__(self) -> None:
        self.servers: dict[str, dict[str, Any]] = {}
        self.cells: list[dict[str, Any]] = []

    def server(self, t: Target) -> dict[str, Any]:
        return self.servers.setdefault(t.name, {"url_kind": t.info.get("server")})

    def to_dict(self) -> dict[str, Any]:
        by_server: dict[str, dict[str, int]] = {}
        for c in self.cells:
            s = by_server.setdefault(c["server"], {"cells_passed": 0})
            s["cells_passed"] += 1
        return {"machine": {"python": platform.python_version(), "cpus": os.cpu_count(),
                            "written": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())},
                "servers": self.servers, "matrix": by_server, "cells": self.cells}


@pytest.fixture(scope="session")
def findings() -> Iterator[Findings]:
    f = Findings()
    yield f
    out = os.environ.get("NLRL_CONFORMANCE_OUT")
    if out:
        Path(out).write_text(json.dumps(f.to_dict(), indent=2) + "\n")
