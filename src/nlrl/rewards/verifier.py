"""A reward from a verifier, when the reference (answer, tests, constraint) is known."""

from __future__ import annotations

from typing import Any, Mapping

from .._exceptions import VerifierError
from ..verifiers import Verifier, get_verifier
from .base import RewardModel


class VerifierReward(RewardModel):
    """The verifier's verdict score: 1/0 for math, code and choice checkers, the fraction of
    test cases passed, token F1 for QA, the fraction of COLLIE constraints met.

    ``reference`` is used for every prompt; ``references`` maps prompts to their own
    references. A prompt with neither raises :class:`~nlrl.VerifierError`.

    >>> VerifierReward("math", "0.5").score("What is 1/2?", "Final Answer: \\\\frac{1}{2}")
    1.0
    """

    name = "verifier"

    def __init__(self, checker: str | Verifier = "math", reference: Any = None, *,
                 references: Mapping[str, Any] | None = None, **options: Any) -> None:
        self.verifier = checker if isinstance(checker, Verifier) else get_verifier(checker, **options)
        self.reference = reference
        self.references = dict(references or {})

    def score(self, prompt: str, output: str) -> float:
        ref = self.references.get(prompt, self.reference)
        if ref is None:
            raise VerifierError("VerifierReward has no reference for this prompt")
        return self.verifier.check(output, ref).score
