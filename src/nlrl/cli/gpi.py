"""``nlrl gpi``: language generalized policy iteration on a text environment or a dataset.

Writes ``OUT/results.json`` (``iterations``: one object per iteration with the metric, calls and
tokens per step, parse failures) and ``OUT/gpi.png``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Optional

import typer

from .._exceptions import ConfigError, UnknownNameError
from ..backends import backend_class
from ._app import app
from .options import BackendOpt, BaseUrlOpt, ModelOpt, RunDirOpt, build_backend, check_backend_name


def _known_specs() -> list[str]:
    from ..gpi.dataset import known_datasets
    from ..gpi.envs import known_envs

    return known_envs() + [f"dataset:{name}" for name in known_datasets()]


@app.command()
def gpi(
    env: str = typer.Option(..., "--env", "-e", help="tictactoe, maze, maze:LAYOUT or dataset:NAME."),
    iterations: int = typer.Option(3, "--iterations", "-k", help="GPI iterations (>= 1)."),
    out: Path = typer.Option(..., "--out", "-o", help="Directory for results.json and the plot."),
    games: Optional[int] = typer.Option(None, "--games", help="TicTacToe games per iteration."),
    episodes: Optional[int] = typer.Option(None, "--episodes", help="Episodes per iteration (maze: start positions)."),
    rollouts: int = typer.Option(1, "--rollouts", help="Maze: episodes per start position."),
    opponent: str = typer.Option("random", "--opponent", help="TicTacToe opponent: random or first."),
    mode: str = typer.Option("iterative", "--mode", help="iterative (table carried across iterations) or decision (GPI at every step)."),
    estimator: str = typer.Option("td", "--estimator", help="Q^L estimate: td (look-ahead + V^L) or mc (rollouts)."),
    k: int = typer.Option(2, "--k", help="TD variations or MC rollouts per candidate action."),
    depth: int = typer.Option(1, "--depth", help="TD: look-ahead moves after the candidate."),
    rollout_moves: int = typer.Option(10, "--rollout-moves", help="MC: moves per rollout at most."),
    mask: str = typer.Option("topk", "--mask", help="Candidates: topk (distinct policy samples) or all (legal actions)."),
    top_k: int = typer.Option(2, "--top-k", help="Candidates kept from the policy samples."),
    samples: int = typer.Option(4, "--samples", help="Policy samples drawn to find the top-k."),
    max_states: int = typer.Option(8, "--max-states", help="Iterative mode: states improved per iteration."),
    train: int = typer.Option(8, "--train", help="Datasets: training questions."),
    heldout: int = typer.Option(8, "--heldout", help="Datasets: held-out questions."),
    max_tokens: int = typer.Option(48, "--max-tokens", help="Token limit of each JSON answer."),
    retries: int = typer.Option(2, "--retries", help="Retries of an answer that does not parse."),
    temperature: float = typer.Option(0.0, "--temperature", help="First-attempt temperature (0 = greedy)."),
    seed: int = typer.Option(0, "--seed", help="Seed of episodes, sampling and fallbacks."),
    backend: BackendOpt = None,
    model: ModelOpt = None,
    base_url: BaseUrlOpt = None,
    run_dir: RunDirOpt = None,
    threads: Optional[int] = typer.Option(None, "--threads", help="Embedded backend: llama.cpp threads (1 is faster on busy cores; default: NLRL_THREADS, else one per core)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress lines."),
    learn: bool = typer.Option(False, "--learn", help="Train the model (LoRA) on rollout evaluations and improved actions each iteration; resumable (needs nlrl[train])."),
    states: int = typer.Option(40, "--states", help="--learn: states evaluated and distilled per iteration."),
    policy_rollouts: int = typer.Option(2, "--policy-rollouts", help="--learn: rollouts per action with the current model policy."),
    random_rollouts: int = typer.Option(16, "--random-rollouts", help="--learn: rollouts per action with a random policy."),
    epochs: int = typer.Option(2, "--epochs", help="--learn: passes over the targets per iteration."),
    lr: float = typer.Option(1e-3, "--lr", help="--learn: LoRA learning rate."),
    rank: int = typer.Option(8, "--rank", help="--learn: LoRA rank."),
    batch_size: int = typer.Option(8, "--batch-size", help="--learn: examples per training step."),
    value_targets: bool = typer.Option(True, "--value-targets/--no-value-targets", help="--learn: also distil the state evaluations V^L."),
    device: str = typer.Option("auto", "--device", help="--learn: torch device (auto, cpu, cuda)."),
    learn_estimator: str = typer.Option("mc", "--learn-estimator", help="--learn: mc (rollouts) or td (one step, then the model's V^L)."),
    validation_games: int = typer.Option(30, "--validation-games", help="--learn: episodes (seeds disjoint from the measured ones) that gate each trained adapter; 0: no gate."),
    retry_lr_factor: float = typer.Option(0.25, "--retry-lr-factor", help="--learn: a rejected adapter is retrained once from the kept one at lr times this."),
    hints: Optional[bool] = typer.Option(None, "--hints/--no-hints", help="--learn: the policy prompt adds state facts in words (a maze goal's direction); default: on for mazes."),
    restate: Optional[bool] = typer.Option(None, "--restate/--no-restate", help="--learn: the policy target's thought restates the position before the move; default: on for mazes."),
    select_epoch: Optional[bool] = typer.Option(None, "--select-epoch/--no-select-epoch", help="--learn: keep the epoch whose greedy moves match the targets best, not the last; default: on for mazes."),
) -> None:
    """Run language GPI and write OUT/results.json and OUT/gpi.png."""
    from ..backends import SamplingParams
    from ..bench.datasets import load_dataset
    from ..config import load_settings
    from ..gpi.dataset import DatasetGPI, known_datasets, split
    from ..gpi.envs import make_env
    from ..gpi.llm import JsonCaller
    from ..gpi.loop import GPIConfig, GPIRun
    from ..gpi.plot import plot_result

    SamplingParams(temperature=temperature, max_tokens=max_tokens, seed=seed)  # checked before any load
    if retries < 0:
        raise ConfigError(f"--retries must be >= 0, got {retries}")
    if iterations < 1:
        raise ConfigError(f"--iterations must be >= 1, got {iterations}")
    if games is not None and episodes is not None and games != episodes:
        raise ConfigError("--games and --episodes are the same setting; give one")
    n_episodes = games if games is not None else episodes
    say = (lambda _m: None) if quiet else (lambda m: typer.echo(m, err=True))

    if learn:
        _learn(env, iterations, out, n_episodes, rollouts, opponent, states, policy_rollouts, random_rollouts,
               rollout_moves, value_targets, epochs, lr, rank, max_tokens, retries, seed, model, backend,
               threads, device, say, learn_estimator, batch_size, validation_games, retry_lr_factor,
               hints=hints, restate=restate, select_epoch=select_epoch)
        return
    dataset = env[len("dataset:"):] if env.startswith("dataset:") else None
    if dataset is not None:
        if dataset not in known_datasets():
            raise UnknownNameError("environment", env, _known_specs())
        if n_episodes is not None:
            raise ConfigError("--games/--episodes are for tictactoe and maze; datasets use --train and --heldout")
        train_set, held_set = split(load_dataset(dataset, strict=True), train, heldout)
    else:
        try:
            options: dict[str, Any] = {"opponent": opponent} if env == "tictactoe" else {}
            text_env = make_env(env, **options)
        except UnknownNameError:
            raise UnknownNameError("environment", env, _known_specs()) from None
        config = GPIConfig(mode=mode, estimator=estimator, k=k, depth=depth, rollout_moves=rollout_moves,
                           mask=mask, top_k=top_k, policy_samples=samples, max_states=max_states,
                           episodes=n_episodes if n_episodes is not None else 10, rollouts=rollouts, seed=seed)

    # The same settings as every command (flags over NLRL_* over nlrl.toml); the sampling flags
    # above are gpi's own, sized for short JSON answers.
    settings = load_settings(backend=backend, model=model, run_dir=run_dir, threads=threads,
                             base_url=base_url[0] if base_url and len(base_url) == 1 else None)
    check_backend_name(settings)
    if threads is not None and "threads" not in backend_class(settings.backend).settings_options.values():
        raise ConfigError(f"--threads does not apply to the {settings.backend} backend")
    from ..bench.runner import make_out_dir

    out = make_out_dir(out)  # before any model call: a bad --out must not cost a run
    engine = build_backend(settings, base_url)
    with engine:
        caller = JsonCaller(engine, retries=retries, temperature=temperature, max_tokens=max_tokens, seed=seed)
        if dataset is not None:
            result = DatasetGPI(engine, train_set, held_set, dataset=dataset, caller=caller,
                                seed=seed, progress=say).run(iterations)
        else:
            result = GPIRun(text_env, engine, config, caller=caller, progress=say).run(iterations)

    (out / "results.json").write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    plot = plot_result(result, out / "gpi.png")
    typer.echo(f"wrote {out / 'results.json'} and {plot}")


def _learn(env: str, iterations: int, out: Path, episodes: Optional[int], rollouts: int, opponent: str,
           states: int, policy_rollouts: int, random_rollouts: int, rollout_moves: int, value_targets: bool,
           epochs: int, lr: float, rank: int, max_tokens: int, retries: int, seed: int, model: Optional[str],
           backend: Optional[str], threads: Optional[int], device: str, say: Any, estimator: str = "mc",
           batch_size: int = 8, validation_games: int = 30, retry_lr_factor: float = 0.25,
           hints: Optional[bool] = None, restate: Optional[bool] = None,
           select_epoch: Optional[bool] = None) -> None:
    """``--learn``: evaluate -> improve -> distil through the hf backend, in a resumable run dir."""

    from ..gpi.envs import make_env
    from ..gpi.learn import LearnConfig, LearningRun

    if env.startswith("dataset:"):
        raise ConfigError("--learn runs on tictactoe and maze, not on datasets")
    if backend not in (None, "hf"):
        raise ConfigError(f"--learn trains through the hf backend, not {backend!r}")
    try:
        text_env = make_env(env, **({"opponent": opponent} if env == "tictactoe" else {}))
    except UnknownNameError:
        raise UnknownNameError("environment", env, _known_specs()) from None
    config = LearnConfig(games=episodes if episodes is not None else 100, rollouts=rollouts, states=states,
                         policy_rollouts=policy_rollouts, random_rollouts=random_rollouts,
                         rollout_moves=rollout_moves, value_targets=value_targets, epochs=epochs, lr=lr,
                         rank=rank, max_tokens=max_tokens, retries=retries, seed=seed, estimator=estimator,
                         batch_size=batch_size, validation_games=validation_games,
                         retry_lr_factor=retry_lr_factor, hints=hints, restate=restate,
                         select_epoch=select_epoch)
    out.mkdir(parents=True, exist_ok=True)
    try:
        import torch
    except ImportError:
        raise ConfigError("--learn needs torch, transformers and peft: pip install 'nlrl[train]'") from None
    from ..backends.llama import env_threads

    n_threads = threads or env_threads()
    if n_threads:
        torch.set_num_threads(n_threads)
    if model:
        from ..backends.hf import HFBackend

        engine = HFBackend(model, device=device, chat=False)
    else:
        from ..gpi.train import load_embedded_hf

        say("loading the embedded model in transformers (the first time, its GGUF is dequantised and cached: minutes)")
        engine = load_embedded_hf(device)
    with engine:
        LearningRun(text_env, engine, out, config, progress=say).run(iterations)
    typer.echo(f"wrote {out / 'results.json'} and {out / 'gpi.png'}")
