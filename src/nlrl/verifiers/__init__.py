"""Verifiers: graders that judge a model output against a reference, the way benchmarks do.

One interface, :class:`Verifier` (``check(output, reference, **context) -> Verdict``), and a
registry of checkers by name: ``math``, ``code``, ``stdio``, ``qa``, ``choice``, ``yesno``,
``collie``. How an answer is written and read (the "Final Answer:" line, code blocks,
normalisation, the domains) is :mod:`.answers`, shared with the layers above.

>>> get_verifier("math").check("... so the answer is \\\\boxed{\\\\frac{1}{2}}", "0.5").correct
True
"""

from __future__ import annotations

from typing import Any

from .._registry import Registry
from .base import Verdict, Verifier
from .answers import extract_math_answer
from .math import answers_equivalent

VERIFIERS: Registry[Any] = Registry("checker")
VERIFIERS.register("math", "nlrl.verifiers.math:MathVerifier")
VERIFIERS.register("code", "nlrl.verifiers.code:CodeVerifier")
VERIFIERS.register("stdio", "nlrl.verifiers.stdio:StdioVerifier")
VERIFIERS.register("qa", "nlrl.verifiers.qa:QAVerifier")
VERIFIERS.register("choice", "nlrl.verifiers.qa:ChoiceVerifier")
VERIFIERS.register("yesno", "nlrl.verifiers.qa:YesNoVerifier")
VERIFIERS.register("collie", "nlrl.verifiers.collie:CollieVerifier")


def get_verifier(name: str, **options: Any) -> Verifier:
    """Build the verifier registered as ``name`` (unknown names list the known ones)."""
    return VERIFIERS.create(name, **options)


__all__ = [
    "VERIFIERS",
    "Verdict",
    "Verifier",
    "answers_equivalent",
    "extract_math_answer",
    "get_verifier",
]
