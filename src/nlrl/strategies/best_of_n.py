"""Best-of-N: sample N solutions, score each with a reward model, keep the best.

Plain selection returns the highest-scored sample (ties: the earliest). Weighted selection
(Li et al. 2023, "Making Large Language Models Better Reasoners with Step-Aware Verifier";
the "weighted best-of-N" of Snell et al. 2024) sums the rewards of each group of equivalent
answers and returns the group with the largest total. With ``threshold``, sampling stops at the
first sample whose reward reaches it (dspy's ``BestOfN``).

A reward that fails on a sample leaves that sample out of the ranking (logged, and recorded in
the trace); when it fails on every sample, the answer falls back to a majority vote and the
result says so (``extra["fallback"] == "majority"``).
"""

from __future__ import annotations

import logging
from typing import Any, Sequence

from .._exceptions import ConfigError
from .base import Run, Strategy, StrategyResult
from .reward_choice import resolve_reward
from .sampling import Sample, draw, sampling_temperature
from .scoring import feed, score_outputs, wants_logprobs
from .self_consistency import vote_result, vote_samples
from .voting import Equivalence, equivalence_for, majority

log = logging.getLogger(__name__)


class BestOfN(Strategy):
    """N samples ranked by a reward model.

    ``reward`` is a reward model or a registered reward name; without one the run's reward is
    used, or a default chosen from the backend (see :func:`~nlrl.strategies.reward_choice.resolve_reward`).
    ``strict=True`` turns a failing reward into an error instead of a logged fallback.
    """

    #: ``auto`` may hand over its probe samples (same temperature) through ``run_with``
    reuses_samples = True
    name = "best-of-n"

    def __init__(self, n: int | None = None, *, weighted: bool = False, temperature: float | None = None,
                 threshold: float | None = None, reward: Any = None, strict: bool = False,
                 equivalent: Equivalence | None = None) -> None:
        if n is not None and (not isinstance(n, int) or n < 1):
            raise ConfigError(f"{self.name} n must be an integer >= 1, got {n!r}")
        if threshold is not None and not (isinstance(threshold, (int, float)) and 0.0 <= threshold <= 1.0):
            raise ConfigError(f"threshold must be in [0, 1], got {threshold!r}")
        self.n = n
        self.weighted = weighted
        self.temperature = temperature
        self.threshold = threshold
        self.reward = reward
        self.strict = strict
        self.equivalent = equivalent
        if weighted:
            self.name = "weighted-best-of-n"

    def run(self, run: Run) -> StrategyResult:
        return self.run_with(run, ())

    def run_with(self, run: Run, prior: Sequence[Sample]) -> StrategyResult:
        reward = resolve_reward(self.reward, run)
        if self.threshold is not None and not self.weighted and reward.needs_siblings:
            # e.g. agreement: one sample always agrees with itself
            raise ConfigError(f"best-of-n threshold needs a reward that scores a sample on its own; "
                              f"the {reward.name} reward depends on samples not drawn yet")
        n = max(self.n or run.budget.n, len(prior))
        temp = sampling_temperature(run, self.temperature)
        logprobs = wants_logprobs(reward)
        samples: list[Sample] = list(prior)
        if logprobs and any(s.logprobs is None for s in samples):
            samples = []  # the reward needs log-probabilities these samples were drawn without
        scores: list[float | None] = []
        while True:
            if len(scores) < len(samples):
                feed(run, reward, [(s.text, s.logprobs) for s in samples])
                new = samples[len(scores):]
                scores += score_outputs(run, [s.text for s in new], reward=reward, strict=self.strict,
                                        indices=[s.index for s in new])
                if self.threshold is not None and not self.weighted:
                    hit = next((i for i, s in enumerate(scores) if s is not None and s >= self.threshold), None)
                    if hit is not None:
                        run.event("stop", f"reward {scores[hit]:.3f} >= threshold {self.threshold}",
                                  index=hit)
                        return self._pick(run, samples, scores)
            if len(samples) >= n:
                break
            before = len(samples)
            # With a threshold, look at each sample before paying for the next.
            upto = before + 1 if self.threshold is not None and not self.weighted else n
            samples = draw(run, upto, prior=samples, temperature=temp, logprobs=logprobs)
            if len(samples) == before:
                break
        return self._pick(run, samples, scores)

    def _pick(self, run: Run, samples: list[Sample], scores: list[float | None]) -> StrategyResult:
        scored = [i for i, s in enumerate(scores) if s is not None]
        if not scored:
            log.warning("%s: the reward failed on all %d samples; falling back to a majority vote",
                        self.name, len(samples))
            run.event("fallback", "majority", reason="no sample could be scored")
            vote = vote_samples(run, samples, equivalent=self.equivalent, tie_break_by_reward=False)
            return vote_result(run, self.name, samples, vote, fallback="majority")
        if self.weighted:
            eq = self.equivalent or equivalence_for(run.task.domain, run.task.question)
            # A sample whose score failed does not vote: its answer is not counted as weight 0.
            answers = [samples[i].answer if scores[i] is not None else None for i in range(len(samples))]
            weights = [s if s is not None else 0.0 for s in scores]
            vote = majority(answers, equivalent=eq, weights=weights, tie_break=scores)
            if vote.winner is not None:
                best = max(vote.winner.members, key=lambda i: (scores[i], -i))
                run.event("vote", vote.answer or "", weighted=True, samples=len(samples),
                          groups=[g.to_dict() for g in vote.groups])
                return run.result(self.name, vote.answer, samples[best].text, score=scores[best],
                                  samples=len(samples), scored=len(scored),
                                  weight=round(vote.winner.score, 6))
            log.warning("%s: no scored sample has an answer; returning the best-scored sample", self.name)
        best = max(scored, key=lambda i: (scores[i], -i))
        run.event("select", samples[best].answer or "", index=best, score=scores[best])
        return run.result(self.name, samples[best].answer, samples[best].text, score=scores[best],
                          samples=len(samples), scored=len(scored))


class WeightedBestOfN(BestOfN):
    """Best-of-N with weighted selection: the answer whose samples' rewards sum highest."""

    name = "weighted-best-of-n"

    def __init__(self, n: int | None = None, **options: Any) -> None:
        options.pop("weighted", None)
        super().__init__(n, weighted=True, **options)
