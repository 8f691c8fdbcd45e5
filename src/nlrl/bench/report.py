"""Comparing benchmark runs: a table, and plots of accuracy against generated tokens and by level.

``nlrl report DIR [DIR...]`` loads each run directory's ``summary.json`` (and ``results.jsonl``),
prints one row per run and redraws the plots: for one run, ``run_overview.png`` (accuracy by
level, subject, type or domain with Wilson intervals, and the distribution of generated tokens,
right and wrong answers apart); for several, ``accuracy_vs_tokens.png`` and
``accuracy_by_level.png`` comparing them. Figures are drawn with matplotlib's object API on
the Agg canvas: no display needed, and no global pyplot state touched.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Sequence

from .._exceptions import RunStoreError

ACCURACY_VS_TOKENS = "accuracy_vs_tokens.png"
ACCURACY_BY_LEVEL = "accuracy_by_level.png"
RUN_OVERVIEW = "run_overview.png"


@dataclass(frozen=True)
class RunInfo:
    path: Path
    summary: dict[str, Any]
    rows: list[dict[str, Any]]

    @property
    def config(self) -> dict[str, Any]:
        return self.summary.get("config") or {}

    @property
    def label(self) -> str:
        c = self.config
        parts = [str(c.get("strategy", "?"))]
        if c.get("n", 1) != 1:
            parts.append(f"n={c['n']}")
        if c.get("temperature") not in (None, 0, 0.0):
            parts.append(f"T={c['temperature']}")
        return " ".join(parts)


def load_run(path: str | Path, *, rows: bool = True) -> RunInfo:
    """A run directory written by ``nlrl bench``."""
    p = Path(path)
    summary_path = p / "summary.json"
    if not summary_path.is_file():
        raise RunStoreError(f"{p} is not a benchmark run directory (no summary.json)")
    try:
        summary = json.loads(summary_path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise RunStoreError(f"cannot read {summary_path}: {exc}") from None
    results: list[dict[str, Any]] = []
    rpath = p / "results.jsonl"
    if rows and rpath.is_file():
        with open(rpath, encoding="utf-8") as fh:
            for line in fh:
                if line.strip():
                    try:
                        results.append(json.loads(line))
                    except json.JSONDecodeError:
                        continue  # a line cut by a kill; the store holds the truth
    return RunInfo(p, summary, results)


def _fmt_pct(x: Any) -> str:
    return "-" if x is None else f"{100 * float(x):.1f}"


def table_rows(runs: Sequence[RunInfo]) -> list[dict[str, str]]:
    """One row of strings per run (what the comparison table shows)."""
    out = []
    for r in runs:
        s, c = r.summary, r.config
        lo, hi = (s.get("ci95") or [None, None])[:2]
        tok = (s.get("tokens_per_sample") or {}).get("generated")
        out.append({
            "run": str(r.path),
            "dataset": str(c.get("dataset", "?")),
            "model": str(c.get("model", "?")),
            "strategy": r.label,
            "records": f"{s.get('n', 0)}" + ("" if s.get("complete", True) else f"/{s.get('selected')}"),
            "accuracy %": _fmt_pct(s.get("accuracy")),
            "95% CI": f"[{_fmt_pct(lo)}, {_fmt_pct(hi)}]",
            "tokens/sample": "-" if tok is None else f"{tok:.1f}",
            "wall s": "-" if s.get("wall_s") is None else f"{s['wall_s']:.1f}",
        })
    return out


def render_table(runs: Sequence[RunInfo]) -> Any:
    """A rich Table comparing ``runs``."""
    from rich.table import Table

    rows = table_rows(runs)
    table = Table(title="benchmark runs")
    for col in (rows[0].keys() if rows else ["run"]):
        table.add_column(col, justify="right" if col in ("records", "accuracy %", "tokens/sample", "wall s") else "left")
    for row in rows:
        table.add_row(*row.values())
    return table


def _figure(width: float = 7.0, height: float = 4.5) -> Any:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=110)
    FigureCanvasAgg(fig)
    return fig


def plot_accuracy_vs_tokens(runs: Sequence[RunInfo], path: str | Path) -> Path:
    """Accuracy (with its 95% CI) against mean generated tokens per sample; the runs of one
    strategy, dataset and model are joined in order of budget."""
    fig = _figure()
    ax = fig.add_subplot(1, 1, 1)
    groups: dict[tuple[str, str, str], list[RunInfo]] = {}
    for r in runs:
        c = r.config
        groups.setdefault((str(c.get("strategy")), str(c.get("dataset")), str(c.get("model"))), []).append(r)
    many_datasets = len({k[1] for k in groups}) > 1
    for (strategy, dataset, model), members in sorted(groups.items()):
        pts = sorted([((m.summary.get("tokens_per_sample") or {}).get("generated") or 0.0, m) for m in members
                      if m.summary.get("accuracy") is not None], key=lambda p: p[0]) if members else []
        if not pts:
            continue
        xs = [x for x, _ in pts]
        ys = [100 * m.summary["accuracy"] for _, m in pts]
        lo = [y - 100 * m.summary["ci95"][0] for y, (_, m) in zip(ys, pts)]
        hi = [100 * m.summary["ci95"][1] - y for y, (_, m) in zip(ys, pts)]
        label = strategy + (f" ({dataset})" if many_datasets else "")
        ax.errorbar(xs, ys, yerr=[lo, hi], marker="o", capsize=3, label=label)
        for x, y, (_, m) in zip(xs, ys, pts):
            n = m.config.get("n", 1)
            if n != 1:
                ax.annotate(f"n={n}", (x, y), textcoords="offset points", xytext=(4, 4), fontsize=7)
    ax.set_xlabel("generated tokens per sample (mean)")
    ax.set_ylabel("accuracy % (95% CI)")
    datasets = sorted({k[1] for k in groups})
    ax.set_title("accuracy vs generated tokens" + (f": {datasets[0]}" if len(datasets) == 1 else ""))
    if any(len(m) > 0 for m in groups.values()):
        xs_all = [(r.summary.get("tokens_per_sample") or {}).get("generated") or 0 for r in runs]
        if xs_all and min(xs_all) > 0 and max(xs_all) / min(xs_all) > 8:
            ax.set_xscale("log")
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    if groups:
        ax.legend(fontsize=8)
    fig.tight_layout()
    out = Path(path)
    fig.savefig(out)
    return out


def plot_accuracy_by_level(runs: Sequence[RunInfo], path: str | Path, key: str = "level") -> Path | None:
    """Grouped bars of accuracy per difficulty ``level`` for each run that has one; None when no
    run's records carry the key (GSM8K, say)."""
    with_levels = [r for r in runs if key in (r.summary.get("breakdown") or {})]
    if not with_levels:
        return None
    levels = sorted({lv for r in with_levels for lv in r.summary["breakdown"][key]}, key=_level_order)
    fig = _figure(max(6.0, 1.2 * len(levels) + 2), 4.5)
    ax = fig.add_subplot(1, 1, 1)
    width = 0.8 / len(with_levels)
    for i, r in enumerate(with_levels):
        b = r.summary["breakdown"][key]
        xs, ys, err_lo, err_hi = [], [], [], []
        for j, lv in enumerate(levels):
            if lv in b and b[lv]["accuracy"] is not None:
                y = 100 * b[lv]["accuracy"]
                xs.append(j + (i - (len(with_levels) - 1) / 2) * width)
                ys.append(y)
                err_lo.append(y - 100 * b[lv]["ci95"][0])
                err_hi.append(100 * b[lv]["ci95"][1] - y)
        ax.bar(xs, ys, width=width, yerr=[err_lo, err_hi], capsize=2, label=f"{r.label} ({r.config.get('dataset')})")
    ax.set_xticks(range(len(levels)))
    ax.set_xticklabels([str(lv) for lv in levels])
    ax.set_xlabel(key)
    ax.set_ylabel("accuracy % (95% CI)")
    ax.set_ylim(0, 100)
    ax.set_title(f"accuracy by {key}")
    ax.grid(alpha=0.3, axis="y")
    ax.legend(fontsize=8)
    fig.tight_layout()
    out = Path(path)
    fig.savefig(out)
    return out


