"""The run store: every finished sample of a benchmark run, in SQLite (WAL mode).

A sample is one row keyed by ``(dataset, id, config, model, seed)`` and written in its own
transaction the moment it is graded, so a run killed at any point (SIGKILL included) loses at
most the samples in flight, and a restarted run skips every key already here. A row also keeps the
digest of the record it answered: if the data changes, the stale row no longer counts as done.

WAL with ``synchronous=NORMAL`` survives the process being killed (a committed transaction is in
the log file before ``commit`` returns); only a power cut can lose the last commits.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping

from .._exceptions import RunStoreError

SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS samples (
    dataset     TEXT NOT NULL,
    id          TEXT NOT NULL,
    config      TEXT NOT NULL,
    model       TEXT NOT NULL,
    seed        TEXT NOT NULL,
    record      TEXT NOT NULL,
    correct     INTEGER NOT NULL,
    result      TEXT NOT NULL,
    finished_at REAL NOT NULL,
    PRIMARY KEY (dataset, id, config, model, seed)
);
"""


def dumps(row: Mapping[str, Any]) -> str:
    """A result row as stored and as written to results.jsonl (one line of JSON)."""
    return json.dumps(row, ensure_ascii=False, default=str)


@dataclass(frozen=True)
class SampleKey:
    dataset: str
    id: str
    config: str
    model: str
    seed: str

    def row(self) -> tuple[str, str, str, str, str]:
        return (self.dataset, self.id, self.config, self.model, self.seed)


class RunStore:
    """Finished samples of runs, safe to share between the runner's threads.

    >>> store = RunStore(":memory:")
    >>> store.bind({"strategy": "cot"})   # a new run, nothing to resume
    False
    """

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        db = None
        try:
            db = sqlite3.connect(self.path, timeout=30.0, check_same_thread=False, isolation_level=None)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            db.executescript(_SCHEMA)
        except sqlite3.DatabaseError as exc:
            if db is not None:
                db.close()
            raise RunStoreError(f"cannot open run store {self.path}: {exc}") from None
        self._db = db
        self._lock = threading.Lock()

    # -- the run's configuration -----------------------------------------------------------

    def config(self) -> dict[str, Any] | None:
        row = self._db.execute("SELECT value FROM meta WHERE key='config'").fetchone()
        return json.loads(row[0]) if row else None

    def bind(self, config: Mapping[str, Any], *, force: bool = False) -> bool:
        """Make ``config`` this store's run. A store holding another configuration is refused
        (:class:`RunStoreError`) unless ``force``, which discards its samples. Returns True when
        earlier samples of the same configuration are kept (a resume)."""
        want = json.loads(json.dumps(dict(config), sort_keys=True, default=str))
        have = self.config()
        with self._lock:
            if have is not None and have != want:
                if not force:
                    diff = sorted(k for k in set(have) | set(want) if have.get(k) != want.get(k))
                    raise RunStoreError(
                        f"{self.path} holds a run of another configuration (differs in: "
                        f"{', '.join(diff)}); use another --out directory, or --force to replace it")
                self._db.execute("BEGIN IMMEDIATE")
                self._db.execute("DELETE FROM samples")
                self._db.execute("DELETE FROM meta")
                self._db.execute("COMMIT")
                have = None
            if have is None:
                self._db.execute("INSERT OR REPLACE INTO meta VALUES ('config', ?)",
                                 (json.dumps(want, sort_keys=True),))
                self._db.execute("INSERT OR REPLACE INTO meta VALUES ('schema', ?)", (str(SCHEMA_VERSION),))
                return False
            return True

    def set_meta(self, key: str, value: Any) -> None:
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, json.dumps(value)))

    def get_meta(self, key: str, default: Any = None) -> Any:
        row = self._db.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return json.loads(row[0]) if row else default

    # -- samples ---------------------------------------------------------------------------

    def add(self, key: SampleKey, record_digest: str, correct: bool, result: Mapping[str, Any] | str) -> bool:
        """Store one finished sample (a row, or its JSON text) in its own transaction; False if it
        was already stored for the same record digest, in which case the earlier result is kept."""
        payload = result if isinstance(result, str) else dumps(result)
        with self._lock:
            cur = self._db.execute(
                "INSERT INTO samples VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (dataset, id, config, model, seed) DO UPDATE SET "
                "record=excluded.record, correct=excluded.correct, result=excluded.result, "
                "finished_at=excluded.finished_at WHERE samples.record != excluded.record",
                (*key.row(), record_digest, int(bool(correct)), payload, time.time()))
            return cur.rowcount > 0

    def done(self, keys: Iterable[tuple[SampleKey, str]], *, raw: bool = False) -> dict[SampleKey, Any]:
        """The stored results of those ``(key, record_digest)`` pairs that are finished (parsed,
        or with ``raw`` their JSON text as stored)."""
        wanted = {k: d for k, d in keys}
        if not wanted:
            return {}
        out: dict[SampleKey, Any] = {}
        groups = {(k.dataset, k.config, k.model, k.seed) for k in wanted}
        with self._lock:
            for group in groups:
                rows = self._db.execute(
                    "SELECT id, record, result FROM samples WHERE dataset=? AND config=? AND model=? AND seed=?",
                    group).fetchall()
                for rid, digest, result in rows:
                    key = SampleKey(group[0], rid, group[1], group[2], group[3])
                    if wanted.get(key) == digest:
                        out[key] = result if raw else json.loads(result)
        return out

    def count(self) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM samples").fetchone()[0])

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> "RunStore":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
