"""The grader interface: :class:`Verifier` with one method, ``check``, returning a :class:`Verdict`.

A verifier judges one model output against one reference. ``correct`` is the benchmark's verdict;
``score`` is a graded value in [0, 1] (1.0/0.0 for pass/fail checkers, token F1 for QA, the
fraction of passed tests for test cases); ``detail`` says why in one line; ``extracted`` is the
answer the verifier read out of the output, when it reads one; ``info`` (optional) holds the
grader's structured particulars for display (code: the failing test and the program's output;
math: the extracted and gold values), see docs/verifiers.md.

A candidate that fails is a Verdict with ``correct=False``; :class:`~nlrl.VerifierError` is for a
grader that could not run (a malformed reference, a broken sandbox).
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any

from .._exceptions import VerifierError


@dataclass(frozen=True)
class Verdict:
    correct: bool
    score: float
    detail: str = ""
    extracted: str | None = None
    info: dict[str, Any] | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        s = self.score
        if isinstance(s, bool) or not isinstance(s, (int, float)) or not math.isfinite(s) or not 0.0 <= s <= 1.0:
            raise VerifierError(f"verdict score must be a finite number in [0, 1], got {s!r}")
        object.__setattr__(self, "score", float(s))
        object.__setattr__(self, "correct", bool(self.correct))

    @classmethod
    def passed(cls, detail: str = "", extracted: str | None = None,
               info: dict[str, Any] | None = None) -> "Verdict":
        return cls(True, 1.0, detail, extracted, info)

    @classmethod
    def failed(cls, detail: str = "", extracted: str | None = None, score: float = 0.0,
               info: dict[str, Any] | None = None) -> "Verdict":
        return cls(False, score, detail, extracted, info)

    def to_dict(self) -> dict[str, Any]:
        d = {"correct": self.correct, "score": self.score, "detail": self.detail, "extracted": self.extracted}
        if self.info is not None:
            d["info"] = self.info
        return d


class Verifier(ABC):
    """Judges a model output against a reference. One required method: :meth:`check`."""

    #: registry name, e.g. "math"
    name: str = "verifier"

    @abstractmethod
    def check(self, output: str, reference: Any, **context: Any) -> Verdict:
        """Grade ``output`` against ``reference``; ``context`` carries checker-specific options."""

    def check_many(self, items: "list[tuple[str, Any]]", **context: Any) -> list[Verdict]:
        """Grade ``(output, reference)`` pairs in order (code checking overrides this to run in parallel)."""
        return [self.check(o, r, **context) for o, r in items]
