"""The viewer's charts, drawn on the server as inline SVG: no script, no network, and every label
escaped (labels are model answers and dataset text).

Each function returns :class:`markupsafe.Markup` ready to put in a page.
"""

from __future__ import annotations

import math
from typing import Any, Sequence

from markupsafe import Markup, escape

PALETTE = ("#3b6fb6", "#d9822b", "#3a9a5b", "#b5443c", "#7d5ba6", "#8c6d46")


def _n(x: float) -> str:
    return f"{x:.1f}".rstrip("0").rstrip(".")


def _clip(text: Any, n: int) -> str:
    s = "" if text is None else str(text)
    s = " ".join(s.split())
    return s if len(s) <= n else s[: n - 1] + "…"


def hbars(items: Sequence[dict[str, Any]], *, label: str = "", fmt: str = "{:g}", css: str = "chart") -> Markup:
    """Horizontal bars: ``items`` of ``{"label", "value", "hi" (highlight), "title"}``."""
    if not items:
        return Markup("")
    top = max((float(it["value"] or 0) for it in items), default=0.0) or 1.0
    row, left, width = 24, 170, 300
    h = row * len(items) + 8
    parts = [f'<svg class="{css}" role="img" aria-label="{escape(label)}" width="{left + width + 70}" '
             f'height="{h}" viewBox="0 0 {left + width + 70} {h}">']
    for i, it in enumerate(items):
        y = 4 + i * row
        v = float(it["value"] or 0)
        w = max(1.0, width * v / top)
        cls = "bar hi" if it.get("hi") else "bar"
        title = escape(it.get("title") or f"{it['label']}: {fmt.format(v)}")
        parts.append(
            f'<g class="{cls}" data-label="{escape(str(it["label"]))}" data-value="{escape(fmt.format(v))}">'
            f"<title>{title}</title>"
            f'<text x="{left - 6}" y="{y + 16}" text-anchor="end">{escape(_clip(it["label"], 26))}</text>'
            f'<rect x="{left}" y="{y + 3}" width="{_n(w)}" height="{row - 8}" rx="2"></rect>'
            f'<text x="{left + w + 5:.1f}" y="{y + 16}">{escape(fmt.format(v))}</text></g>')
    parts.append("</svg>")
    return Markup("".join(parts))


def accuracy_bars(runs: Sequence[dict[str, Any]]) -> Markup:
    """Accuracy of each run as a bar with its 95% Wilson interval as a whisker (0-100%)."""
    runs = [r for r in runs if r.get("accuracy") is not None]
    if not runs:
        return Markup("")
    row, left, width = 26, 230, 320
    h = row * len(runs) + 30
    parts = [f'<svg class="chart acc" role="img" aria-label="accuracy with 95% interval" width="{left + width + 90}" '
             f'height="{h}" viewBox="0 0 {left + width + 90} {h}">']
    for t in range(0, 101, 25):
        x = left + width * t / 100
        parts.append(f'<line class="grid" x1="{_n(x)}" x2="{_n(x)}" y1="2" y2="{h - 20}"></line>'
                     f'<text class="tick" x="{_n(x)}" y="{h - 6}" text-anchor="middle">{t}%</text>')
    for i, r in enumerate(runs):
        y = 4 + i * row
        acc = float(r["accuracy"])
        lo, hi = (r.get("ci95") or [acc, acc])[:2]
        lo, hi = float(lo if lo is not None else acc), float(hi if hi is not None else acc)
        color = PALETTE[i % len(PALETTE)]
        parts.append(
            f'<g class="accbar"><title>{escape(r["label"])}: {100 * acc:.1f}% '
            f'(95% CI {100 * lo:.1f}-{100 * hi:.1f})</title>'
            f'<text x="{left - 6}" y="{y + 16}" text-anchor="end">{escape(_clip(r["label"], 34))}</text>'
            f'<rect x="{left}" y="{y + 4}" width="{_n(max(1.0, width * acc))}" height="{row - 10}" fill="{color}" '
            f'opacity="0.8"></rect>'
            f'<line class="whisker" x1="{_n(left + width * lo)}" x2="{_n(left + width * hi)}" y1="{y + 12}" '
            f'y2="{y + 12}"></line>'
            f'<text x="{_n(left + width + 8)}" y="{y + 16}">{100 * acc:.1f}%</text></g>')
    parts.append("</svg>")
    return Markup("".join(parts))


