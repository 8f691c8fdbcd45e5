"""Pulling the final answer out of a chain of thought, and noticing when it has been written.

:func:`extract_answer` reads a finished completion. :class:`AnswerWatcher` reads a stream: it
says "complete" once the final-answer *line* is finished (not the instant ``Final Answer:``
appears, before the answer is written), or, for code, once the fenced block is closed. It looks
at each piece once, so watching a stream costs O(tokens).
"""

from __future__ import annotations

import re

from ..verifiers.math import extract_math_answer, last_boxed
from ..verifiers.qa import extract_short_answer

__all__ = ["AnswerWatcher", "extract_answer", "extract_code", "extract_math", "extract_short", "last_boxed"]

_FENCE = re.compile(r"```[ \t]*(?:python|py|Python)?[ \t]*\n(.*?)(?:```|\Z)", re.DOTALL)
_READS_STDIN = re.compile(r"\binput\(|\bsys\.stdin\b|\bopen\(0\)")
_DEF = re.compile(r"^(?:from|import|def|class|@)\b.*", re.DOTALL | re.MULTILINE)


def extract_math(text: str) -> str | None:
    """Final answer of a math solution (the math verifier's rule, so grading and voting agree):
    the last boxed answer, a Final Answer line, ####, "the answer is", then the closing sentence."""
    return extract_math_answer(text)


def extract_code(text: str) -> str | None:
    """Program in a completion: the last fenced Python block, else the text from the first def."""
    blocks = [b for b in _FENCE.findall(text) if b.strip()]
    if blocks:
        with_def = [b for b in blocks if "def " in b]
        return (with_def or blocks)[-1].rstrip() + "\n"
    m = _DEF.search(text)
    return m.group(0).rstrip() + "\n" if m else None


def extract_short(text: str) -> str | None:
    """A short answer span: the Final Answer line, "the answer is X", else the last line."""
    return extract_short_answer(text) or None


_EXTRACTORS = {"math": extract_math, "coding": extract_code, "commonsense": extract_short}


def extract_answer(text: str, domain: str) -> str | None:
    """The final answer of ``text`` for ``domain`` (math / coding / commonsense), or None."""
    return _EXTRACTORS.get(domain, extract_short)(text)


class AnswerWatcher:
    """Incrementally detects a finished answer in streamed text.

    For math and commonsense the answer is finished when a line starting with "Final Answer:"
    has non-empty content and has been ended by a newline. For code it is finished when the
    fenced block that holds a ``def`` (or reads stdin: a whole stdin/stdout program) is closed.
    """

    _MARK = "final answer"

    def __init__(self, domain: str) -> None:
        self.domain = domain
        self._line = ""           # the current, unfinished line
        self._in_fence = False
        self._fence_has_def = False
        self.complete = False

    def feed(self, piece: str) -> bool:
        """Add streamed text; True once the answer is complete."""
        if self.complete:
            return True
        while piece:
            nl = piece.find("\n")
            if nl < 0:
                self._line += piece
                # A closing fence needs no newline after it to be complete.
                if self._in_fence and self._fence_has_def and self._line.strip() == "```":
                    self.complete = True
                return self.complete
            self._line += piece[:nl]
            piece = piece[nl + 1 :]
            if self._end_line(self._line):
                self.complete = True
                return True
            self._line = ""
        return False

    def _end_line(self, line: str) -> bool:
        stripped = line.strip()
        if self.domain == "coding":
            if stripped.startswith("```"):
                if self._in_fence:
                    self._in_fence = False
                    return self._fence_has_def
                self._in_fence = True
                self._fence_has_def = False
            elif self._in_fence and (stripped.startswith("def ") or _READS_STDIN.search(stripped)):
                self._fence_has_def = True  # a function, or a whole program reading stdin (stdio)
            return False
        low = stripped.lower().lstrip("*# ")
        if low.startswith(self._MARK):
            rest = stripped.split(":", 1)[1].strip() if ":" in stripped else ""
            return bool(rest.strip("*$ "))
        return False
