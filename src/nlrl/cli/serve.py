"""``nlrl serve``: an OpenAI-compatible reasoning server (see docs/serve.md)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import List, Optional

import typer

from ._app import app
from .options import BackendOpt, BaseUrlOpt, ModelOpt, RunDirOpt, open_backend


@app.command()
def serve(
    host: str = typer.Option("127.0.0.1", "--host", help="Address to bind (loopback by default)."),
    port: int = typer.Option(8000, "--port", help="Port to listen on."),
    strategy: Optional[str] = typer.Option(None, "--strategy", "-s", help="Default strategy when a request names none."),
    samples: int = typer.Option(4, "--samples", help="Default samples / width / rounds of a multi-sample strategy."),
    max_tokens: Optional[int] = typer.Option(None, "--max-tokens", help="Tokens per completion when a request does not say (default 256)."),
    served_model_name: Optional[List[str]] = typer.Option(None, "--served-model-name", help="Name(s) the model answers to; repeatable."),
    api_key: Optional[str] = typer.Option(None, "--api-key", envvar="NLRL_API_KEY", show_envvar=True, help="Require 'Authorization: Bearer KEY' on every route but /health."),
    api_key_file: Optional[Path] = typer.Option(None, "--api-key-file", help="File of accepted keys, one a line."),
    max_concurrency: int = typer.Option(1, "--max-concurrency", help="Strategy runs executing at once."),
    max_queue: int = typer.Option(16, "--max-queue", help="Requests that may wait for a slot; more get 429."),
    max_body_bytes: int = typer.Option(1 << 20, "--max-body-bytes", help="Largest request body (413 beyond)."),
    max_n: int = typer.Option(8, "--max-n", help="Cap on a request's n (independent answers)."),
    max_samples: int = typer.Option(32, "--max-samples", help="Cap on nlrl.n (samples per run)."),
    max_tokens_cap: int = typer.Option(4096, "--max-tokens-cap", help="Cap on a request's max_tokens."),
    max_total_tokens_cap: int = typer.Option(65536, "--max-total-tokens-cap", help="Cap on nlrl.max_total_tokens."),
    grace: float = typer.Option(30.0, "--grace", help="Seconds in-flight requests get to finish on SIGTERM."),
    chat: bool = typer.Option(False, "--chat", help="Instruct model: render prompts with its chat template."),
    log_level: str = typer.Option("warning", "--log-level", help="uvicorn's log level."),
    backend: BackendOpt = None,
    model: ModelOpt = None,
    base_url: BaseUrlOpt = None,
    run_dir: RunDirOpt = None,
) -> None:
    """Serve the OpenAI API (/v1/chat/completions, /v1/completions, /v1/models) over nlrl's strategies."""
    try:
        from ..serve import ServeConfig, read_keys, run_server
        import fastapi  # noqa: F401
        import prometheus_client  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError as exc:
        from .._exceptions import ConfigError

        raise ConfigError(f"nlrl serve needs the serve extra: pip install 'nlrl[serve]' ({exc.name} is missing)") from None
    from ..strategies import STRATEGIES

    keys = read_keys(api_key, api_key_file)
    if strategy is not None:
        STRATEGIES.get(strategy)  # an unknown name fails before a model is loaded, listing the known ones
    config = ServeConfig(strategy=strategy or "cot", model_names=tuple(served_model_name or ()), api_keys=keys,
                         samples=samples, max_tokens=max_tokens or 256, max_concurrency=max_concurrency,
                         max_queue=max_queue, max_body_bytes=max_body_bytes, max_n=max_n,
                         max_samples=max_samples, max_tokens_cap=max_tokens_cap,
                         max_total_tokens_cap=max_total_tokens_cap)
    settings, engine = open_backend(backend, model, base_url, run_dir, chat=chat or None, strategy=strategy,
                                    max_tokens=max_tokens)
    STRATEGIES.get(settings.strategy)
    config = replace(config, strategy=settings.strategy, run_dir=settings.run_dir)
    with engine:
        typer.echo(f"nlrl serve: {engine.model_name} on http://{host}:{port}/v1 (strategy {settings.strategy}"
                   f"{', API key required' if keys else ''}); logs in {settings.run_dir}", err=True)
        run_server(engine, config, host=host, port=port, grace_s=grace, log_level=log_level)
