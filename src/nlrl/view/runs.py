"""Reading the run directories ``nlrl view`` shows: benchmark runs and GPI runs.

A benchmark run (``nlrl bench --out DIR``) is read from its run store (``run.sqlite``, opened
read-only, so a run still being written can be watched) and, where the store cannot be read, from
``results.jsonl``; its configuration and time come from ``summary.json`` or the store. A GPI run
(``nlrl gpi --out DIR``) is its ``results.json``.

Everything here is read again when the files change (:meth:`BenchRun.refresh`), never written.
"""

from __future__ import annotations

import json
import os
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .._exceptions import RunStoreError
from ..bench.metrics import summarize, wilson_interval
from ..bench.runner import RESULTS, STORE, SUMMARY

GPI_RESULTS = "results.json"
#: the request log ``nlrl serve`` writes in its run directory (one JSON object per request)
SERVE_LOG = "serve-requests.jsonl"
#: run files the server may send (a run's own plots and data), by suffix
SERVABLE = frozenset({".png", ".svg", ".json", ".jsonl"})

FINISHED, RUNNING, INTERRUPTED = "finished", "running", "interrupted"


def open_run(path: str | os.PathLike[str]) -> "BenchRun | GPIRun | ServeLog":
    """The run in ``path``; :class:`RunStoreError` (one line) if it is not a run directory."""
    p = Path(path)
    if not p.exists():
        raise RunStoreError(f"{p}: no such directory")
    if not p.is_dir():
        raise RunStoreError(f"{p} is not a directory (give a run directory written by nlrl bench or nlrl gpi)")
    if (p / STORE).is_file() or (p / RESULTS).is_file() or (p / SUMMARY).is_file():
        run = BenchRun(p)
        run.refresh()
        return run
    if (p / GPI_RESULTS).is_file():
        return GPIRun(p)
    if (p / SERVE_LOG).is_file():
        return ServeLog(p)
    raise RunStoreError(f"{p} is not a run directory (no run.sqlite, results.jsonl, summary.json, "
                        f"GPI results.json or {SERVE_LOG})")


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RunStoreError(f"cannot read {path.name}: {exc}") from None


def _mtime(path: Path) -> float | None:
    try:
        return path.stat().st_mtime_ns
    except OSError:
        return None


