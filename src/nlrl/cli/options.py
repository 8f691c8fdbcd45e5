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
    return settings, load_backend(settings.backend, settings.model, **options)
