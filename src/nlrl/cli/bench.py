"""``nlrl bench --dataset NAME --strategy NAME --out DIR``: run, grade and resume a benchmark."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, List, Optional

import typer

from .._exceptions import ConfigError
from ..backends import backend_class
from ._app import app
from .options import (BackendOpt, BaseUrlOpt, BatchSizeOpt, ExecutorOpt, ModelOpt, RayAddressOpt, RunDirOpt,
                      RewardAggregationOpt, RewardOpt, StrategyOptionOpt, WorkerCpusOpt, WorkerGpusOpt, WorkersOpt,
                      build_backend, check_prompt_options, cli_settings, open_executor, parse_pairs, reward_spec,
                      stdout_to_stderr)


def parse_shard(text: str | None) -> tuple[int, int] | None:
    if text is None:
        return None
    try:
        i, k = (int(x) for x in text.split("/"))
    except ValueError:
        raise ConfigError(f"--shard must be i/k, e.g. 0/4, got {text!r}") from None
    if not (k >= 1 and 0 <= i < k):
        raise ConfigError(f"--shard must be i/k with 0 <= i < k, got {text}")
    return i, k


@app.command()
def bench(
    dataset: str = typer.Option(..., "--dataset", "-d", help="A built-in dataset (gsm8k, math500, math, aime24, humaneval, mbpp, hotpotqa, hotpotqa-distractor, commonsenseqa, strategyqa, strategyqa-train, collie, arith, arith-dev, arith-train, minicode, minicode-dev, minicode-train) or a JSONL/JSON/CSV file (LiveCodeBench and APPS row layouts are read as stdio problems)."),
    out: Path = typer.Option(..., "--out", "-o", metavar="DIR", help="Run directory: results.jsonl, summary.json, plots, and the run store that makes reruns resume."),
    strategy: Optional[str] = typer.Option(None, "--strategy", "-s", help="Reasoning strategy (cot, self-consistency, best-of-n, ...)."),
    strategy_option: StrategyOptionOpt = None,
    n: Optional[int] = typer.Option(None, "--n", help="Samples / width / rounds the strategy may use."),
    max_tokens: Optional[int] = typer.Option(None, "--max-tokens", help="Token limit per completion."),
    max_total_tokens: Optional[int] = typer.Option(None, "--max-total-tokens", help="Generated-token cap per sample, over all its calls."),
    temperature: Optional[float] = typer.Option(None, "--temperature", help="Sampling temperature (0 = greedy)."),
    seed: int = typer.Option(0, "--seed", help="Random seed for sampling (part of the run's identity)."),
    limit: Optional[int] = typer.Option(None, "--limit", min=1, metavar="K", help="Only the first K records."),
    level: Optional[str] = typer.Option(None, "--level", metavar="K", help="Only the records at difficulty level K (arith, minicode, math500, math, ...; before --limit)."),
    shard: Optional[str] = typer.Option(None, "--shard", metavar="I/K", help="i/k: every k-th record from the i-th (after --limit)."),
    data_dir: Optional[Path] = typer.Option(None, "--data-dir", help="Benchmark data directory (default: NLRL_DATA_DIR, else the copy shipped with nlrl)."),
    field: Optional[List[str]] = typer.Option(None, "--field", metavar="ATTR=COLUMN", help="For a file: ATTR=COLUMN with ATTR in id, prompt, reference, test_cases, domain, checker (repeatable)."),
    checker: Optional[str] = typer.Option(None, "--checker", help="For a file: math, code, stdio, qa, choice, yesno or collie (default: inferred; LiveCodeBench and APPS rows: stdio)."),
    domain: Optional[str] = typer.Option(None, "--domain", help="For a file: math, coding or commonsense (default: from the checker)."),
    strict: bool = typer.Option(False, "--strict", help="A malformed data row is an error (default: skipped with a warning)."),
    force: bool = typer.Option(False, "--force", help="Replace a run of another configuration in --out."),
    concurrency: Optional[int] = typer.Option(None, "--concurrency", "-j", min=1, help="Samples in flight (default 8 for HTTP backends, else 1)."),
    difficulty: Optional[str] = typer.Option(None, "--difficulty", help="easy, medium or hard: shapes the prompt."),
    steps: Optional[int] = typer.Option(None, "--steps", help="Ask for at most this many reasoning steps."),
    reward: RewardOpt = None,
    reward_aggregation: RewardAggregationOpt = None,
    no_adaptive: bool = typer.Option(False, "--no-adaptive", help="Do not stop once the answer line is complete."),
    no_cache: bool = typer.Option(False, "--no-cache", help="Do not use the completion cache for greedy generations."),
    cache: Optional[Path] = typer.Option(None, "--cache", help="Completion cache file (default RUN_DIR/completions.sqlite)."),
    no_plots: bool = typer.Option(False, "--no-plots", help="Do not draw PNG plots."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
    as_json: bool = typer.Option(False, "--json", help="Print summary.json instead of a one-line summary."),
    backend: BackendOpt = None,
    model: ModelOpt = None,
    base_url: BaseUrlOpt = None,
    run_dir: RunDirOpt = None,
    executor: ExecutorOpt = "local",
    ray_address: RayAddressOpt = None,
    workers: WorkersOpt = None,
    worker_cpus: WorkerCpusOpt = 1.0,
    worker_gpus: WorkerGpusOpt = 0.0,
    batch_size: BatchSizeOpt = 16,
) -> None:
    """Run STRATEGY over DATASET, grade every sample, write results, summary and plots to --out.

    Each finished sample is saved as it lands: run the same command again after a crash, a kill
    or a backend failure and it resumes where it stopped.
    """
    from ..bench import BenchProgress, BenchRunner, CachingBackend, load_dataset

    shard_ix = parse_shard(shard)
    fields = parse_pairs(field, "--field")
    options = parse_pairs(strategy_option, "--strategy-option", values=True)
    from ..bench.runner import open_run_dir
    from ..config import setup_logging, stop_logging
    from ..strategies import Budget

    # Everything that can be checked is checked before the model loads.
    check_prompt_options(difficulty, steps, reward)
    scorer = reward_spec(reward, reward_aggregation)  # built by each sample's run, on its backend
    settings = cli_settings(backend, model, base_url, run_dir, strategy_options=options, strategy=strategy,
                            n=n, max_tokens=max_tokens, temperature=temperature, data_dir=data_dir)
    Budget(n=settings.n, max_tokens=settings.max_tokens, max_total_tokens=max_total_tokens)
    # The workers build the backend; this process only keeps the store.
    ex = None if executor == "local" else open_executor(
        executor, settings, base_url, cache=cache, no_cache=no_cache, address=ray_address, workers=workers,
        num_cpus=worker_cpus, num_gpus=worker_gpus, batch_size=batch_size)
    file_opts = {k: v for k, v in {"fields": fields or None, "checker": checker, "domain": domain}.items()
                 if v is not None}
    ds = load_dataset(dataset, data_dir=data_dir, strict=strict, settings=settings, **file_opts)
    if level is not None:  # checked before the model loads
        from ..bench.runner import select_level

        ds = select_level(ds, level)
    out = open_run_dir(out)
    for skip in ds.skipped[:20]:
        typer.echo(f"warning: skipped {skip}", err=True)
    if len(ds.skipped) > 20:
        typer.echo(f"warning: ... and {len(ds.skipped) - 20} more malformed rows skipped", err=True)
    run_log = setup_logging(out, settings.log_level)  # the run directory keeps its own log too
    try:
        engine: Any = _Nothing() if ex is not None else build_backend(settings, base_url)
        # A scripted backend is free, and two script files share its model name: never cache it.
        if ex is None and not no_cache and backend_class(settings.backend).cache_completions:
            engine = CachingBackend(engine, cache or Path(settings.run_dir) / "completions.sqlite")
        with engine, (ex or _Nothing()), stdout_to_stderr(ex is not None):
            runner = BenchRunner(
                None if ex is not None else engine, executor=ex, strategy=settings.strategy,
                strategy_options=options, n=settings.n, max_tokens=settings.max_tokens,
                max_total_tokens=max_total_tokens, temperature=settings.temperature, seed=seed,
                adaptive=not no_adaptive, difficulty=difficulty, steps=steps, reward=scorer, concurrency=concurrency,
                plots=not no_plots, backend_label=settings.backend,
                progress=BenchProgress(enabled=False) if quiet else None)
            summary = runner.run(ds, out, limit=limit, shard=shard_ix, force=force, level=level)
    finally:
        if run_log != Path(settings.run_dir) / "nlrl.log":
            stop_logging(run_log)
    if as_json:
        typer.echo(json.dumps(summary, ensure_ascii=False))
        return
    lo, hi = summary["ci95"]
    acc = summary["accuracy"]
    tok = summary["tokens_per_sample"]["generated"]
    typer.echo(f"{ds.name} · {runner.strategy_name} · records={summary['n']} · accuracy "
               f"{'-' if acc is None else f'{100 * acc:.1f}%'} (95% CI {100 * lo:.1f}-{100 * hi:.1f}) · "
               f"{'-' if tok is None else f'{tok:.1f}'} tokens/sample · {summary.get('wall_s', 0):.1f}s → {out}")


class _Nothing:
    """Stands in for the engine or executor a run does not have (``with`` on it does nothing)."""

    def close(self) -> None:
        pass

    def __enter__(self) -> "_Nothing":
        return self

    def __exit__(self, *exc: object) -> None:
        pass
