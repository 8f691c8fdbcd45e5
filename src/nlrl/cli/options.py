"""Flags shared by every command that runs a model, and the one function that opens a backend."""

from __future__ import annotations

from pathlib import Path
from typing import Any, List, Optional

import typer
from typing_extensions import Annotated

from ..backends import Backend, load_backend
from ..config import Settings, load_settings, setup_logging

BackendOpt = Annotated[Optional[str], typer.Option(
    "--backend", "-b", help="Engine: embedded (default), openai, hf, scripted.")]
ModelOpt = Annotated[Optional[str], typer.Option(
    "--model", "-m", help="GGUF path (embedded), model name (openai), id or path (hf), script file (scripted).")]
BaseUrlOpt = Annotated[Optional[List[str]], typer.Option(
    "--base-url", help="OpenAI-compatible server URL; repeat to spread load over several.")]
RunDirOpt = Annotated[Optional[Path], typer.Option(
    "--run-dir", help="Where logs go (default ./cache, or NLRL_RUN_DIR).")]


def open_backend(
    backend: str | None,
    model: str | None,
    base_url: list[str] | None,
    run_dir: Path | None,
    **overrides: Any,
) -> tuple[Settings, Backend]:
    """Merge flags over config file and environment, start logging, build the backend."""
    settings, name, model_name, options = backend_recipe(backend, model, base_url, run_dir, **overrides)
    return settings, load_backend(name, model_name, **options)


def backend_recipe(
    backend: str | None,
    model: str | None,
    base_url: list[str] | None,
    run_dir: Path | None,
    **overrides: Any,
) -> tuple[Settings, str, str | None, dict[str, Any]]:
    """What :func:`open_backend` would build, without building it: settings, backend name, model
    and options (for workers that build the backend themselves, e.g. on Ray)."""
    settings = load_settings(backend=backend, model=model, run_dir=run_dir,
                             base_url=base_url[0] if base_url and len(base_url) == 1 else None,
                             **overrides)
    setup_logging(settings.run_dir, settings.log_level)
    options: dict[str, Any] = {}
    if settings.backend == "openai":
        urls = base_url or ([settings.base_url] if settings.base_url else None)
        if urls:
            options["base_url"] = urls if len(urls) > 1 else urls[0]
    if settings.backend in ("embedded", "llama"):
        options["n_ctx"] = settings.n_ctx
        if settings.threads:
            options["n_threads"] = settings.threads
    if settings.backend == "hf":
        options.update(device=settings.device, dtype=settings.dtype, decode=settings.decode,
                       compile=settings.compile)
    if settings.chat and settings.backend in ("embedded", "llama", "hf", "scripted", "openai"):
        options["chat"] = True
    return settings, settings.backend, settings.model, options


ExecutorOpt = Annotated[str, typer.Option(
    "--executor", help="Where samples are solved: local (this process) or ray (Ray workers; pip install 'nlrl[ray]').")]
RayAddressOpt = Annotated[Optional[str], typer.Option(
    "--ray-address", help="Ray cluster to join: auto, ray://HOST:10001 or HOST:6379 (default: start a local one).")]
WorkersOpt = Annotated[Optional[int], typer.Option(
    "--workers", min=1, help="Ray workers, each building its own backend (default: cluster CPUs / --worker-cpus).")]
WorkerCpusOpt = Annotated[float, typer.Option("--worker-cpus", min=0.0, help="CPUs Ray reserves per worker.")]
WorkerGpusOpt = Annotated[float, typer.Option("--worker-gpus", min=0.0, help="GPUs Ray gives each worker (1: one GPU per worker).")]
BatchSizeOpt = Annotated[int, typer.Option("--batch-size", min=1, help="Samples per Ray task.")]


def open_executor(kind: str, backend: str | None, model: str | None, base_url: list[str] | None,
                  run_dir: Path | None, *, cache: Path | None, no_cache: bool, address: str | None,
                  workers: int | None, num_cpus: float, num_gpus: float, batch_size: int,
                  **overrides: Any) -> tuple[Settings, Any]:
    """``--executor ray``: settings and a RayExecutor whose workers build the backend the flags
    describe (nothing is loaded here). Ray is imported only when the executor opens."""
    from .._exceptions import ConfigError
    from ..bench.executors import EXECUTORS, BackendRecipe, RayExecutor

    if kind not in EXECUTORS or kind == "local":
        raise ConfigError(f"--executor must be one of {', '.join(EXECUTORS)}, got {kind!r}")
    settings, name, model_name, options = backend_recipe(backend, model, base_url, run_dir, **overrides)
    if model_name and Path(model_name).exists():  # workers may run elsewhere than this directory
        model_name = str(Path(model_name).resolve())
    # The completion cache is SQLite: shared only by the workers of one node, so never by default
    # (a path on a network file system would corrupt it); --cache names a node-local file.
    recipe = BackendRecipe(name, model_name, options,
                           cache=str(cache.resolve()) if cache is not None and not no_cache else None)
    return settings, RayExecutor(recipe, workers=workers, address=address, num_cpus=num_cpus,
                                 num_gpus=num_gpus, batch_size=batch_size)


def stdout_to_stderr(active: bool) -> Any:
    """While Ray runs, its driver prints cluster messages (a worker died, a task is retried) on
    stdout; send them to stderr so stdout carries only the command's result (``--json``)."""
    import contextlib
    import sys

    return contextlib.redirect_stdout(sys.stderr) if active else contextlib.nullcontext()
