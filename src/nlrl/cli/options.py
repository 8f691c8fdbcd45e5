"""Flags shared by every command that runs a model, and the one function that opens a backend."""

from __future__ import annotations

from pathlib import Path
from typing import Any, List, Optional

import typer
from typing_extensions import Annotated

from .._exceptions import ConfigError
from ..backends import Backend, SamplingParams, load_backend
from ..config import Settings, load_settings, start_logging

BackendOpt = Annotated[Optional[str], typer.Option(
    "--backend", "-b", metavar="NAME", help="Engine: embedded (default), openai, hf, scripted.")]
ModelOpt = Annotated[Optional[str], typer.Option(
    "--model", "-m", metavar="MODEL", help="GGUF path (embedded), model name (openai), id or path (hf), script file (scripted).")]
BaseUrlOpt = Annotated[Optional[List[str]], typer.Option(
    "--base-url", metavar="URL", help="OpenAI-compatible server URL; repeat to spread load over several.")]
RunDirOpt = Annotated[Optional[Path], typer.Option(
    "--run-dir", metavar="DIR",
    help="Where nlrl.log and the completion cache go (default: NLRL_RUN_DIR, else the user cache "
         "directory, ~/.cache/nlrl on Linux).")]


def cli_settings(
    backend: str | None,
    model: str | None,
    base_url: list[str] | None,
    run_dir: Path | None,
    *,
    strategy_options: dict[str, Any] | None = None,
    **overrides: Any,
) -> Settings:
    """Flags over environment over config file, checked before anything is loaded: a bad
    ``--n``, ``--temperature``, ``--max-tokens``, ``--seed`` or ``--strategy`` (from a flag,
    ``NLRL_*`` or nlrl.toml) fails in milliseconds, not after the model has loaded."""
    settings = load_settings(backend=backend, model=model, run_dir=run_dir,
                             base_url=base_url[0] if base_url and len(base_url) == 1 else None,
                             **overrides)
    check_backend_name(settings)
    SamplingParams(n=settings.n, temperature=settings.temperature or 0.0,
                   max_tokens=settings.max_tokens, seed=settings.seed)
    from ..strategies import STRATEGIES, get_strategy

    if strategy_options:  # building it checks the options too; strategies hold no resources
        try:
            get_strategy(settings.strategy, **strategy_options)
        except TypeError as exc:  # an option the constructor does not take
            raise ConfigError(f"--strategy-option for {settings.strategy}: {exc}") from None
    else:
        STRATEGIES.get(settings.strategy)
    return settings


def check_backend_name(settings: Settings) -> None:
    """An unknown backend name fails listing the known ones, without importing any backend."""
    from .._exceptions import UnknownNameError
    from ..backends import BACKENDS

    if settings.backend not in BACKENDS:
        raise UnknownNameError("backend", settings.backend, BACKENDS.names())


def check_prompt_options(difficulty: str | None = None, steps: int | None = None,
                         reward: str | None = None) -> None:
    """The options that shape prompts and scoring, checked before a model is loaded."""
    from ..tasks.prompts import DIFFICULTIES

    if difficulty is not None and difficulty not in DIFFICULTIES:
        raise ConfigError(f"--difficulty must be one of {', '.join(DIFFICULTIES)}, got {difficulty!r}")
    if steps is not None and steps < 1:
        raise ConfigError(f"--steps must be >= 1, got {steps}")
    if reward is not None:
        from ..rewards import REWARDS

        REWARDS.get(reward)


def build_backend(settings: Settings, base_url: list[str] | None = None) -> Backend:
    """Start logging into ``settings.run_dir`` and build the backend ``settings`` name."""
    start_logging(settings)
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
    return load_backend(settings.backend, settings.model, **options)


def open_backend(
    backend: str | None,
    model: str | None,
    base_url: list[str] | None,
    run_dir: Path | None,
    **overrides: Any,
) -> tuple[Settings, Backend]:
    """Merge flags over config file and environment, check them, start logging, build the backend."""
    settings = cli_settings(backend, model, base_url, run_dir, **overrides)
    return settings, build_backend(settings, base_url)
