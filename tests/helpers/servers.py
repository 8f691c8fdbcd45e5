"""Server child processes for the integration tests (and benchmarks that reuse their servers):
a free loopback port, a process logging to a file, a wait until it answers, a clean stop; and
llama-cpp-python's own server (``python -m llama_cpp.server``) serving the embedded GGUF.

Every real server the tests start — llama-cpp-python's, ``nlrl serve``, the conformance server,
the LiteLLM proxy — goes through these, so a server that dies on start-up or never answers fails
its fixture with the tail of its own log, never a hang.

llama-cpp-python's server runs one thread by default: llama.cpp's threads wait on each other at
every step, so on a busy two-core machine two threads are slower than one (measured: 4.1 s vs
1.5 s a request). Its access log goes to a file, so tests can count what it really received.
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
from typing import Sequence

import httpx


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def spawn(cmd: Sequence[str], log: Path, env: dict[str, str] | None = None, *,
          inherit_env: bool = True) -> subprocess.Popen:
    """Start ``cmd`` with stdout and stderr into ``log`` and no stdin; ``env`` is added to this
    process's environment (or replaces it with ``inherit_env=False``)."""
    with open(log, "wb") as fh:
        return subprocess.Popen(list(cmd), stdout=fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                env={**os.environ, **(env or {})} if inherit_env else dict(env or {}))


def terminate(proc: subprocess.Popen, grace_s: float = 10.0, sig: int = signal.SIGTERM) -> int | None:
    """Send ``sig``, wait ``grace_s``, then kill; the exit code."""
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(timeout=grace_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return proc.returncode


def wait_ready(proc: subprocess.Popen, probe_url: str, log: Path, what: str, timeout_s: float, *,
               headers: dict[str, str] | None = None) -> None:
    """Poll ``probe_url`` until it answers 200. A process that exits, or does not answer within
    ``timeout_s`` (it is then stopped), raises RuntimeError with the end of its log."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode}:\n{log.read_text(errors='replace')[-3000:]}")
        try:
            if httpx.get(probe_url, headers=headers, timeout=1.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    terminate(proc)
    raise RuntimeError(f"{what} not ready after {timeout_s}s:\n{log.read_text(errors='replace')[-3000:]}")


@dataclass
class Proc:
    """A server child process on a loopback port; ``url`` is its OpenAI base URL."""

    url: str
    proc: subprocess.Popen
    log: Path

    def stop(self) -> None:
        terminate(self.proc)


MODEL_ALIAS = "gemma-3-270m"


@dataclass
class LlamaServer(Proc):
    port: int = 0

    def completions_served(self) -> int:
        return self.log.read_text(errors="replace").count("POST /v1/completions")


def start_llama_server(log_dir: Path, *, port: int | None = None, threads: int = 1, interrupt: bool = False,
                       ready_timeout_s: float = 90.0) -> LlamaServer:
    """Start llama-cpp-python's server on 127.0.0.1 and wait until it lists its model.

    ``interrupt=True`` is the server's own default, as users run it: a request that queues behind
    a stream ends that stream early with [DONE] and no finish_reason. The tests' shared servers
    turn it off, since a benchmark with concurrent clients needs each request served whole."""
    from nlrl.backends.llama import default_model_path

    port = port or free_port()
    log = log_dir / f"llama-server-{port}.log"
    cmd = [sys.executable, "-m", "nlrl.backends.llama_server", "--model", default_model_path(),
           "--model_alias", MODEL_ALIAS, "--host", "127.0.0.1", "--port", str(port),
           "--n_ctx", "2048", "--n_threads", str(threads), "--n_threads_batch", str(threads),
           "--verbose", "False", "--interrupt_requests", str(interrupt)]
    server = LlamaServer(f"http://127.0.0.1:{port}/v1", spawn(cmd, log, {"PYTHONUNBUFFERED": "1"}), log, port)
    wait_ready(server.proc, server.url + "/models", log, f"llama server on port {port}", ready_timeout_s)
    return server