def line_chart(xs: Sequence[Any], series: dict[str, Sequence[Any]], *, baselines: dict[str, float] | None = None,
               ylabel: str = "", xlabel: str = "iteration") -> Markup:
    """Lines over iterations (missing values skipped), with horizontal dashed baselines."""
    vals = [float(v) for ys in series.values() for v in ys if isinstance(v, (int, float))]
    vals += [float(v) for v in (baselines or {}).values() if isinstance(v, (int, float))]
    if not xs or not vals:
        return Markup("")
    lo, hi = min(vals + [0.0]), max(vals)
    if hi - lo < 1e-9:
        hi = lo + 1.0
    W, H, L, B, T, R = 560, 260, 50, 36, 12, 150
    pw, ph = W - L - R, H - T - B
    n = max(1, len(xs) - 1)

    def px(i: int) -> float:
        return L + pw * i / n

    def py(v: float) -> float:
        return T + ph * (1 - (v - lo) / (hi - lo))

    parts = [f'<svg class="chart line" role="img" aria-label="{escape(ylabel)} per {escape(xlabel)}" width="{W}" '
             f'height="{H}" viewBox="0 0 {W} {H}">']
    for k in range(5):
        v = lo + (hi - lo) * k / 4
        parts.append(f'<line class="grid" x1="{L}" x2="{L + pw}" y1="{_n(py(v))}" y2="{_n(py(v))}"></line>'
                     f'<text class="tick" x="{L - 4}" y="{_n(py(v) + 4)}" text-anchor="end">{v:.2g}</text>')
    for i, x in enumerate(xs):
        parts.append(f'<text class="tick" x="{_n(px(i))}" y="{T + ph + 16}" text-anchor="middle">{escape(x)}</text>')
    parts.append(f'<text class="tick" x="{L + pw / 2:.0f}" y="{H - 4}" text-anchor="middle">{escape(xlabel)}</text>')
    legend_y = T + 6
    for j, (name, ys) in enumerate(series.items()):
        color = PALETTE[j % len(PALETTE)]
        pts = [(px(i), py(float(v))) for i, v in enumerate(ys) if isinstance(v, (int, float))]
        if pts:
            path = " ".join(f"{_n(x)},{_n(y)}" for x, y in pts)
            parts.append(f'<g class="series" data-name="{escape(name)}"><polyline fill="none" stroke="{color}" '
                         f'stroke-width="2" points="{path}"></polyline>')
            for (x, y), v in zip(pts, [v for v in ys if isinstance(v, (int, float))]):
                parts.append(f'<circle cx="{_n(x)}" cy="{_n(y)}" r="3.5" fill="{color}"><title>{escape(name)}: '
                             f'{v:g}</title></circle>')
            parts.append("</g>")
        parts.append(f'<rect x="{L + pw + 12}" y="{legend_y - 8}" width="10" height="10" fill="{color}"></rect>'
                     f'<text x="{L + pw + 26}" y="{legend_y + 1}">{escape(_clip(name, 20))}</text>')
        legend_y += 16
    for name, v in (baselines or {}).items():
        if isinstance(v, (int, float)):
            parts.append(f'<line class="baseline" x1="{L}" x2="{L + pw}" y1="{_n(py(float(v)))}" '
                         f'y2="{_n(py(float(v)))}"><title>{escape(name)}: {v:g}</title></line>'
                         f'<text class="tick" x="{L + pw + 12}" y="{legend_y + 1}">- - {escape(_clip(name, 14))} '
                         f'{v:g}</text>')
            legend_y += 16
    parts.append("</svg>")
    return Markup("".join(parts))


def fmt_pct(x: Any) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "–"
    return f"{100 * float(x):.1f}%"


def _stat_line(kind: str, stats: dict[str, Any]) -> str:
    def f(x: Any) -> str:
        return "–" if x is None else f"{x:.2f}" if isinstance(x, float) else str(x)

    if kind == "mcts":
        if stats.get("value") is None:  # the root
            return f"visits {f(stats.get('visits'))} · Q {f(stats.get('q'))}"
        return f"v {f(stats.get('value'))} · n {f(stats.get('visits'))} · Q {f(stats.get('q'))}"
    if kind == "particle-filter" and "weight" in stats:
        return f"score {f(stats.get('score'))} · w {f(stats.get('weight'))}"
    if "score" in stats:
        return f"score {f(stats.get('score'))}"
    return ""


def node_info(kind: str, node: dict[str, Any]) -> str:
    """A node's statistics and status in words (its tooltip and detail panel)."""
    names = {"value": "value (evaluator)", "visits": "visits", "q": "Q (mean backed-up value)", "score": "score",
             "weight": "weight", "subtree": "subtree", "particle": "particle"}
    parts = [f"{names.get(k, k)} {v:g}" if isinstance(v, float) else f"{names.get(k, k)} {v}"
             for k, v in node["stats"].items() if v is not None]
    flags = [w for w, on in (("wrote its answer", node["done"]), ("pruned" if kind != "particle-filter"
                             else "dropped at resampling", node["pruned"]), ("on the chosen path", node["chosen"]),
                             ("carried forward", node.get("carried"))) if on]
    return " · ".join([f"node {node['id']}", f"depth {node['depth']}", *parts, *flags])


