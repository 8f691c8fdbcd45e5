"""Flags shared by every command that runs a model, and the one function that opens a backend."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, List, Optional

import typer
from typing_extensions import Annotated

from .._exceptions import ConfigError
from ..backends import Backend, SamplingParams, load_backend
from ..config import Settings, load_settings, start_logging

BackendOpt = Annotated[Optional[str], typer.Option(
    "--backend", "-b", metavar="NAME", help="Engine: embedded (default), openai, hf, scripted, or any registered backend.")]
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


StrategyOptionOpt = Annotated[Optional[List[str]], typer.Option(
    "--strategy-option", "-O", metavar="KEY=VALUE",
    help="KEY=VALUE passed to the strategy (repeatable; VALUE read as JSON when it parses), e.g. weighted=true.")]


def parse_pairs(pairs: list[str] | None, hint: str, *, values: bool = False) -> dict[str, Any]:
    """``KEY=VALUE`` options; with ``values``, VALUE is read as JSON when it parses (3, true, 0.5)."""
    out: dict[str, Any] = {}
    for item in pairs or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"{hint} expects KEY=VALUE, got {item!r}")
        parsed: Any = value
        if values:
            try:
                parsed = json.loads(value)
            except json.JSONDecodeError:
                parsed = value
        out[key.strip()] = parsed
    return out


RewardOpt = Annotated[Optional[str], typer.Option(
    "--reward", metavar="SPEC",
    help="Reward model for best-of-n, beam, refine: logprob, agreement, judge, verifier[:CHECKER], or "
         "prm:PATH-OR-URL (a trained PRM: a local checkpoint, or a vLLM server's /pooling or /classify URL).")]
RewardAggregationOpt = Annotated[Optional[str], typer.Option(
    "--reward-aggregation", metavar="HOW",
    help="How a PRM's step scores make an output's score: last (default), min, prod or mean.")]


def reward_spec(reward: str | None, aggregation: str | None = None) -> Any:
    """``--reward`` and ``--reward-aggregation`` as a :class:`~nlrl.rewards.RewardSpec` (None
    without ``--reward``), checked before any model loads; it is built on the run's backend."""
    from ..rewards import RewardSpec
    from ..rewards.prm import AGGREGATIONS

    if reward is None:
        if aggregation is not None:
            raise ConfigError("--reward-aggregation needs --reward (e.g. --reward prm:PATH)")
        return None
    if aggregation is not None and aggregation not in AGGREGATIONS:
        raise ConfigError(f"--reward-aggregation must be one of {', '.join(AGGREGATIONS)}, got {aggregation!r}")
    return RewardSpec.of(reward, {"aggregation": aggregation})


def check_prompt_options(difficulty: str | None = None, steps: int | None = None,
                         reward: str | None = None) -> None:
    """The options that shape prompts and scoring, checked before a model is loaded."""
    from ..tasks.prompts import DIFFICULTIES

    if difficulty is not None and difficulty not in DIFFICULTIES:
        raise ConfigError(f"--difficulty must be one of {', '.join(DIFFICULTIES)}, got {difficulty!r}")
    if steps is not None and steps < 1:
        raise ConfigError(f"--steps must be >= 1, got {steps}")
    if reward is not None:
        from ..rewards import parse_spec

        parse_spec(reward)


def backend_options(settings: Settings, base_url: list[str] | None = None) -> dict[str, Any]:
    """The keyword options :func:`load_backend` gets for the backend ``settings`` name (nothing is
    loaded: workers that build the backend themselves, e.g. on Ray, take these)."""
    from ..backends import backend_class

    return backend_class(settings.backend).options_from_settings(settings, base_url)


def build_backend(settings: Settings, base_url: list[str] | None = None) -> Backend:
    """Start logging into ``settings.run_dir`` and build the backend ``settings`` name."""
    start_logging(settings)
    return load_backend(settings.backend, settings.model, **backend_options(settings, base_url))


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


ExecutorOpt = Annotated[str, typer.Option(
    "--executor", metavar="NAME", help="Where samples are solved: local (this process) or ray (Ray workers; pip install 'nlrl[ray]').")]
RayAddressOpt = Annotated[Optional[str], typer.Option(
    "--ray-address", metavar="ADDRESS", help="Ray cluster to join: auto, ray://HOST:10001 or HOST:6379 (default: start a local one).")]
WorkersOpt = Annotated[Optional[int], typer.Option(
    "--workers", min=1, help="Ray workers, each building its own backend (default: cluster CPUs / --worker-cpus).")]
WorkerCpusOpt = Annotated[float, typer.Option("--worker-cpus", min=0.0, help="CPUs Ray reserves per worker.")]
WorkerGpusOpt = Annotated[float, typer.Option("--worker-gpus", min=0.0, help="GPUs Ray gives each worker (1: one GPU per worker).")]
BatchSizeOpt = Annotated[int, typer.Option("--batch-size", min=1, help="Samples per Ray task.")]


def open_executor(kind: str, settings: Settings, base_url: list[str] | None, *, cache: Path | None,
                  no_cache: bool, address: str | None, workers: int | None, num_cpus: float,
                  num_gpus: float, batch_size: int) -> Any:
    """``--executor ray``: a RayExecutor whose workers build the backend ``settings`` describe
    (nothing is loaded here). Ray is imported only when the executor opens."""
    from ..bench.executors import EXECUTORS, BackendRecipe, RayExecutor

    if kind not in EXECUTORS or kind == "local":
        raise ConfigError(f"--executor must be one of {', '.join(EXECUTORS)}, got {kind!r}")
    start_logging(settings)
    model_name = settings.model
    if model_name and Path(model_name).exists():  # workers may run elsewhere than this directory
        model_name = str(Path(model_name).resolve())
    # The completion cache is SQLite: shared only by the workers of one node, so never by default
    # (a path on a network file system would corrupt it); --cache names a node-local file.
    recipe = BackendRecipe(settings.backend, model_name, backend_options(settings, base_url),
                           cache=str(cache.resolve()) if cache is not None and not no_cache else None)
    return RayExecutor(recipe, workers=workers, address=address, num_cpus=num_cpus,
                       num_gpus=num_gpus, batch_size=batch_size)


def stdout_to_stderr(active: bool) -> Any:
    """While Ray runs, its driver prints cluster messages (a worker died, a task is retried) on
    stdout; send them to stderr so stdout carries only the command's result (``--json``)."""
    import contextlib
    import sys

    return contextlib.redirect_stdout(sys.stderr) if active else contextlib.nullcontext()
