"""Real OpenAI-compatible servers for the integration tests: llama-cpp-python's own server
(``python -m llama_cpp.server``, through ``nlrl.backends.llama_server``) on free loopback ports, serving the embedded GGUF (started by
``tests/helpers/servers.py``). Started once per test session, stopped (and waited for) at its end.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest
from helpers.servers import LlamaServer, start_llama_server


@pytest.fixture(scope="session")
def llama_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LlamaServer]:
    server = start_llama_server(tmp_path_factory.mktemp("llama-server"))
    yield server
    server.stop()


@pytest.fixture(scope="session")
def second_llama_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LlamaServer]:
    server = start_llama_server(tmp_path_factory.mktemp("llama-server-2"))
    yield server
    server.stop()


@pytest.fixture
def start_server(tmp_path: Path) -> Iterator:
    """A factory for servers a test controls itself (stopped at the end of the test)."""
    started: list[LlamaServer] = []

    def start(**kw: object) -> LlamaServer:
        started.append(start_llama_server(tmp_path, **kw))  # type: ignore[arg-type]
        return started[-1]

    yield start
    for s in started:
        s.stop()