def _level_order(v: str) -> tuple[int, Any]:
    named = {"easy": 0, "medium": 1, "hard": 2}
    if v in named:
        return (0, named[v])
    try:
        return (1, float(v))
    except ValueError:
        return (2, v)


def _groups(run: RunInfo) -> tuple[str, dict[str, dict[str, Any]]]:
    """The breakdown worth plotting for one run: the first of level, subject, type with two or
    more values, else the rows' domain (or checker), else the whole run as one group."""
    from .metrics import accuracy

    breakdown = run.summary.get("breakdown") or {}
    for key in ("level", "subject", "type"):
        if len(breakdown.get(key) or {}) > 1:
            groups = breakdown[key]
            return key, {g: groups[g] for g in sorted(groups, key=_level_order)}
    for key in ("domain", "checker"):
        values: dict[str, list[bool]] = {}
        for row in run.rows:
            if row.get(key) is not None:
                values.setdefault(str(row[key]), []).append(bool(row.get("correct")))
        if len(values) > 1:
            return key, {g: accuracy(values[g]) for g in sorted(values)}
    s = run.summary
    return "all", {"all": {"accuracy": s.get("accuracy"), "n": s.get("n", 0), "correct": s.get("correct", 0),
                           "ci95": s.get("ci95") or [0.0, 0.0]}}