def _lock_held(run_dir: Path) -> bool:
    """True while an ``nlrl bench`` process holds the directory's lock (a shared probe, released
    at once, so the run itself is never blocked)."""
    lock = run_dir / ".lock"
    if not lock.is_file():
        return False
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX
        return False
    try:
        with open(lock, "rb") as fh:
            try:
                fcntl.flock(fh, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except OSError:
                return True
            fcntl.flock(fh, fcntl.LOCK_UN)
    except OSError:
        return False
    return False


def files_of(run_dir: Path) -> dict[str, Path]:
    """The run's own files the server may send: plain files directly in the directory, with a
    servable suffix, that are not links leaving it."""
    out: dict[str, Path] = {}
    root = run_dir.resolve()
    try:
        entries = list(os.scandir(root))
    except OSError:
        return out
    for e in entries:
        p = Path(e.path)
        if p.suffix.lower() not in SERVABLE or not e.is_file(follow_symlinks=False):
            continue
        out[e.name] = p
    return out


@dataclass
class BenchRun:
    """A benchmark run directory, read as it is now."""

    path: Path
    kind: str = "bench"
    rows: list[dict[str, Any]] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=dict)
    status: str = FINISHED
    warnings: list[str] = field(default_factory=list)
    wall_s: float | None = None
    _signature: tuple[Any, ...] | None = None
    _by_id: dict[str, int] = field(default_factory=dict)
    _table: list[dict[str, Any]] | None = None

    def signature(self) -> tuple[Any, ...]:
        p = self.path
        return (_mtime(p / STORE), _mtime(p / (STORE + "-wal")), _mtime(p / RESULTS), _mtime(p / SUMMARY),
                _lock_held(p))

    def refresh(self) -> bool:
        """Read the run again if its files changed; True when something was re-read."""
        sig = self.signature()
        if sig == self._signature:
            return False
        self._signature = sig
        self._load(running=sig[-1])
        return True

    # -- reading ---------------------------------------------------------------------------

    def _load(self, *, running: bool) -> None:
        warnings: list[str] = []
        saved: dict[str, Any] | None = None
        if (self.path / SUMMARY).is_file():
            try:
                saved = _read_json(self.path / SUMMARY)
                if not isinstance(saved, dict):
                    raise RunStoreError(f"cannot read {SUMMARY}: not a JSON object")
            except RunStoreError as exc:
                warnings.append(str(exc))
                saved = None
        rows, config, wall = None, None, None
        if (self.path / STORE).is_file():
            try:
                rows, config, wall = self._from_store()
            except RunStoreError as exc:
                warnings.append(f"{exc}; showing {RESULTS} instead" if (self.path / RESULTS).is_file() else str(exc))
        if rows is None:
            rows, bad = self._from_jsonl()
            if bad:
                warnings.append(f"{bad} line(s) of {RESULTS} could not be read (cut short?) and are not shown")
        rows.sort(key=lambda r: (str(r.get("dataset", "")), _int(r.get("index")), str(r.get("id", ""))))
        config = config or (saved or {}).get("config") or {}
        if wall is None and saved is not None:
            wall = saved.get("wall_s")
        selected = (saved or {}).get("selected")
        if running:
            status = RUNNING
        elif saved is not None and saved.get("complete", True) and not saved.get("stopped_by") \
                and len(rows) >= (selected or 0):
            status = FINISHED
        else:
            status = INTERRUPTED
        extra = {k: saved[k] for k in ("stopped_by", "shard", "limit") if saved and k in saved}
        self.summary = summarize(rows, config=config, selected=selected if status == FINISHED else None,
                                 wall_s=wall, extra=extra)
        if status != FINISHED and selected:
            self.summary["selected"] = selected
        self.rows, self.config, self.status, self.warnings, self.wall_s = rows, config, status, warnings, wall
        self._by_id, self._table = {}, None
        for i, r in enumerate(rows):
            self._by_id.setdefault(str(r.get("id")), i)

    def _from_store(self) -> tuple[list[dict[str, Any]], dict[str, Any] | None, float | None]:
        uri = (self.path / STORE).resolve().as_uri() + "?mode=ro"
        try:
            db = sqlite3.connect(uri, uri=True, timeout=5.0)
        except sqlite3.Error as exc:
            raise RunStoreError(f"cannot open the run store: {exc}") from None
        try:
            meta = dict(db.execute("SELECT key, value FROM meta").fetchall())
            texts = [t for (t,) in db.execute("SELECT result FROM samples")]
        except sqlite3.Error as exc:
            raise RunStoreError(f"the run store {STORE} cannot be read ({exc})") from None
        finally:
            db.close()
        rows = []
        for t in texts:
            try:
                row = json.loads(t)
            except json.JSONDecodeError:
                continue
            if isinstance(row, dict):
                rows.append(row)
        config = _loads(meta.get("config"))
        wall = _loads(meta.get("wall_s"))
        return rows, config if isinstance(config, dict) else None, wall if isinstance(wall, (int, float)) else None

    def _from_jsonl(self) -> tuple[list[dict[str, Any]], int]:
        rows: list[dict[str, Any]] = []
        bad = 0
        try:
            fh = open(self.path / RESULTS, encoding="utf-8", errors="replace")
        except OSError:
            return rows, 0
        with fh:
            for line in fh:
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)
                except json.JSONDecodeError:
                    bad += 1
                    continue
                if isinstance(row, dict):
                    rows.append(row)
                else:
                    bad += 1
        return rows, bad

    # -- views -----------------------------------------------------------------------------

    @property
    def title(self) -> str:
        c = self.config
        label = str(c.get("strategy") or "?")
        if c.get("n") not in (None, 1):
            label += f" n={c['n']}"
        return f"{c.get('dataset') or self.path.name} · {label}"

    def sample(self, sid: str) -> dict[str, Any] | None:
        i = self._by_id.get(sid)
        return None if i is None else self.rows[i]

    def position(self, sid: str) -> int | None:
        return self._by_id.get(sid)

    def table_rows(self) -> list[dict[str, Any]]:
        """What the samples table needs of each sample (kept small: 10,000 rows load fast);
        computed once per version of the run."""
        if self._table is None:
            self._table = self._make_table()
        return self._table

    def _make_table(self) -> list[dict[str, Any]]:
        out = []
        for pos, r in enumerate(self.rows):
            meta = r.get("metadata") or {}
            usage = r.get("usage") or {}
            out.append({
                "pos": pos, "id": str(r.get("id", "")),
                "verdict": verdict_of(r),
                "answer": _short(r.get("final_answer")), "gold": _short(r.get("reference")),
                "tokens": int(usage.get("completion_tokens") or 0),
                "time": round(float(r.get("latency_s") or 0.0), 3),
                "domain": str(r.get("domain") or ""), "level": "" if meta.get("level") is None else str(meta["level"]),
                "text": _short(r.get("prompt"), 300),
            })
        return out

    def headline(self) -> dict[str, Any]:
        s, c = self.summary, self.config
        lo, hi = s.get("ci95") or (None, None)
        return {
            "path": str(self.path), "kind": "bench", "title": self.title, "status": self.status,
            "dataset": c.get("dataset"), "strategy": c.get("strategy"), "model": c.get("model"),
            "backend": c.get("backend"), "n_budget": c.get("n"), "max_tokens": c.get("max_tokens"),
            "max_total_tokens": c.get("max_total_tokens"),
            "samples": s.get("n"), "selected": s.get("selected"), "correct": s.get("correct"),
            "accuracy": s.get("accuracy"), "ci95": [lo, hi], "errors": s.get("errors"),
            "tokens_per_sample": (s.get("tokens_per_sample") or {}).get("generated"),
            "wall_s": self.wall_s, "warnings": list(self.warnings),
        }


