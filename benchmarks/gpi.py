"""Language GPI with the embedded model (Gemma 3 270M): the metric per iteration against baselines.

    python benchmarks/gpi.py                          # all three sections
    python benchmarks/gpi.py --sections maze          # one section
    python benchmarks/gpi.py --games 10 --iterations 3

Sections (each measured on the same episodes for every policy):

* tictactoe: 3x3 against the random opponent; iterative GPI with language TD (K variations of
  one move, V^L at the ends), candidates = top-k distinct policy samples. Baselines: a random
  policy and the plain language policy (iteration 0).
* maze: the official 10x13 double-T maze from a few start positions; iterative GPI with
  language TD over all legal moves. Baselines: random, the plain language policy, and the
  shortest-path optimum (BFS).
* dataset: StrategyQA; the policy is the solver's instruction, rewritten from a language
  evaluation of its training failures and kept only if held-out accuracy rises. Baselines: the
  starting instruction and chance.

Writes benchmarks/results/gpi.json (every run's full result, plus a summary: the metric per
iteration, calls and tokens per decision, parse failures, wall time, the machine's load) and
benchmarks/results/gpi.png. The sizes are small on purpose: two shared CPU cores.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from nlrl.backends import load_backend  # noqa: E402
from nlrl.gpi import GPIConfig, GPIRun, JsonCaller, make_env, metric_series  # noqa: E402
from nlrl.bench.datasets import load_dataset  # noqa: E402
from nlrl.gpi.dataset import DatasetGPI, split  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"


def _say(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def _env_summary(result: dict[str, Any]) -> dict[str, Any]:
    key = result["metric"]
    xs, ys = metric_series(result, key)
    lp = result["baselines"]["language_policy"]
    rows = result["iterations"]
    improved = sum(r["improved_states"] for r in rows)
    gpi_calls = sum(r["calls"] for r in rows)
    gpi_tokens = sum(r["prompt_tokens"] + r["completion_tokens"] for r in rows)
    total = result["usage"]["total"]
    out = {
        "metric": key,
        "per_iteration": dict(zip([f"iteration_{x}" for x in xs], ys)),
        "random_policy": result["baselines"]["random"][key],
        "language_policy_without_gpi": lp[key],
        "language_policy_calls_per_decision": lp["calls_per_step"],
        "language_policy_tokens_per_decision": lp["tokens_per_step"],
        "gpi_improved_states": improved,
        "gpi_calls_per_improved_decision": round(gpi_calls / improved, 2) if improved else None,
        "gpi_tokens_per_improved_decision": round(gpi_tokens / improved, 1) if improved else None,
        "gpi_calls_per_step_played": [r["calls_per_step"] for r in rows],
        "parse_failures": total["parse_failures"],
        "fallbacks": total["fallbacks"],
        "model_requests": total["requests"],
        "model_calls": total["calls"],
        "seconds_per_call": round(total["wall_s"] / total["calls"], 2) if total["calls"] else None,
        "wall_s": result["wall_s"],
    }
    if result["env"] == "tictactoe":
        out["loss_per_iteration"] = metric_series(result, "loss")[1]
        out["random_policy_loss"] = result["baselines"]["random"]["loss"]
    if "optimal" in result["baselines"]:
        out["shortest_path_optimum"] = result["baselines"]["optimal"][key]
    return out


def run_tictactoe(backend: Any, args: argparse.Namespace) -> dict[str, Any]:
    cfg = GPIConfig(mode="iterative", estimator="td", k=args.k, depth=1, mask="topk", top_k=2, policy_samples=4,
                    max_states=args.ttt_max_states, episodes=args.games, seed=args.seed)
    caller = JsonCaller(backend, max_tokens=args.max_tokens, retries=args.retries, seed=args.seed)
    return GPIRun(make_env("tictactoe", opponent="random"), backend, cfg, caller=caller,
                  progress=lambda m: _say(f"tictactoe: {m}")).run(args.iterations)


def run_maze(backend: Any, args: argparse.Namespace) -> dict[str, Any]:
    cfg = GPIConfig(mode="iterative", estimator="td", k=1, depth=1, mask="all",
                    max_states=args.maze_max_states, episodes=args.starts, seed=args.seed)
    caller = JsonCaller(backend, max_tokens=args.max_tokens, retries=args.retries, seed=args.seed)
    return GPIRun(make_env("maze"), backend, cfg, caller=caller,
                  progress=lambda m: _say(f"maze: {m}")).run(args.iterations)


def run_dataset(backend: Any, args: argparse.Namespace) -> dict[str, Any]:
    name = "strategyqa"
    train, heldout = split(load_dataset(name, strict=True), args.train, args.heldout)
    caller = JsonCaller(backend, max_tokens=64, retries=args.retries, seed=args.seed)
    return DatasetGPI(backend, train, heldout, dataset=name, caller=caller, seed=args.seed,
                      progress=lambda m: _say(f"dataset: {m}")).run(args.iterations)


def _dataset_summary(result: dict[str, Any]) -> dict[str, Any]:
    xs, ys = metric_series(result, "accuracy")
    total = result["usage"]["total"]
    solve = result["usage"]["by_role"].get("solve", {})
    return {
        "metric": "accuracy (held-out)",
        "per_iteration": dict(zip([f"iteration_{x}" for x in xs], ys)),
        "chance": result["chance"],
        "train_accuracy": [r["train_accuracy"] for r in result["iterations"]],
        "accepted": [r["accepted"] for r in result["iterations"]],
        "calls_per_question_solved": round(total["calls"] / solve["requests"], 2) if solve.get("requests") else None,
        "tokens_per_question_solved": round(total["total_tokens"] / solve["requests"], 1)
        if solve.get("requests") else None,
        "parse_failures": total["parse_failures"], "fallbacks": total["fallbacks"],
        "model_calls": total["calls"],
        "seconds_per_call": round(total["wall_s"] / total["calls"], 2) if total["calls"] else None,
        "final_instruction": result["final_instruction"], "wall_s": result["wall_s"],
    }


def plot(runs: dict[str, dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(runs), figsize=(5 * len(runs), 4), squeeze=False)
    for ax, (name, result) in zip(axes[0], runs.items()):
        key = result["metric"]
        xs, ys = metric_series(result, key)
        ax.plot(xs, ys, marker="o", label=f"language GPI: {key}")
        base = result["baselines"]
        if "random" in base:
            ax.axhline(base["random"][key], color="tab:gray", linestyle="--", label=f"random policy: {base['random'][key]:g}")
        if "optimal" in base:
            ax.axhline(base["optimal"][key], color="tab:green", linestyle="--",
                       label=f"shortest path: {base['optimal'][key]:g}")
        if result.get("chance") is not None:
            ax.axhline(result["chance"], color="tab:gray", linestyle="--", label=f"chance: {result['chance']:g}")
        if name == "tictactoe":
            ax.plot(xs, metric_series(result, "loss")[1], marker="x", linestyle=":", label="language GPI: loss")
        ax.set_xticks(xs)
        ax.set_xlabel("iteration (0 = language policy, no GPI)")
        ax.set_title(f"{name} · {result.get('model', '')}", fontsize=9)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sections", default="tictactoe,maze,dataset")
    ap.add_argument("--iterations", type=int, default=3)
    ap.add_argument("--games", type=int, default=6, help="tictactoe games per iteration")
    ap.add_argument("--starts", type=int, default=6, help="maze start positions per iteration")
    ap.add_argument("--ttt-max-states", type=int, default=2, help="tictactoe states improved per iteration")
    ap.add_argument("--maze-max-states", type=int, default=3, help="maze states improved per iteration")
    ap.add_argument("--k", type=int, default=2, help="tictactoe TD variations per candidate")
    ap.add_argument("--train", type=int, default=6)
    ap.add_argument("--heldout", type=int, default=6)
    ap.add_argument("--max-tokens", type=int, default=40)
    ap.add_argument("--retries", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1,
                    help="llama.cpp threads: 1 is several times faster than 2 when the cores are shared")
    ap.add_argument("--out", type=Path, default=RESULTS / "gpi.json")
    args = ap.parse_args(argv)

    started = time.perf_counter()
    load_start = os.getloadavg()
    backend = load_backend("embedded", n_ctx=2048, n_threads=args.threads)
    runs: dict[str, dict[str, Any]] = {}
    summary: dict[str, Any] = {}
    with backend:
        for section in args.sections.split(","):
            fn = {"tictactoe": run_tictactoe, "maze": run_maze, "dataset": run_dataset}[section]
            runs[section] = fn(backend, args)
            summary[section] = (_dataset_summary if section == "dataset" else _env_summary)(runs[section])
            _say(f"{section} done: {json.dumps(summary[section]['per_iteration'])}")
    report = {
        "benchmark": "gpi",
        "model": backend.model_name,
        "settings": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                    "load_average_start": [round(x, 2) for x in load_start],
                    "load_average_end": [round(x, 2) for x in os.getloadavg()]},
        "wall_s": round(time.perf_counter() - started, 1),
        "summary": summary,
        "runs": runs,
        "notes": [
            "iteration 0 is the plain language policy (greedy, one answer per observation); "
            "iteration i plays the table of improved actions and falls back to it elsewhere",
            "calls per improved decision = all calls of the GPI iterations / states improved "
            "(policy samples, V^L, TD aggregation, improvement, plus the policy calls of play)",
            "the machine's 2 cores were shared with other jobs: seconds per call include that contention",
        ],
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    plot(runs, args.out.with_suffix(".png"))
    _say(f"wrote {args.out} and {args.out.with_suffix('.png')} in {report['wall_s']}s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