def search_tree(tree: dict[str, Any]) -> Markup:
    """A search tree (:mod:`nlrl.view.tree`) drawn left to right: one column per depth, each
    leaf on its own row and a parent level with the middle of its children; each node shows its
    step above it (clipped; the full text is its tooltip and, on click, the detail panel) and its
    numbers below, so the edges, which leave a node level with its centre, cross neither.
    The chosen path is drawn thick, pruned nodes hollow, finished ones ringed."""
    nodes = tree["nodes"]
    if not nodes:
        return Markup("")
    kind = tree["kind"]
    by_id = {n["id"]: n for n in nodes}
    kids: dict[str | None, list[str]] = {}
    for n in nodes:
        p = n["parent"] if n["parent"] in by_id else None
        kids.setdefault(p, []).append(n["id"])
    rows: dict[str, float] = {}  # a leaf gets the next row, a parent the middle of its children's
    leaves = 0
    seen: set[str] = set()
    for top in kids.get(None, []):
        stack: list[tuple[str, bool]] = [(top, False)]  # iterative post-order: a deep tree cannot overflow
        while stack:
            nid, done = stack.pop()
            if done:
                below = [rows[c] for c in kids.get(nid, []) if c in rows]
                if below:
                    rows[nid] = (below[0] + below[-1]) / 2
                else:
                    rows[nid], leaves = leaves, leaves + 1
                continue
            if nid in seen:
                continue
            seen.add(nid)
            stack.append((nid, True))
            stack.extend((c, False) for c in reversed(kids.get(nid, [])) if c not in seen)
    dx, dy, r = 210, 44, 7
    depth = max(n["depth"] for n in nodes)
    W, H = 30 + dx * depth + 200, 24 + dy * max(1, leaves)

    def xy(n: dict[str, Any]) -> tuple[float, float]:
        return 14 + n["depth"] * dx, 20 + rows.get(n["id"], 0) * dy

    edges, drawn = [], []
    for n in nodes:
        x, y = xy(n)
        parent = by_id.get(n["parent"]) if n["parent"] is not None else None
        if parent is not None:
            px_, py_ = xy(parent)
            cls = "edge" + (" chosen" if n["chosen"] and parent["chosen"] else "") + (" pruned" if n["pruned"] else "")
            edges.append(f'<path class="{cls}" data-from="{escape(parent["id"])}" data-to="{escape(n["id"])}" '
                         f'd="M{_n(px_)},{_n(py_)} C{_n(px_ + dx / 2)},{_n(py_)} {_n(x - dx / 2)},{_n(y)} '
                         f'{_n(x)},{_n(y)}"></path>')
        classes = ["node", "pruned" if n["pruned"] else "kept"]
        classes += [c for c, on in (("done", n["done"]), ("chosen", n["chosen"]), ("carried", n.get("carried")),
                                    ("root", parent is None)) if on]
        info = node_info(kind, n)
        stat = _stat_line(kind, n["stats"])
        tip = info + "\n" + n["text"] + (f"\n{n['note']}" if n["note"] else "")
        drawn.append(
            f'<g class="{" ".join(classes)}" tabindex="0" role="button" data-node="{escape(n["id"])}" '
            f'data-parent="{escape(n["parent"] or "")}" data-depth="{n["depth"]}" data-text="{escape(n["text"])}" '
            f'data-info="{escape(info)}" data-note="{escape(n["note"])}"><title>{escape(tip)}</title>'
            f'<rect class="hit" x="{_n(x - r - 2)}" y="{_n(y - r - 15)}" width="{dx - 20}" height="{2 * r + 30}">'
            f'</rect>'
            f'<circle cx="{_n(x)}" cy="{_n(y)}" r="{r}"></circle>'
            f'<text class="step" x="{_n(x - r)}" y="{_n(y - r - 3)}">{escape(_clip(n["text"], 32))}</text>'
            f'<text class="stat" x="{_n(x - r)}" y="{_n(y + r + 11)}">{escape(stat)}</text></g>')
    return Markup(f'<svg class="chart tree search-tree" role="group" aria-label="{escape(kind)} search tree" '
                  f'width="{W}" height="{H}" viewBox="0 0 {W} {H}">' + "".join(edges) + "".join(drawn) + "</svg>")