@dataclass
class GPIRun:
    """A GPI run directory (``results.json`` of ``nlrl gpi``)."""

    path: Path
    kind: str = "gpi"
    result: dict[str, Any] = field(default_factory=dict)
    status: str = FINISHED
    warnings: list[str] = field(default_factory=list)
    _signature: Any = None

    def __post_init__(self) -> None:
        self.refresh()

    def refresh(self) -> bool:
        sig = _mtime(self.path / GPI_RESULTS)
        if sig == self._signature:
            return False
        self._signature = sig
        data = _read_json(self.path / GPI_RESULTS)
        if not isinstance(data, dict) or not isinstance(data.get("iterations"), list) \
                or "baselines" not in data or "metric" not in data:
            raise RunStoreError(f"{self.path / GPI_RESULTS} is not a GPI result (no iterations, baselines, metric)")
        self.result = data
        return True

    @property
    def title(self) -> str:
        return f"GPI · {self.result.get('env', '?')}"

    def series(self) -> dict[str, list[Any]]:
        """The metric per iteration (0 = the language policy before GPI), and for games the
        win/draw/loss rates."""
        r = self.result
        base = (r.get("baselines") or {}).get("language_policy") or {}
        keys = [r["metric"]] + [k for k in ("win", "draw", "loss") if k != r["metric"] and k in base]
        out: dict[str, list[Any]] = {"x": [0] + [it.get("iteration") for it in r["iterations"]]}
        for k in keys:
            out[k] = [base.get(k)] + [it.get(k) for it in r["iterations"]]
        return out

    def headline(self) -> dict[str, Any]:
        r = self.result
        its = r.get("iterations") or []
        last = its[-1] if its else {}
        return {
            "path": str(self.path), "kind": "gpi", "title": self.title, "status": self.status,
            "dataset": r.get("env"), "strategy": f"GPI {((r.get('settings') or {}).get('mode') or '')}".strip(),
            "model": r.get("model"), "backend": r.get("backend"), "n_budget": len(its),
            "metric": r.get("metric"), "value": last.get(r.get("metric")),
            "samples": None, "accuracy": None, "ci95": [None, None], "tokens_per_sample": None,
            "wall_s": r.get("wall_s"), "warnings": list(self.warnings),
            "summary_text": f"{r.get('metric')} {last.get(r.get('metric'), '–')} (last iteration)",
        }


