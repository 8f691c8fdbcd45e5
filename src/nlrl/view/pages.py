"""The viewer's pages, rendered from Jinja templates with autoescaping on.

The same sections make the served pages (one per URL) and the exported file (all of them in one
document, shown one at a time by their ``#anchor``); a links object says which: :class:`ServerLinks`
or :class:`ExportLinks`.
"""

from __future__ import annotations

import base64
import hashlib
import json
from functools import lru_cache
from importlib import resources
from itertools import combinations
from typing import Any, Sequence
from urllib.parse import quote

from markupsafe import Markup

from . import svg
from .runs import BenchRun, GPIRun, ServeLog, paired_flips, verdict_of
from .trace import blocks

#: at most this many runs get every pairwise comparison in an export
EXPORT_PAIRS_MAX_RUNS = 6


class ServerLinks:
    home = "/"
    compare_form = True
    compares: list[dict[str, str]] = []

    def run(self, i: int) -> str:
        return f"/runs/{i}"

    def sample(self, i: int, sid: str, pos: int | None = None) -> str:
        return f"/runs/{i}/sample?id={quote(str(sid), safe='')}"

    def sample_template(self, i: int) -> str:
        return f"/runs/{i}/sample?id={{id}}"

    def compare(self, ids: Sequence[int]) -> str:
        return "/compare?" + "&".join(f"run={i}" for i in ids)


class ExportLinks(ServerLinks):
    home = "#runs"
    compare_form = False

    def __init__(self) -> None:
        self.compares = []

    def run(self, i: int) -> str:
        return f"#run-{i}"

    def sample(self, i: int, sid: str, pos: int | None = None) -> str:
        return f"#run-{i}-s{pos}"

    def sample_template(self, i: int) -> str:
        return f"#run-{i}-s{{pos}}"

    def compare(self, ids: Sequence[int]) -> str:
        return "#compare-" + "-".join(str(i) for i in ids)


@lru_cache(maxsize=1)
def env() -> Any:
    from jinja2 import Environment, FileSystemLoader, StrictUndefined  # noqa: F401

    path = resources.files("nlrl.view") / "templates"
    e = Environment(loader=FileSystemLoader(str(path)), autoescape=True, trim_blocks=False,
                    lstrip_blocks=False)
    e.policies["json.dumps_kwargs"] = {"ensure_ascii": False, "sort_keys": False, "default": str}
    return e


def asset(name: str) -> str:
    return (resources.files("nlrl.view") / "static" / name).read_text(encoding="utf-8")


