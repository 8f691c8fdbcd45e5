"""``nlrl train-reward RUN_DIR... --out reward.npz``: fit a learned verifier on graded samples.

Every sampled completion in the runs' traces is graded against its record's reference; a
logistic regression on the model's embeddings of (question, sample) and cheap features learns
P(correct). Use it with ``--reward learned:reward.npz`` (best-of-n, weighted-best-of-n, beam,
auto). Needs scikit-learn (``pip install 'nlrl[learn]'``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import List, Optional

import typer

from ._app import app, fail
from .options import BackendOpt, ModelOpt, RunDirOpt, build_backend, cli_settings


@app.command("train-reward")
def train_reward(
    runs: List[Path] = typer.Argument(..., metavar="RUN", help="Run directories written by `nlrl bench` (a sampling strategy, n > 1, ideally on a train split)."),
    out: Path = typer.Option(..., "--out", "-o", metavar="FILE", help="Where the verifier goes (.npz)."),
    embed: Optional[bool] = typer.Option(None, "--embed/--no-embed", help="With the model's embeddings, or cheap features only (default: whichever cross-validates better)."),
    no_logprobs: bool = typer.Option(False, "--no-logprobs", help="Without the log-probability features."),
    c: Optional[float] = typer.Option(None, "--C", min=1e-6, help="Inverse regularisation strength (default: chosen by 5-fold cross-validated AUC)."),
    backend: BackendOpt = None,
    model: ModelOpt = None,
    run_dir: RunDirOpt = None,
) -> None:
    """Fit a learned verifier (P(sample is correct)) on the graded samples of benchmark runs."""
    from ..rewards.learned import train

    for r in runs:
        if not (r / "results.jsonl").is_file():
            raise fail(f"{r} is not a benchmark run directory (no results.jsonl)")
    if out.exists() and out.is_dir():
        raise fail(f"--out {out} is a directory")
    settings = cli_settings(backend, model, None, run_dir)
    with build_backend(settings) as engine:
        verifier = train(runs, engine, embed=embed, logprobs=not no_logprobs, C=c)
    verifier.save(out)
    typer.echo(json.dumps({"out": str(out), "features": verifier.spec.size,
                           "embedding_dim": verifier.spec.embedding_dim, **dict(verifier.meta)}))
