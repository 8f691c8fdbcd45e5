"""``nlrl sweep SPEC.yaml``: a grid of benchmark runs as one job, locally or on a Ray cluster."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Optional

import typer

from ..backends import backend_class
from ._app import app, fail
from .options import (BackendOpt, BaseUrlOpt, BatchSizeOpt, ExecutorOpt, ModelOpt, RayAddressOpt, RunDirOpt,
                      WorkerCpusOpt, WorkerGpusOpt, WorkersOpt, build_backend, cli_settings, open_executor,
                      stdout_to_stderr)


@app.command()
def sweep(
    spec_file: Path = typer.Argument(..., help="YAML spec: a grid of dataset, strategy, n, budget and seed (see docs/benchmarking.md)."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", metavar="DIR", help="Sweep directory, one run directory per cell (default: the spec's 'out')."),
    data_dir: Optional[Path] = typer.Option(None, "--data-dir", help="Benchmark data directory (default: NLRL_DATA_DIR, else the copy shipped with nlrl)."),
    no_cache: bool = typer.Option(False, "--no-cache", help="Do not use the completion cache for greedy generations."),
    cache: Optional[Path] = typer.Option(None, "--cache", help="Completion cache file (default RUN_DIR/completions.sqlite; with Ray only when given, on node-local disk)."),
    no_plots: bool = typer.Option(False, "--no-plots", help="Do not draw PNG plots."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar and no line per cell."),
    as_json: bool = typer.Option(False, "--json", help="Print sweep.json instead of the table."),
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
    """Run every cell of SPEC_FILE's grid as a normal run directory, skip cells already finished,
    show progress over the whole grid, and end with a combined report (table, sweep.json, plots).

    Interrupted or failed: run the same command again; finished cells are skipped and the cell
    that stopped resumes where it was.
    """
    from ..bench import CachingBackend
    from ..bench.sweep import SweepSpec, run_sweep

    spec = SweepSpec.load(spec_file)
    root = out or spec.out
    if root is None:
        raise fail("no output directory: give --out or 'out' in the spec")
    backend, model = backend or spec.backend, model or spec.model
    engine: Any = None
    ex: Any = None
    settings = cli_settings(backend, model, base_url, run_dir, data_dir=data_dir)
    if executor != "local":
        ex = open_executor(executor, settings, base_url, cache=cache, no_cache=no_cache, address=ray_address,
                           workers=workers, num_cpus=worker_cpus, num_gpus=worker_gpus, batch_size=batch_size)
    else:
        engine = build_backend(settings, base_url)
        if not no_cache and backend_class(settings.backend).cache_completions:
            engine = CachingBackend(engine, cache or Path(settings.run_dir) / "completions.sqlite")

    def report(k: int, r: Any) -> None:
        if quiet:
            return
        acc = r.summary.get("accuracy")
        typer.echo(f"[{k + 1}/{len(spec.cells)}] {r.cell.label}: "
                   f"{'finished earlier' if r.skipped else 'done'} · accuracy "
                   f"{'-' if acc is None else f'{100 * acc:.1f}%'} (n={r.summary.get('n')}) → {r.path}", err=True)

    try:
        with stdout_to_stderr(ex is not None):
            if ex is not None:
                ex.open()
            results = run_sweep(spec, root, backend=engine, executor=ex, backend_label=settings.backend,
                                data_dir=data_dir, progress=False if quiet else None, plots=not no_plots,
                                on_cell=report)
    finally:
        if ex is not None:
            ex.close()
        if engine is not None:
            engine.close()
    if as_json:
        typer.echo(json.dumps({"cells": [r.to_dict() for r in results]}, ensure_ascii=False))
        return
    import sys

    from rich.console import Console

    from ..bench.report import load_run, render_table

    Console(soft_wrap=False, width=None if sys.stdout.isatty() else 200).print(
        render_table([load_run(r.path, rows=False) for r in results]))
