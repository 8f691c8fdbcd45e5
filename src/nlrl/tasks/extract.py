"""Pulling the final answer out of a chain of thought, and noticing when it has been written.

The reading rules are the answer convention's (:mod:`nlrl.verifiers.answers`, shared with the
graders, so that grading and voting agree); this module re-exports them under the task layer's
names and adds :class:`AnswerWatcher`, which reads a stream: it says "complete" once the
final-answer *line* is finished (not the instant ``Final Answer:`` appears, before the answer is
written), or, for code, once the fenced block that :func:`extract_code` would read is closed. It
looks at each piece once, so watching a stream costs O(tokens).
"""

from __future__ import annotations

from ..verifiers.answers import (
    extract_answer,
    extract_code,
    extract_math_answer,
    is_final_answer_line,
    is_program_line,
    last_boxed,
)

__all__ = ["AnswerWatcher", "extract_answer", "extract_code", "extract_math", "extract_short", "last_boxed"]

#: The final answer of a math solution (the math verifier's rule, so grading and voting agree).
extract_math = extract_math_answer


def extract_short(text: str) -> str | None:
    """A short answer span: the Final Answer line, "the answer is X", else the last line."""
    return extract_answer(text, "commonsense")


class AnswerWatcher:
    """Incrementally detects a finished answer in streamed text.

    For math and commonsense the answer is finished when a line starting with "Final Answer:"
    has non-empty content and has been ended by a newline (:func:`is_final_answer_line`). For
    code it is finished when a fenced block that holds a ``def`` (or reads stdin: a whole
    stdin/stdout program; :func:`is_program_line`) is closed.
    """

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
        if self.domain == "coding":
            if line.strip().startswith("```"):
                if self._in_fence:
                    self._in_fence = False
                    return self._fence_has_def
                self._in_fence = True
                self._fence_has_def = False
            elif self._in_fence and is_program_line(line):
                self._fence_has_def = True
            return False
        return is_final_answer_line(line)
