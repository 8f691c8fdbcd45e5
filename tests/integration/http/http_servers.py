"""Start and stop the OpenAI-compatible servers of the HTTP conformance matrix.

* llama-cpp-python's server (``python -m llama_cpp.server``) with the embedded GGUF;
* the conformance server (``conformance_server.py``, FastAPI, native interleaved ``n``);
* the LiteLLM proxy (``litellm[proxy]``) routing one model name to several upstream servers.
  LiteLLM pins much of its stack (pydantic, openai, fastapi, ...), so it never goes into the
  shared environment: it is installed once into its own virtual environment under
  ``~/.cache/nlrl-tests/`` (with ``uv`` when available, else ``venv`` + ``pip``), and run from
  there as a child process. It starts offline (``LITELLM_LOCAL_MODEL_COST_MAP=True``) with a
  master key, so nlrl's requests go through its authentication as a deployment's would.

``benchmarks/backend_http.py`` uses the same helpers.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import httpx

HERE = Path(__file__).resolve().parent
LITELLM_SPEC = "litellm[proxy]==1.80.0"
LITELLM_KEY = "sk-nlrl-conformance"
#: the environment variable the matrix's backends read their API key from
KEY_ENV = "NLRL_CONFORMANCE_API_KEY"


class Unavailable(RuntimeError):
    """A server cannot be started here (its package cannot be installed)."""


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Proc:
    """A server child process on a loopback port."""

    url: str
    proc: subprocess.Popen
    log: Path

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def _wait_ready(p: Proc, headers: dict[str, str] | None, timeout_s: float, what: str) -> Proc:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if p.proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {p.proc.returncode}:\n"
                               f"{p.log.read_text(errors='replace')[-2000:]}")
        try:
            if httpx.get(p.url + "/models", headers=headers, timeout=1.0).status_code == 200:
                return p
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    p.stop()
    raise RuntimeError(f"{what} not ready after {timeout_s}s:\n{p.log.read_text(errors='replace')[-2000:]}")


def _spawn(cmd: Sequence[str], log: Path, env: dict[str, str] | None = None) -> subprocess.Popen:
    with open(log, "wb") as fh:
        return subprocess.Popen(list(cmd), stdout=fh, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, env={**os.environ, **(env or {})})


MODEL_ALIAS = "gemma-3-270m"


def start_llama(log_dir: Path, *, interrupt: bool = True, threads: int = 1) -> Proc:
    """llama-cpp-python's server; ``interrupt=True`` is its default (a request arriving while
    another streams ends that stream early), as users run it."""
    from nlrl.backends.llama import default_model_path

    port = free_port()
    log = log_dir / f"llama-{port}.log"
    cmd = [sys.executable, "-m", "llama_cpp.server", "--model", default_model_path(),
           "--model_alias", MODEL_ALIAS, "--host", "127.0.0.1", "--port", str(port),
           "--n_ctx", "2048", "--n_threads", str(threads), "--n_threads_batch", str(threads),
           "--verbose", "False", "--interrupt_requests", str(interrupt)]
    return _wait_ready(Proc(f"http://127.0.0.1:{port}/v1", _spawn(cmd, log, {"PYTHONUNBUFFERED": "1"}),
                            log), None, 90, "llama-cpp-python server")


def start_conformance_server(log_dir: Path) -> Proc:
    port = free_port()
    log = log_dir / f"conformance-{port}.log"
    cmd = [sys.executable, str(HERE / "conformance_server.py"), "--port", str(port),
           "--log", str(log_dir / f"conformance-{port}.requests.jsonl")]
    return _wait_ready(Proc(f"http://127.0.0.1:{port}/v1", _spawn(cmd, log), log), None, 30,
                       "conformance server")


def litellm_venv(cache: Path | None = None) -> Path:
    """The LiteLLM virtual environment, created on first use; raises :class:`Unavailable`."""
    cache = cache or Path(os.environ.get("NLRL_TEST_CACHE", Path.home() / ".cache" / "nlrl-tests"))
    venv = cache / "litellm-venv"
    exe = venv / "bin" / "litellm"
    marker = venv / ".nlrl-spec"
    if exe.exists() and marker.exists() and marker.read_text() == LITELLM_SPEC:
        return venv
    try:
        cache.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise Unavailable(f"cannot create {cache}: {exc}") from exc
    with open(cache / "litellm-venv.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # parallel test sessions build it once
        if exe.exists() and marker.exists() and marker.read_text() == LITELLM_SPEC:
            return venv
        shutil.rmtree(venv, ignore_errors=True)
        uv = shutil.which("uv")
        if uv:
            steps = [[uv, "venv", "-q", "-p", sys.executable, str(venv)],
                     [uv, "pip", "install", "-q", "-p", str(venv / "bin" / "python"), LITELLM_SPEC]]
        else:
            steps = [[sys.executable, "-m", "venv", str(venv)],
                     [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", LITELLM_SPEC]]
        for cmd in steps:
            try:
                res = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
            except subprocess.TimeoutExpired as exc:
                shutil.rmtree(venv, ignore_errors=True)
                raise Unavailable(f"installing {LITELLM_SPEC} took over 900 s") from exc
            if res.returncode != 0:
                shutil.rmtree(venv, ignore_errors=True)
                raise Unavailable(f"cannot install {LITELLM_SPEC} into {venv}: "
                                  f"{(res.stderr or res.stdout).strip()[-400:]}")
        marker.write_text(LITELLM_SPEC)
    return venv


def start_litellm(log_dir: Path, routes: dict[str, tuple[str, Sequence[str]]],
                  routing: str = "least-busy") -> Proc:
    """Start the LiteLLM proxy. ``routes``: model name -> (LiteLLM model, upstream base URLs);
    one deployment per upstream, so the proxy spreads the model's requests over them."""
    venv = litellm_venv()
    port = free_port()
    lines = ["model_list:"]
    for name, (provider_model, upstreams) in routes.items():
        for url in upstreams:
            lines += [f"  - model_name: {name}", "    litellm_params:",
                      f"      model: {provider_model}", f"      api_base: {url}",
                      "      api_key: none"]
    lines += ["router_settings:", f"  routing_strategy: {routing}",
              "litellm_settings:", "  drop_params: false", "  num_retries: 0",
              "general_settings:", f"  master_key: {LITELLM_KEY}"]
    cfg = log_dir / f"litellm-{port}.yaml"
    cfg.write_text("\n".join(lines) + "\n")
    log = log_dir / f"litellm-{port}.log"
    cmd = [str(venv / "bin" / "litellm"), "--config", str(cfg), "--host", "127.0.0.1",
           "--port", str(port), "--num_workers", "1"]
    env = {"LITELLM_LOCAL_MODEL_COST_MAP": "True", "LITELLM_MASTER_KEY": LITELLM_KEY,
           "LITELLM_TELEMETRY": "False", "NO_DOCS": "True", "PYTHONUNBUFFERED": "1"}
    return _wait_ready(Proc(f"http://127.0.0.1:{port}/v1", _spawn(cmd, log, env), log),
                       {"Authorization": f"Bearer {LITELLM_KEY}"}, 120, "LiteLLM proxy")