def script_json(data: Any) -> Markup:
    """JSON safe inside ``<script type="application/json">``: no ``<``, ``>`` or ``&`` survive, so
    no text in it can close the element."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"), default=str)
    text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    text = text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")
    return Markup(text)


def _render(template: str, **ctx: Any) -> str:
    ctx.setdefault("export", False)
    ctx.setdefault("live_url", None)
    return env().get_template(template).render(**ctx)


# -- contexts --------------------------------------------------------------------------------

def runs_context(runs: Sequence[BenchRun | GPIRun]) -> dict[str, Any]:
    items = [{"i": i, "head": r.headline()} for i, r in enumerate(runs)]
    chart = svg.accuracy_bars([{"label": f"{it['i']}: {it['head']['title']}", "accuracy": it["head"]["accuracy"],
                                "ci95": it["head"]["ci95"]} for it in items if it["head"]["kind"] == "bench"])
    return {"runs": items, "chart": chart}


def sample_row(row: dict[str, Any]) -> dict[str, Any]:
    return {**row, "_verdict": verdict_of(row), "_program": graded_program(row)}


def graded_program(row: dict[str, Any]) -> str | None:
    """For code, the program the grader ran (the answer's code with the reference's tests), rebuilt
    as text — parsed, never run — so the failing assert can be read beside the verdict."""
    if row.get("checker") != "code" or not row.get("output"):
        return None
    from .._exceptions import NLRLError
    from ..verifiers.code import build_program

    try:
        return build_program(str(row["output"]), row.get("reference"))
    except (NLRLError, TypeError, ValueError):
        return None


def gpi_context(run: GPIRun) -> dict[str, Any]:
    r = run.result
    series = run.series()
    xs = series.pop("x")
    baselines = {k: v.get(r["metric"]) for k, v in (r.get("baselines") or {}).items()
                 if k != "language_policy" and isinstance(v, dict)}
    if r.get("chance") is not None:
        baselines["chance"] = r["chance"]
    chart = svg.line_chart(xs, series, baselines=baselines, ylabel=r["metric"])
    base = (r.get("baselines") or {}).get("language_policy") or {}
    preferred = [r["metric"], "win", "draw", "loss", "success", "mean_return", "mean_steps", "accuracy",
                 "train_accuracy", "episodes", "steps", "improved_states", "table_size", "calls", "calls_per_step",
                 "tokens_per_step", "parse_failures", "wall_s"]
    present = {k for it in r["iterations"] for k, v in it.items() if isinstance(v, (int, float, str))} | \
        {k for k, v in base.items() if isinstance(v, (int, float))}
    columns = [k for k in dict.fromkeys(preferred) if k in present and k != "iteration"]
    groups: dict[Any, list[dict[str, Any]]] = {}
    for e in r.get("table") or []:
        if isinstance(e, dict):
            groups.setdefault(e.get("iteration"), []).append(e)
    return {"chart": chart, "columns": columns, "base": base, "games": _games(r),
            "baselines": [(k, v) for k, v in (r.get("baselines") or {}).items()
                          if k != "language_policy" and isinstance(v, dict)],
            "groups": sorted(groups.items(), key=lambda kv: kv[0] if isinstance(kv[0], int) else 0)}


SERVE_PAGE = 100
SERVE_EXPORT_ROWS = 500


def serve_context(log: ServeLog, *, i: int | None = None, status: str = "", strategy: str = "", page: int = 0,
                  export: bool = False) -> dict[str, Any]:
    """Totals, per-strategy latency and tokens, and one page of requests (newest first)."""
    import statistics
    from datetime import datetime, timezone
    from urllib.parse import urlencode

    recs = log.records

    def failed(r: dict[str, Any]) -> bool:
        try:
            return int(r.get("status") or 0) >= 400
        except (TypeError, ValueError):
            return True

    def num(r: dict[str, Any], k: str) -> float:
        v = r.get(k)
        return float(v) if isinstance(v, (int, float)) else 0.0

    groups = []
    for name in sorted({str(r.get("strategy", "-")) for r in recs}):
        rs = [r for r in recs if str(r.get("strategy", "-")) == name]
        lat = sorted(num(r, "latency_s") for r in rs)
        q = (lambda p: lat[min(len(lat) - 1, int(p * len(lat)))]) if lat else (lambda p: None)
        groups.append({"strategy": name, "count": len(rs), "errors": sum(failed(r) for r in rs),
                       "mean": statistics.fmean(lat) if lat else None, "p50": q(0.5), "p90": q(0.9),
                       "tokens": statistics.fmean(num(r, "completion_tokens") for r in rs) if rs else None})
    chart = svg.hbars([{"label": g["strategy"], "value": g["mean"] or 0.0} for g in groups],
                      label="mean latency per strategy (s)", fmt="{:.3f}", css="chart latency")
    chosen = [r for r in reversed(recs)
              if (not status or (status == "error") == failed(r)) and (not strategy or str(r.get("strategy")) == strategy)]
    pages = max(1, -(-len(chosen) // SERVE_PAGE))
    page = min(max(0, page), pages - 1)
    rows = chosen[:SERVE_EXPORT_ROWS] if export else chosen[page * SERVE_PAGE:(page + 1) * SERVE_PAGE]

    def when(r: dict[str, Any]) -> str:
        ts = r.get("ts")
        if not isinstance(ts, (int, float)):
            return "–"
        return datetime.fromtimestamp(ts, tz=timezone.utc).strftime("%Y-%m-%d %H:%M:%S")

    def link(p: int) -> str:
        query = {k: v for k, v in (("status", status), ("strategy", strategy), ("page", p)) if v not in ("", None)}
        return f"/runs/{i}?" + urlencode(query)

    return {"total": len(recs), "errors": sum(failed(r) for r in recs),
            "prompt_tokens": int(sum(num(r, "prompt_tokens") for r in recs)),
            "completion_tokens": int(sum(num(r, "completion_tokens") for r in recs)),
            "groups": groups, "chart": chart, "rows": [{**r, "_time": when(r)} for r in rows],
            "matching": len(chosen), "status": status, "strategy": strategy, "page": page, "pages": pages,
            "filterable": not export, "link": link}


def _games(r: dict[str, Any]) -> list[tuple[str, list[dict[str, Any]]]]:
    """The episodes played at each iteration (0: the language policy), each move with the
    improved-state entry in force for its state then (the candidates' language values)."""
    entries: dict[str, list[dict[str, Any]]] = {}
    for e in r.get("table") or []:
        if isinstance(e, dict):
            entries.setdefault(str(e.get("state")), []).append(e)
    base = ((r.get("baselines") or {}).get("language_policy") or {}).get("episode_log")
    rounds = [(0, "before GPI (language policy)", base)]
    rounds += [(it.get("iteration"), f"iteration {it.get('iteration')}", it.get("episode_log"))
               for it in r.get("iterations") or []]
    out = []
    for number, label, episodes in rounds:
        if not isinstance(episodes, list):
            continue
        shown = []
        for ep in episodes:
            moves = []
            for m in ep.get("moves") or []:
                known = [e for e in entries.get(str(m.get("state")), [])
                         if isinstance(number, int) and isinstance(e.get("iteration"), int) and e["iteration"] <= number]
                entry = max(known, key=lambda e: e["iteration"]) if known and m.get("source") in ("table", "gpi") else None
                moves.append({**m, "entry": entry})
            shown.append({**ep, "moves": moves})
        out.append((label, shown))
    return out


def compare_context(runs: Sequence[tuple[int, BenchRun]], links: ServerLinks) -> dict[str, Any]:
    items = [{"i": i, "head": r.headline(), "run": r} for i, r in runs]
    chart = svg.accuracy_bars([{"label": f"{it['i']}: {it['head']['title']}", "accuracy": it["head"]["accuracy"],
                                "ci95": it["head"]["ci95"]} for it in items])
    pairs = []
    first = items[0]
    for other in items[1:]:
        a, b = first, other
        flips = paired_flips(a["run"], b["run"])
        ra, rb = a["run"], b["run"]

        def link(i: int, run: BenchRun, sid: str) -> str:
            return links.sample(i, sid, run.position(sid))

        pairs.append({"a": a, "b": b, "flips": flips,
                      "a_links": [link(a["i"], ra, s) for s in flips["a_only"]],
                      "b_links_a": [link(b["i"], rb, s) for s in flips["a_only"]],
                      "b_links": [link(b["i"], rb, s) for s in flips["b_only"]],
                      "a_links_b": [link(a["i"], ra, s) for s in flips["b_only"]]})
    return {"runs": items, "chart": chart, "pairs": pairs}


# -- served pages ----------------------------------------------------------------------------

def runs_page(runs: Sequence[BenchRun | GPIRun], *, live: bool, version: str) -> str:
    ctx = runs_context(runs)
    return _render("page.html.jinja", kind="runs", title="runs", links=ServerLinks(),
                   live_url="/api/version" if live else None, version=version, status="live", **ctx)


def bench_page(i: int, run: BenchRun, version: str) -> str:
    return _render("page.html.jinja", kind="bench", title=run.title, links=ServerLinks(), i=i, run=run,
                   head=run.headline(), rows_json=script_json(run.table_rows()),
                   live_url=f"/api/runs/{i}" if run.status == "running" else None, version=version,
                   status=run.status)


def sample_page(i: int, run: BenchRun, row: dict[str, Any]) -> str:
    return _render("page.html.jinja", kind="sample", title=f"{row.get('id')} · {run.title}", links=ServerLinks(),
                   i=i, run=run, row=sample_row(row), blocks=blocks(row.get("trace") or []))


def gpi_page(i: int, run: GPIRun) -> str:
    return _render("page.html.jinja", kind="gpi", title=run.title, links=ServerLinks(), i=i, run=run,
                   gpi=gpi_context(run))


def serve_page(i: int, log: ServeLog, *, status: str, strategy: str, page: int) -> str:
    return _render("page.html.jinja", kind="serve", title=log.title, links=ServerLinks(), i=i, run=log,
                   sv=serve_context(log, i=i, status=status, strategy=strategy, page=page))


def compare_page(runs: Sequence[tuple[int, BenchRun]]) -> str:
    links = ServerLinks()
    return _render("page.html.jinja", kind="compare", title="compare", links=links,
                   cmp=compare_context(runs, links))


def error_page(heading: str, message: str) -> str:
    return _render("page.html.jinja", kind="error", title=heading, links=ServerLinks(), heading=heading,
                   message=message)


# -- the export ------------------------------------------------------------------------------

def export_html(runs: Sequence[BenchRun | GPIRun]) -> str:
    """Every view of ``runs`` as one self-contained HTML document (styles, script and data inline;
    its Content-Security-Policy allows no network request)."""
    links = ExportLinks()
    bench = [(i, r) for i, r in enumerate(runs) if isinstance(r, BenchRun)]
    compares = []
    if 2 <= len(bench) <= EXPORT_PAIRS_MAX_RUNS:
        for (ia, ra), (ib, rb) in combinations(bench, 2):
            c = compare_context([(ia, ra), (ib, rb)], links)
            c["anchor"] = links.compare([ia, ib])[1:]
            compares.append(c)
            links.compares.append({"href": links.compare([ia, ib]), "label": f"run {ia} vs run {ib}"})
    items = []
    for i, r in enumerate(runs):
        if isinstance(r, BenchRun):
            items.append({"kind": "bench", "i": i, "run": r, "head": r.headline(),
                          "rows_json": script_json(r.table_rows()),
                          "samples": [{"pos": p, "row": sample_row(row), "blocks": blocks(row.get("trace") or [])}
                                      for p, row in enumerate(r.rows)]})
        elif isinstance(r, ServeLog):
            items.append({"kind": "serve", "i": i, "run": r, "sv": serve_context(r, export=True)})
        else:
            items.append({"kind": "gpi", "i": i, "run": r, "gpi": gpi_context(r)})
    js = asset("view.js").replace("</", "<\\/")
    # Only this script may run (its hash is the page's script-src): were any model text ever to
    # reach the page unescaped, an injected script would still be refused.
    digest = base64.b64encode(hashlib.sha256(js.encode("utf-8")).digest()).decode()
    return _render("export.html.jinja", export=True, title="report", links=links, css=Markup(asset("view.css")),
                   js=Markup(js), script_hash=f"sha256-{digest}", compares=compares, items=items,
                   **runs_context(runs))
