"""Grading a benchmark sample: the record's checker reads what the answer convention says it reads.

Shared by the benchmark runner and language GPI (:mod:`nlrl.gpi.dataset`), so both grade a record
the same way: ``get_verifier(record.checker).check(text, record.reference, **record.context)``,
with one verifier per checker built once (thread-safe).
"""

from __future__ import annotations

import threading

from ..verifiers import Verdict, Verifier, get_verifier
from ..verifiers.answers import checker_text
from .records import Record

__all__ = ["Grader", "grade_text"]


def grade_text(record: Record, output: str, answer: str | None) -> str:
    """What ``record``'s checker reads of a solved sample (:func:`~nlrl.verifiers.answers.checker_text`):
    the strategy's chosen answer as a final-answer line, the whole output for code, the passage
    after the last "Final Answer:" for COLLIE."""
    return checker_text(record.checker, output, answer)


class Grader:
    """The checkers of records, each built once; :class:`~nlrl.VerifierError` when one cannot grade."""

    def __init__(self) -> None:
        self._verifiers: dict[str, Verifier] = {}
        self._lock = threading.Lock()

    def verifier(self, checker: str) -> Verifier:
        with self._lock:
            if checker not in self._verifiers:
                self._verifiers[checker] = get_verifier(checker)
            return self._verifiers[checker]

    def check(self, record: Record, text: str) -> Verdict:
        """``record``'s verdict on ``text`` as its checker reads it."""
        return self.verifier(record.checker).check(text, record.reference, **record.context)

    def grade(self, record: Record, output: str, answer: str | None) -> Verdict:
        """``record``'s verdict on a solved sample: its ``output`` and the strategy's chosen ``answer``."""
        return self.check(record, grade_text(record, output, answer))
