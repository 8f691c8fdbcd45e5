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
    fig.tight_layout()
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out
