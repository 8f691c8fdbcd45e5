"""Real OpenAI-compatible servers for the integration tests: llama-cpp-python's own server
(``python -m llama_cpp.server``) on free loopback ports, serving the embedded GGUF.

Each server runs one thread: llama.cpp's threads wait on each other at every step, so on a
busy two-core machine two threads are slower than one (measured: 4.1 s vs 1.5 s a request). Started once per
test session, stopped (and waited for) at its end. Its access log goes to a file, so tests can
count what each server really received.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import httpx
import pytest

MODEL_ALIAS = "gemma-3-270m"


@dataclass
class LlamaServer:
    url: str
    port: int
    proc: subprocess.Popen
    log: Path

    def completions_served(self) -> int:
        return self.log.read_text(errors="replace").count("POST /v1/completions")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_llama_server(log_dir: Path, *, port: int | None = None, threads: int = 1,
                       ready_timeout_s: float = 90.0) -> LlamaServer:
    """Start llama-cpp-python's server on 127.0.0.1 and wait until it lists its model."""
    from nlrl.backends.llama import default_model_path

    port = port or free_port()
    log = log_dir / f"llama-server-{port}.log"
    cmd = [
        sys.executable, "-m", "llama_cpp.server",
        "--model", default_model_path(), "--model_alias", MODEL_ALIAS,
        "--host", "127.0.0.1", "--port", str(port),
        "--n_ctx", "2048", "--n_threads", str(threads), "--n_threads_batch", str(threads),
        "--verbose", "False",
        # By default a queued request interrupts the one streaming (it ends with [DONE] and no
        # finish_reason); a benchmark with concurrent clients needs each request served whole.
        "--interrupt_requests", "False",
    ]
    fh = open(log, "wb")
    proc = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    fh.close()
    server = LlamaServer(f"http://127.0.0.1:{port}/v1", port, proc, log)
    deadline = time.monotonic() + ready_timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"llama server exited with {proc.returncode}:\n{log.read_text()[-2000:]}")
        try:
            if httpx.get(server.url + "/models", timeout=1.0).status_code == 200:
                return server
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    server.stop()
    raise RuntimeError(f"llama server on port {port} not ready after {ready_timeout_s}s")


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