@dataclass
class ServeLog:
    """The request log of an ``nlrl serve`` run directory: one JSON object per request (``ts``,
    ``request_id``, ``route``, ``strategy``, ``status``, ``latency_s``, ``prompt_tokens``,
    ``completion_tokens``, ``error``); it never holds prompts or keys."""

    path: Path
    kind: str = "serve"
    records: list[dict[str, Any]] = field(default_factory=list)
    status: str = "log"  # a server's log has no end to reach
    warnings: list[str] = field(default_factory=list)
    _signature: Any = None

    def __post_init__(self) -> None:
        self.refresh()

    def refresh(self) -> bool:
        sig = _mtime(self.path / SERVE_LOG)
        if sig == self._signature:
            return False
        self._signature = sig
        records, bad = [], 0
        try:
            with open(self.path / SERVE_LOG, encoding="utf-8", errors="replace") as fh:
                for line in fh:
                    if not line.strip():
                        continue
                    try:
                        rec = json.loads(line)
                    except json.JSONDecodeError:
                        bad += 1
                        continue
                    if isinstance(rec, dict):
                        records.append(rec)
                    else:
                        bad += 1
        except OSError as exc:
            raise RunStoreError(f"cannot read {SERVE_LOG}: {exc.strerror or exc}") from None
        self.records = records
        self.warnings = [f"{bad} line(s) of {SERVE_LOG} could not be read and are not shown"] if bad else []
        return True

    @property
    def title(self) -> str:
        return f"serve · {self.path.name}"

    def errors(self) -> int:
        return sum(1 for r in self.records if _int(r.get("status")) >= 400)

    def headline(self) -> dict[str, Any]:
        n = len(self.records)
        ts = [float(r["ts"]) for r in self.records if isinstance(r.get("ts"), (int, float))]
        strategies = sorted({str(r.get("strategy")) for r in self.records if r.get("strategy") not in (None, "-")})
        return {
            "path": str(self.path), "kind": "serve", "title": self.title, "status": self.status,
            "dataset": "–", "strategy": ", ".join(strategies) or "–", "model": None, "backend": None,
            "n_budget": None, "samples": None, "accuracy": None, "ci95": [None, None],
            "tokens_per_sample": None, "wall_s": round(max(ts) - min(ts), 3) if len(ts) > 1 else None,
            "warnings": list(self.warnings), "summary_text": f"{n} requests, {self.errors()} errors",
        }


def verdict_of(row: dict[str, Any]) -> str:
    if row.get("error"):
        return "error"
    return "correct" if row.get("correct") else "wrong"


def paired_flips(a: BenchRun, b: BenchRun) -> dict[str, Any]:
    """Samples both runs answered (matched by dataset and id), and those where they differ."""
    index_b = {(str(r.get("dataset")), str(r.get("id"))): r for r in b.rows}
    both, a_only, b_only = 0, [], []
    same_right = same_wrong = 0
    for r in a.rows:
        other = index_b.get((str(r.get("dataset")), str(r.get("id"))))
        if other is None:
            continue
        both += 1
        ra, rb = bool(r.get("correct")), bool(other.get("correct"))
        if ra and not rb:
            a_only.append(str(r.get("id")))
        elif rb and not ra:
            b_only.append(str(r.get("id")))
        elif ra:
            same_right += 1
        else:
            same_wrong += 1
    return {"paired": both, "a_only": a_only, "b_only": b_only, "both_right": same_right,
            "both_wrong": same_wrong}


def interval(k: int, n: int) -> tuple[float, float]:
    return wilson_interval(k, n)


def _short(v: Any, limit: int = 120) -> str:
    if v is None:
        return ""
    s = v if isinstance(v, str) else json.dumps(v, ensure_ascii=False, default=str)
    return s if len(s) <= limit else s[: limit - 1] + "…"


def _int(v: Any) -> int:
    try:
        return int(v)
    except (TypeError, ValueError):
        return 0


def _loads(v: Any) -> Any:
    if v is None:
        return None
    try:
        return json.loads(v)
    except (TypeError, json.JSONDecodeError):
        return None
