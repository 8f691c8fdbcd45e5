"""A live progress bar for benchmark runs: ETA, running accuracy and generated tokens per second.

It draws on stderr with rich, and only when stderr is a terminal (``enabled=None``) so logs and
pipes stay clean; ``--quiet`` turns it off.
"""

from __future__ import annotations

import sys
import time
from typing import Any, Mapping


class BenchProgress:
    """Call :meth:`start`, then :meth:`advance` once per finished sample, then :meth:`stop`."""

    def __init__(self, *, enabled: bool | None = None, description: str = "bench", stream: Any = None) -> None:
        self.stream = stream or sys.stderr
        self.enabled = (self.stream.isatty() if hasattr(self.stream, "isatty") else False) \
            if enabled is None else enabled
        self.description = description
        self._progress: Any = None
        self._task: Any = None
        self.correct = 0
        self.done = 0
        self.tokens = 0
        self._start = time.perf_counter()

    def start(self, total: int, *, done: int = 0, correct: int = 0) -> None:
        """``done``/``correct``: samples already finished by an earlier session (a resume)."""
        self.done, self.correct, self.tokens = done, correct, 0
        self._start = time.perf_counter()
        if not self.enabled:
            return
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, \
            TimeRemainingColumn

        self._progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("acc {task.fields[acc]}"),
            TextColumn("{task.fields[tps]} tok/s"),
            TimeElapsedColumn(),
            TextColumn("eta"),
            TimeRemainingColumn(),
            console=Console(file=self.stream),
            transient=False,
        )
        self._progress.start()
        self._task = self._progress.add_task(self.description, total=total, completed=done,
                                             acc=self._acc(), tps="-")

    def _acc(self) -> str:
        return f"{100.0 * self.correct / self.done:.1f}%" if self.done else "-"

    def advance(self, result: Mapping[str, Any]) -> None:
        self.done += 1
        self.correct += bool(result.get("correct"))
        self.tokens += int((result.get("usage") or {}).get("completion_tokens", 0))
        if self._progress is None:
            return
        elapsed = time.perf_counter() - self._start
        tps = f"{self.tokens / elapsed:.1f}" if elapsed > 0 else "-"
        self._progress.update(self._task, advance=1, acc=self._acc(), tps=tps)

    def stop(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None
