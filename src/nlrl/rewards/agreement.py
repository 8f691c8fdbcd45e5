"""Agreement: the fraction of sibling samples whose final answer equals this output's.

The siblings are the outputs drawn for the same prompt; hand them over with
:meth:`AgreementReward.observe` before scoring (or build the reward with ``samples=``). The
answers are compared with :func:`~nlrl.verifiers.answers_equivalent` (``1/2`` agrees with
``0.5``; text answers agree after normalisation). A prompt with no siblings raises
:class:`~nlrl.VerifierError`: agreement with nothing is undefined, not 1.
"""

from __future__ import annotations

from typing import Callable, Sequence

from .._exceptions import VerifierError
from ..verifiers.math import answers_equivalent, extract_math_answer
from .base import Observed, RewardModel, observed


class AgreementReward(RewardModel):
    """Share of the prompt's samples (this one included when it is among them) agreeing with it."""

    name = "agreement"
    needs_siblings = True

    def __init__(self, samples: Sequence[str] | None = None, *, prompt: str | None = None,
                 extract: Callable[[str], str | None] = extract_math_answer,
                 equivalent: Callable[[str, str], bool] = answers_equivalent) -> None:
        self.extract = extract
        self.equivalent = equivalent
        self._samples: dict[str | None, list[str | None]] = {}
        if samples is not None:
            self.observe(prompt, samples)

    def observe(self, prompt: str | None, samples: Sequence[Observed]) -> None:
        """Set the sibling samples of ``prompt`` (None: of any prompt without its own)."""
        self._samples[prompt] = [self.extract(text) for text, _ in observed(samples)]

    def score(self, prompt: str, output: str) -> float:
        answers = self._samples.get(prompt, self._samples.get(None))
        if not answers:
            raise VerifierError("AgreementReward has no sibling samples for this prompt: call observe() first")
        mine = self.extract(output)
        if mine is None:
            return 0.0
        return sum(1 for a in answers if a is not None and self.equivalent(mine, a)) / len(answers)

    def score_all(self, prompt: str, outputs: Sequence[str]) -> list[float]:
        """Observe ``outputs`` as the siblings and score each of them."""
        self.observe(prompt, outputs)
        return [self.score(prompt, o) for o in outputs]
