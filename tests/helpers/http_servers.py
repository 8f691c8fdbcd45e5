"""Start and stop the OpenAI-compatible servers of the HTTP conformance matrix.

* llama-cpp-python's server (``python -m llama_cpp.server``, through ``nlrl.backends.llama_server``) with the embedded GGUF;
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
from pathlib import Path
from typing import Sequence

from .servers import MODEL_ALIAS, LlamaServer, Proc, free_port, spawn, start_llama_server, wait_ready  # noqa: F401

HERE = Path(__file__).resolve().parent
LITELLM_SPEC = "litellm[proxy]==1.80.0"
LITELLM_KEY = "sk-nlrl-conformance"
#: the environment variable the matrix's backends read their API key from
KEY_ENV = "NLRL_CONFORMANCE_API_KEY"


class Unavailable(RuntimeError):
    """A server cannot be started here (its package cannot be installed)."""


def start_llama(log_dir: Path, *, interrupt: bool = True, threads: int = 1) -> LlamaServer:
    """llama-cpp-python's server; ``interrupt=True`` is its default (a request arriving while
    another streams ends that stream early), as users run it."""
    return start_llama_server(log_dir, interrupt=interrupt, threads=threads)


def _start(cmd: Sequence[str], log: Path, port: int, what: str, timeout_s: float,
           env: dict[str, str] | None = None, headers: dict[str, str] | None = None) -> Proc:
    p = Proc(f"http://127.0.0.1:{port}/v1", spawn(cmd, log, env), log)
    wait_ready(p.proc, p.url + "/models", log, what, timeout_s, headers=headers)
    return p


def start_conformance_server(log_dir: Path) -> Proc:
    port = free_port()
    log = log_dir / f"conformance-{port}.log"
    cmd = [sys.executable, str(HERE / "conformance_server.py"), "--port", str(port),
           "--log", str(log_dir / f"conformance-{port}.requests.jsonl")]
    return _start(cmd, log, port, "conformance server", 30)


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
    return _start(cmd, log, port, "LiteLLM proxy", 120, env, {"Authorization": f"Bearer {LITELLM_KEY}"})
