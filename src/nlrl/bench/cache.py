"""A completion cache for deterministic generations, as a :class:`Backend` wrapper.

``CachingBackend(inner, path)`` answers a greedy request (``temperature == 0``) it has seen before
-- same backend kind, model, prompt and every sampling parameter -- from a SQLite file, and passes
everything else to ``inner``. Sampled requests (``temperature > 0``) always go to the engine: n
samples are n draws, never one cached answer repeated (lm-eval's ``CachingLM`` rule).

A hit streams the recorded pieces to ``on_token`` (so gists still stream, and adaptive stopping
still works) and reports what it cost honestly: 0 prompt tokens evaluated and 0 calls; the
completion's own token count is kept, so token budgets and tokens-per-sample do not depend on
whether the cache answered. :attr:`stats` counts hits, misses and cached tokens.

When a callback stops a replay early, the completion is cut there (finish_reason ``"answer"``).
When a cached completion was itself cut by a callback and the new caller wants more, the engine
generates it again, and the pieces already delivered are not delivered twice.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Sequence

from .._exceptions import RunStoreError
from ..backends.base import (
    Backend,
    Completion,
    Generation,
    SamplingParams,
    TokenCallback,
    TokenEvent,
    Usage,
    WrappedBackend,
    check_prompts,
)

CACHE_VERSION = 1


@dataclass(frozen=True)
class CacheStats:
    hits: int = 0              # completions served from the cache
    misses: int = 0            # greedy completions the engine generated (then stored)
    bypassed: int = 0          # sampled completions, never cached
    cached_tokens: int = 0     # completion tokens served from the cache instead of generated

    def to_dict(self) -> dict[str, int]:
        return asdict(self)


class CachingBackend(WrappedBackend):
    """Wraps ``inner``; greedy generations are looked up in (and saved to) the SQLite file ``path``."""

    def __init__(self, inner: Backend, path: str | Path) -> None:
        super().__init__(inner)
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(str(self.path), timeout=30.0, check_same_thread=False,
                                       isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute("CREATE TABLE IF NOT EXISTS completions (key TEXT PRIMARY KEY, "
                             "model TEXT NOT NULL, value TEXT NOT NULL, created REAL NOT NULL)")
        except (OSError, sqlite3.DatabaseError) as exc:
            raise RunStoreError(f"cannot open completion cache {self.path}: {exc}") from None
        self._lock = threading.Lock()
        self._stats = {"hits": 0, "misses": 0, "bypassed": 0, "cached_tokens": 0}

    def close(self) -> None:
        with self._lock:
            self._db.close()
        self.inner.close()

    @property
    def stats(self) -> CacheStats:
        with self._lock:
            return CacheStats(**self._stats)

    # -- the cache -------------------------------------------------------------------------

    def key(self, prompt: str, params: SamplingParams) -> str:
        ident = [CACHE_VERSION, type(self.inner).__name__, self.inner.name, self.inner.model_name,
                 prompt, asdict(params)]
        return hashlib.sha256(json.dumps(ident, sort_keys=True, default=list).encode("utf-8")).hexdigest()

    def _count(self, **deltas: int) -> None:
        with self._lock:
            for k, v in deltas.items():
                self._stats[k] += v

    def generate(self, prompts: Sequence[str], params: SamplingParams, *,
                 on_token: TokenCallback | None = None) -> list[Generation]:
        if not params.greedy:
            gens = self.inner.generate(prompts, params, on_token=on_token)
            self._count(bypassed=sum(len(g.completions) for g in gens))
            return gens
        check_prompts(prompts)
        keys = [self.key(p, params) for p in prompts]
        with self._lock:
            found = {k: v for k, v in self._db.execute(
                f"SELECT key, value FROM completions WHERE key IN ({','.join('?' * len(set(keys)))})",
                tuple(set(keys))).fetchall()} if keys else {}
        out: list[Generation | None] = [None] * len(prompts)
        todo: list[int] = []
        skip: dict[tuple[int, int], tuple[int, bool]] = {}
        for pi, prompt in enumerate(prompts):
            entry = found.get(keys[pi])
            if entry is None:
                todo.append(pi)
                continue
            start = time.perf_counter()
            replayed = _replay(pi, json.loads(entry), on_token)
            if isinstance(replayed, dict):          # the caller wants more than was cached
                skip.update(replayed)
                todo.append(pi)
                continue
            usage = Usage(0, sum(c.num_tokens for c in replayed), 0, time.perf_counter() - start)
            out[pi] = Generation(prompt, tuple(replayed), usage)
            self._count(hits=len(replayed), cached_tokens=usage.completion_tokens)
        if todo:
            for pi, gen in zip(todo, self._generate([prompts[i] for i in todo], todo, params, on_token, skip)):
                out[pi] = gen
        return out  # type: ignore[return-value]

    def _generate(self, prompts: list[str], where: list[int], params: SamplingParams,
                  on_token: TokenCallback | None, skip: dict[tuple[int, int], tuple[int, bool]]
                  ) -> list[Generation]:
        """Generate the misses, recording every streamed piece; ``where`` maps back to the caller's
        prompt indices; ``skip`` holds (characters already delivered by a replay, whether the
        caller stopped there) per completion."""
        events: dict[tuple[int, int], list[list[Any]]] = {}
        left = dict(skip)

        def record(ev: TokenEvent) -> bool | None:
            pi = where[ev.prompt_index]
            events.setdefault((ev.prompt_index, ev.index), []).append([ev.text, ev.token_id, ev.logprob])
            text = ev.text
            n, stopped = left.get((pi, ev.index), (0, False))
            if n or stopped:  # delivered by the replay: a greedy engine writes the same text again
                cut = min(n, len(text))
                left[(pi, ev.index)] = (n - cut, stopped)
                text = text[cut:]
                if n - cut == 0 and stopped:
                    return True   # the caller already ended this completion here
                if not text:
                    return None
            if on_token is None:
                return None
            return on_token(TokenEvent(pi, ev.index, text, ev.token_id, ev.logprob))

        gens = self.inner.generate(prompts, params, on_token=record)
        rows = []
        for bi, gen in enumerate(gens):
            comps = [{
                "index": c.index, "text": c.text, "token_ids": list(c.token_ids),
                "logprobs": None if c.logprobs is None else list(c.logprobs),
                "finish_reason": c.finish_reason,
                "events": _align(events.get((bi, c.index), []), c),
            } for c in gen.completions]
            rows.append((self.key(prompts[bi], params), self.inner.model_name,
                         json.dumps({"completions": comps}), time.time()))
        with self._lock:
            self._db.executemany("INSERT OR REPLACE INTO completions VALUES (?, ?, ?, ?)", rows)
        self._count(misses=sum(len(g.completions) for g in gens))
        return gens


def _align(events: list[list[Any]], comp: Completion) -> list[list[Any]]:
    """Attach to each recorded piece how many of the completion's tokens it covers, so a replay
    cut at that piece keeps the right token ids. Pieces whose text is not in the final text
    (a stream that the engine cut off) are dropped."""
    ids = comp.token_ids
    pos = 0
    out: list[list[Any]] = []
    for text, tid, lp in events:
        if tid is not None:
            try:
                pos = ids.index(tid, pos) + 1
            except ValueError:
                pass
        out.append([text, tid, lp, pos])
    if "".join(e[0] for e in out) != comp.text:
        # the engine's text is the truth; keep one piece that carries it all
        out = [[comp.text, ids[-1] if ids else None, None, len(ids)]]
    elif out:
        out[-1][3] = len(ids)
    return out


def _replay(pi: int, entry: dict[str, Any], on_token: TokenCallback | None
            ) -> list[Completion] | dict[tuple[int, int], tuple[int, bool]]:
    """Cached completions streamed to ``on_token``. When one of them was cut by a callback and
    this caller does not stop it there, the engine must generate the prompt again: then return,
    per completion, the characters already delivered and whether the caller stopped it."""
    comps: list[Completion] = []
    delivered: dict[tuple[int, int], tuple[int, bool]] = {}
    wants_more = False
    for c in entry["completions"]:
        ids = tuple(c["token_ids"])
        lps = None if c["logprobs"] is None else tuple(c["logprobs"])
        evs = c["events"]
        whole = Completion(c["index"], c["text"], ids, lps, c["finish_reason"])
        if on_token is None:
            wants_more = wants_more or c["finish_reason"] == "answer"
            delivered[(pi, c["index"])] = (0, False)
            comps.append(whole)
            continue
        sent = 0
        cut: Completion | None = None
        for k, (text, tid, lp, ntok) in enumerate(evs):
            sent += len(text)
            if on_token(TokenEvent(pi, c["index"], text, tid, lp)):
                if k == len(evs) - 1 and c["finish_reason"] == "answer":
                    cut = whole
                else:
                    cut = Completion(c["index"], "".join(e[0] for e in evs[: k + 1]), ids[:ntok],
                                     None if lps is None else lps[:ntok], "answer")
                break
        delivered[(pi, c["index"])] = (sent, cut is not None)
        wants_more = wants_more or (cut is None and c["finish_reason"] == "answer")
        comps.append(cut or whole)
    return delivered if wants_more else comps
