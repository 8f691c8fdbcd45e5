"""A plot of a GPI result: the metric per iteration (0 = the plain language policy) and the
baselines as horizontal lines."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .loop import metric_series


def plot_result(result: dict[str, Any], path: str | Path, *, title: str | None = None) -> Path:
    """Write ``result``'s learning curve to ``path`` (PNG) and return the path."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    key = result["metric"]
    xs, ys = metric_series(result, key)
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(xs, ys, marker="o", label=f"language GPI ({key})")
    if result["env"] == "tictactoe":
        _, losses = metric_series(result, "loss")
        ax.plot(xs, losses, marker="x", linestyle=":", label="language GPI (loss)")
    styles = {"random": ("random policy", "tab:gray"), "optimal": ("shortest path (optimum)", "tab:green")}
    for name, (label, color) in styles.items():
        base = result.get("baselines", {}).get(name)
        if base is not None and key in base:
            ax.axhline(base[key], linestyle="--", color=color, label=f"{label}: {base[key]:g}")
    if result.get("chance") is not None:
        ax.axhline(result["chance"], linestyle="--", color="tab:gray", label=f"chance: {result['chance']:g}")
    ax.set_xticks(xs)
    ax.set_xlabel("GPI iteration (0 = language policy without GPI)")
    ax.set_ylabel(key)
    ax.set_title(title or f"{result['env']} · {result.get('model', '')}", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return _save(fig, path)


def plot_learning(result: dict[str, Any], path: str | Path, *, title: str | None = None) -> Path:
    """A learning GPI run (``nlrl.gpi.learn``): the metrics per iteration (0 = the untrained
    model) with their 95% intervals, and the baselines measured on the same episodes."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = result["iterations"]
    xs = [r["iteration"] for r in rows]
    keys = ("win", "draw", "loss") if result["env"] == "tictactoe" else ("avg_reward", "success")
    fig, axes = plt.subplots(1, 2 if result["env"] != "tictactoe" else 1, figsize=(9 if result["env"] != "tictactoe" else 6, 4))
    axes = list(axes) if hasattr(axes, "__len__") else [axes]
    colors = {"win": "tab:blue", "draw": "tab:orange", "loss": "tab:red", "avg_reward": "tab:blue", "success": "tab:blue"}
    for i, key in enumerate(keys):
        ax = axes[0] if result["env"] == "tictactoe" else axes[i]
        ys = [r[key] for r in rows]
        lo = [y - r["ci95"][key][0] for y, r in zip(ys, rows)]
        hi = [r["ci95"][key][1] - y for y, r in zip(ys, rows)]
        ax.errorbar(xs, ys, yerr=[lo, hi], marker="o", capsize=3, color=colors[key], label=f"trained model: {key}")
        for name, style in (("random", ":"), ("optimal", "--")):
            base = result.get("baselines", {}).get(name)
            if base is not None and key in base and (key == "win" or result["env"] != "tictactoe"):
                ax.axhline(base[key], linestyle=style, color="tab:gray" if name == "random" else "tab:green",
                           label=f"{name} policy {key}: {base[key]:g}")
        ax.set_xticks(xs)
        ax.set_xlabel("iteration (0 = untrained model)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
        ax.set_ylabel("fraction of games" if result["env"] == "tictactoe" else key)
    where = result.get("layout") or result.get("opponent") or ""
    fig.suptitle(title or f"learning GPI · {result['env']} {where} · {result['episodes']} episodes, 95% intervals",
                 fontsize=9)
    return _save(fig, path)


def _save(fig: Any, path: str | Path) -> Path:
    """Lay out ``fig``, write it to ``path`` (making its folder) and free it."""
    import matplotlib.pyplot as plt

    fig.tight_layout()
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out