def plot_run_overview(run: RunInfo, path: str | Path) -> Path:
    """One run at a glance: accuracy per group (95% Wilson interval, n under each bar) and a
    histogram of generated tokens per sample, correct and incorrect samples stacked."""
    fig = _figure(10.0, 4.2)
    ax, hx = fig.add_subplot(1, 2, 1), fig.add_subplot(1, 2, 2)
    key, groups = _groups(run)
    names = list(groups)
    ys = [100 * (groups[g]["accuracy"] or 0.0) for g in names]
    lo = [max(0.0, y - 100 * groups[g]["ci95"][0]) for y, g in zip(ys, names)]
    hi = [max(0.0, 100 * groups[g]["ci95"][1] - y) for y, g in zip(ys, names)]
    ax.bar(range(len(names)), ys, yerr=[lo, hi], capsize=3, color="#4c72b0")
    ax.set_xticks(range(len(names)))
    ax.set_xticklabels([f"{g}\nn={groups[g]['n']}" for g in names], fontsize=8,
                       rotation=30 if len(names) > 6 else 0)
    overall = run.summary.get("accuracy")
    if overall is not None and key != "all":
        ax.axhline(100 * overall, color="black", linestyle="--", linewidth=1,
                   label=f"all: {100 * overall:.1f}% (n={run.summary.get('n', 0)})")
        ax.legend(fontsize=8, loc="upper right")
    ax.set_ylim(0, 112)  # room for the legend above 100%
    ax.set_yticks(range(0, 101, 20))
    ax.set_ylabel("accuracy % (95% Wilson CI)")
    ax.set_title("accuracy" + ("" if key == "all" else f" by {key}"))
    ax.grid(alpha=0.3, axis="y")

    right = [float((r.get("usage") or {}).get("completion_tokens", 0)) for r in run.rows if r.get("correct")]
    wrong = [float((r.get("usage") or {}).get("completion_tokens", 0)) for r in run.rows if not r.get("correct")]
    if right or wrong:
        from matplotlib.ticker import MaxNLocator

        hx.yaxis.set_major_locator(MaxNLocator(integer=True))
        hx.hist([right, wrong], bins=min(20, max(5, (len(right) + len(wrong)) // 2)), stacked=True,
                color=["#55a868", "#c44e52"], label=[f"correct ({len(right)})", f"incorrect ({len(wrong)})"])
        mean = (run.summary.get("tokens_per_sample") or {}).get("generated")
        if mean is not None:
            hx.axvline(mean, color="black", linestyle="--", linewidth=1, label=f"mean {mean:.0f}")
        hx.legend(fontsize=8)
    else:
        hx.text(0.5, 0.5, "no per-sample results", ha="center", va="center", transform=hx.transAxes)
    hx.set_xlabel("generated tokens per sample")
    hx.set_ylabel("samples")
    hx.set_title("generated tokens")
    hx.grid(alpha=0.3, axis="y")
    c = run.config
    fig.suptitle(f"{c.get('dataset', '?')} · {run.label} · {c.get('model', '?')}", fontsize=10)
    fig.tight_layout()
    out = Path(path)
    fig.savefig(out)
    return out


def plot_runs(runs: Iterable[RunInfo | tuple[Path, dict[str, Any], list[dict[str, Any]]]],
              out_dir: str | Path) -> list[Path]:
    """Draw the plots for ``runs`` into ``out_dir``; returns the files written.

    One run gets :data:`RUN_OVERVIEW` (its rows are read from the run directory when not given);
    several get :data:`ACCURACY_VS_TOKENS` and, when records carry a level, :data:`ACCURACY_BY_LEVEL`.
    A directory that cannot be written is a :class:`RunStoreError` naming it.
    """
    infos = [r if isinstance(r, RunInfo) else RunInfo(Path(r[0]), r[1], r[2]) for r in runs]
    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
        if len(infos) == 1:
            run = infos[0]
            if not run.rows and (run.path / "summary.json").is_file():
                run = RunInfo(run.path, run.summary, load_run(run.path).rows)
            return [plot_run_overview(run, out / RUN_OVERVIEW)]
        written = [plot_accuracy_vs_tokens(infos, out / ACCURACY_VS_TOKENS)]
        by_level = plot_accuracy_by_level(infos, out / ACCURACY_BY_LEVEL)
    except OSError as exc:
        raise RunStoreError(f"cannot write plots to {out}: {exc.strerror or exc}") from None
    if by_level is not None:
        written.append(by_level)
    return written
