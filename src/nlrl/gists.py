"""Gists: the model's intermediate output, delivered live while it is generated.

A :class:`Gist` is a chunk of streamed text with its reasoning step (the line it belongs to),
the sample it comes from and the seconds elapsed since generation started. :class:`GistStream`
turns backend :class:`~nlrl.backends.TokenEvent` s into gists (flushed at every line end, or
every ``chunk_tokens`` tokens so long lines still stream) and, with ``adaptive=True``, tells the
backend to stop a sample as soon as its final-answer line is complete.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Callable

from .backends import TokenEvent, TokenObserver
from .tasks.extract import AnswerWatcher

GistCallback = Callable[["Gist"], None]


@dataclass(frozen=True)
class Gist:
    step: int
    text: str
    t: float
    sample: int = 0

    def to_dict(self) -> dict[str, object]:
        d = asdict(self)
        d["t"] = round(self.t, 4)
        return d


class _SampleState:
    __slots__ = ("parts", "tokens", "step", "watcher")

    def __init__(self, domain: str) -> None:
        self.parts: list[str] = []
        self.tokens = 0
        self.step = 1
        self.watcher = AnswerWatcher(domain)


class GistStream(TokenObserver):
    """A ``TokenCallback`` that emits gists and implements adaptive stopping."""

    def __init__(
        self,
        domain: str,
        *,
        on_gist: GistCallback | None = None,
        adaptive: bool = True,
        chunk_tokens: int = 8,
        sample_offset: int = 0,
    ) -> None:
        self.domain = domain
        self.on_gist = on_gist
        self.adaptive = adaptive
        self.chunk_tokens = chunk_tokens
        self.sample_offset = sample_offset
        self.gists: list[Gist] = []
        self._start = time.perf_counter()
        self._samples: dict[tuple[int, int], _SampleState] = {}

    def __call__(self, event: TokenEvent) -> bool:
        key = (event.prompt_index, event.index)
        st = self._samples.get(key)
        if st is None:
            st = self._samples[key] = _SampleState(self.domain)
        text = event.text
        while text:
            nl = text.find("\n")
            if nl < 0:
                st.parts.append(text)
                break
            st.parts.append(text[: nl + 1])
            self._flush(st, event.index)
            st.step += 1
            text = text[nl + 1 :]
        st.tokens += 1
        if st.parts and st.tokens >= self.chunk_tokens:
            self._flush(st, event.index)
        done = st.watcher.feed(event.text)
        if done:
            self._flush(st, event.index)
        return self.adaptive and done

    def finish(self) -> None:
        """Flush what is left of every sample (call after generation returns)."""
        for (_, index), st in self._samples.items():
            self._flush(st, index)
        self._samples.clear()

    def next_call(self) -> None:
        """Start a new backend call: later samples get fresh sample numbers and watchers."""
        self.finish()
        self.sample_offset = max((g.sample for g in self.gists), default=-1) + 1

    def _flush(self, st: _SampleState, index: int) -> None:
        st.tokens = 0
        if not st.parts:
            return
        text = "".join(st.parts)
        st.parts.clear()
        gist = Gist(st.step, text, time.perf_counter() - self._start, self.sample_offset + index)
        self.gists.append(gist)
        if self.on_gist is not None:
            self.on_gist(gist)
