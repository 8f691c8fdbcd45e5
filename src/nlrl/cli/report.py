"""``nlrl report DIR [DIR...]``: compare benchmark runs in a table and redraw their plots."""

from __future__ import annotations

import json
from pathlib import Path
from typing import List, Optional

import typer

from .._exceptions import RunStoreError
from ._app import app, fail


@app.command()
def report(
    runs: List[Path] = typer.Argument(..., metavar="RUN", help="Run directories written by `nlrl bench`."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", metavar="DIR", help="Where the plots go (default: the run directory when one is given, else ./report)."),
    no_plots: bool = typer.Option(False, "--no-plots", help="Only print the table."),
    as_json: bool = typer.Option(False, "--json", help="Print the table as JSON lines."),
) -> None:
    """Print a table of benchmark runs and redraw their plots: one run's overview (accuracy by
    level or domain, tokens per sample), or accuracy vs tokens and by level across several."""
    from rich.console import Console

    from ..bench.report import load_run, plot_runs, render_table, table_rows

    files = [p for p in runs if p.is_file()]  # `nlrl report runs/*` also matches earlier plots
    for p in files:
        typer.echo(f"warning: skipping {p}: not a run directory", err=True)
    infos = [load_run(p, rows=False) for p in runs if not p.is_file()]
    if not infos:
        raise fail("no run directories given")
    if as_json:
        for row in table_rows(infos):
            typer.echo(json.dumps(row, ensure_ascii=False))
    else:
        import sys

        # Piped output has no width to fit: do not squeeze the columns into 80.
        Console(soft_wrap=False, width=None if sys.stdout.isatty() else 200).print(render_table(infos))
    if not no_plots:
        target = out or (infos[0].path if len(infos) == 1 else Path("report"))
        try:
            written = plot_runs(infos, target)
        except RunStoreError as exc:
            if out is not None:  # asked for by name: an error
                raise
            # The table is the answer; plots beside a read-only run are a bonus.
            typer.echo(f"warning: plots not written: {exc}; use --out DIR to put them elsewhere", err=True)
            return
        for path in written:
            typer.echo(f"wrote {path}", err=True)
