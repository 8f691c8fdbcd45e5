"""Stop strings applied to a token stream in O(tokens), holding back only what could still
turn out to be the start of a stop string (so streamed text never has to be taken back)."""

from __future__ import annotations

from typing import Sequence


class StopBuffer:
    """Feed decoded pieces in; get back the text that is safe to release.

    >>> b = StopBuffer(["\\nQ:"])
    >>> b.feed("4\\n"), b.feed("Q:"), b.text
    (('4', False), ('', True), '4')
    """

    def __init__(self, stops: Sequence[str]) -> None:
        self._stops = tuple(s for s in stops if s)
        self._parts: list[str] = []
        self._pending = ""
        self.stopped = False

    def feed(self, piece: str) -> tuple[str, bool]:
        """Add ``piece``; return (text released now, whether a stop string was hit)."""
        if self.stopped:
            return "", True
        buf = self._pending + piece
        if not self._stops:
            self._parts.append(buf)
            self._pending = ""
            return buf, False
        hit = min((i for i in (buf.find(s) for s in self._stops) if i != -1), default=-1)
        if hit != -1:
            out, self._pending, self.stopped = buf[:hit], "", True
            self._parts.append(out)
            return out, True
        hold = 0
        for s in self._stops:
            for k in range(min(len(s) - 1, len(buf)), hold, -1):
                if buf.endswith(s[:k]):
                    hold = k
                    break
        out = buf[: len(buf) - hold]
        self._pending = buf[len(buf) - hold:]
        self._parts.append(out)
        return out, False

    def flush(self) -> str:
        """End of stream without a stop: release what was held back."""
        out, self._pending = self._pending, ""
        self._parts.append(out)
        return out

    @property
    def text(self) -> str:
        """All text released so far (the completion, once flushed or stopped)."""
        if len(self._parts) > 1:
            self._parts = ["".join(self._parts)]
        return self._parts[0] if self._parts else ""
