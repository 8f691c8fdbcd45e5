"""Self-consistency (Wang et al. 2023, arXiv 2203.11171) and its adaptive variant.

:class:`SelfConsistency` samples N chains of thought and returns the answer most of them reach,
answers grouped by equivalence (``1/2``, ``0.5`` and ``\\frac{1}{2}`` are one vote). A tie is
broken by the reward model when the run has one (only the tied samples are scored), else by the
earliest sample.

:class:`AdaptiveSelfConsistency` (Aggarwal et al. 2023, "Let's Sample Step by Step",
arXiv 2305.11860) samples a few at a time and stops as soon as the leading answer cannot be
overtaken by the samples the budget has left, or the Beta posterior that it beats the runner-up
passes ``confidence``.
"""

from __future__ import annotations

import math
from typing import Any, Sequence

from .._exceptions import ConfigError
from .base import Run, Strategy, StrategyResult
from .sampling import Sample, draw, sampling_temperature
from .scoring import feed, score_outputs, wants_logprobs
from .voting import Equivalence, Vote, equivalence_for, majority


def vote_samples(run: Run, samples: Sequence[Sample], *, equivalent: Equivalence | None = None,
                 tie_break_by_reward: bool = True) -> Vote:
    """Majority over the samples' answers; a tie at the top is broken by reward if there is one."""
    eq = equivalent or equivalence_for(run.task.domain, run.task.question)
    answers = [s.answer for s in samples]
    vote = majority(answers, equivalent=eq)
    groups = vote.groups
    tied = [g for g in groups if g.score == groups[0].score] if groups else []
    if len(tied) > 1 and tie_break_by_reward and run.reward is not None:
        feed(run, run.reward, [(s.text, s.logprobs) for s in samples])
        idx = sorted(i for g in tied for i in g.members)
        scores = score_outputs(run, [samples[i].text for i in idx], indices=idx)
        tie = [None] * len(samples)
        for i, s in zip(idx, scores):
            tie[i] = s
        vote = majority(answers, equivalent=eq, tie_break=tie)
    return vote


def _needs_logprobs(run: Run) -> bool:
    """A log-probability reward breaking ties needs the samples' log-probabilities."""
    return run.reward is not None and wants_logprobs(run.reward)


def _vote_event(run: Run, vote: Vote, n: int) -> None:
    run.event("vote", vote.answer or "", samples=n, agreement=round(vote.agreement, 4),
              abstained=vote.abstained, groups=[g.to_dict() for g in vote.groups])


def vote_result(run: Run, name: str, samples: Sequence[Sample], vote: Vote, **extra: Any) -> StrategyResult:
    """The result of a vote: the winning answer and the first sample that gave it."""
    _vote_event(run, vote, len(samples))
    win = vote.winner
    output = samples[win.members[0]].text if win else (samples[0].text if samples else "")
    return run.result(name, vote.answer, output, samples=len(samples),
                      agreement=round(vote.agreement, 4), **extra)


class SelfConsistency(Strategy):
    """N sampled chains of thought, majority vote over equivalent answers.

    ``n`` overrides the budget's n; ``temperature`` the default sampling temperature (the
    budget's, if set, wins); ``equivalent`` the answer equivalence (default: per domain).
    """

    #: ``auto`` may hand over its probe samples (same temperature) through ``run_with``
    reuses_samples = True
    name = "self-consistency"

    def __init__(self, n: int | None = None, *, temperature: float | None = None,
                 equivalent: Equivalence | None = None) -> None:
        if n is not None and (not isinstance(n, int) or n < 1):
            raise ConfigError(f"{self.name} n must be an integer >= 1, got {n!r}")
        self.n = n
        self.temperature = temperature
        self.equivalent = equivalent

    def _temperature(self, run: Run) -> float:
        return sampling_temperature(run, self.temperature)

    def run(self, run: Run) -> StrategyResult:
        return self.run_with(run, ())

    def run_with(self, run: Run, prior: Sequence[Sample]) -> StrategyResult:
        """Continue from samples already drawn (``auto`` hands over its difficulty probe)."""
        n = self.n or run.budget.n
        samples = draw(run, max(n, len(prior)), prior=prior, temperature=self._temperature(run),
                       logprobs=_needs_logprobs(run))
        vote = vote_samples(run, samples, equivalent=self.equivalent)
        return vote_result(run, self.name, samples, vote)


def beta_prob_greater(a: int, b: int) -> float:
    """P(p > 1/2) for p ~ Beta(a + 1, b + 1): the chance the leader's share beats the runner-up's.

    Exact for integer counts: P(Beta(α, β) > 1/2) = P(Binomial(α + β - 1, 1/2) <= α - 1).
    """
    alpha, beta = a + 1, b + 1
    m = alpha + beta - 1
    return math.fsum(math.comb(m, k) for k in range(alpha)) / 2.0 ** m


class AdaptiveSelfConsistency(SelfConsistency):
    """Self-consistency that stops sampling once the answer is settled.

    After each batch of ``batch`` samples (at least ``min_samples`` in all) it stops when the
    leader's lead exceeds the samples left (it cannot be overtaken), or when
    ``P(p_leader > p_runner_up) >= confidence`` under a Beta(leader+1, runner_up+1) posterior.
    """

    name = "adaptive-self-consistency"

    def __init__(self, n: int | None = None, *, temperature: float | None = None,
                 equivalent: Equivalence | None = None, confidence: float = 0.95,
                 min_samples: int = 2, batch: int = 1) -> None:
        super().__init__(n, temperature=temperature, equivalent=equivalent)
        if not (isinstance(confidence, (int, float)) and 0.5 <= confidence < 1.0):
            raise ConfigError(f"confidence must be in [0.5, 1), got {confidence!r}")
        if not isinstance(min_samples, int) or min_samples < 1:
            raise ConfigError(f"min_samples must be an integer >= 1, got {min_samples!r}")
        if not isinstance(batch, int) or batch < 1:
            raise ConfigError(f"batch must be an integer >= 1, got {batch!r}")
        self.confidence = float(confidence)
        self.min_samples = min_samples
        self.batch = batch

    def should_stop(self, vote: Vote, drawn: int, n: int) -> str | None:
        """Why to stop after ``drawn`` of ``n`` samples, or None to go on."""
        if drawn >= n:
            return "all samples drawn"
        if drawn < self.min_samples or not vote.groups:
            return None
        lead = vote.groups[0].count
        second = vote.groups[1].count if len(vote.groups) > 1 else 0
        if lead - second > n - drawn:
            return "leader cannot be overtaken"
        p = beta_prob_greater(lead, second)
        if p >= self.confidence:
            return f"posterior {p:.3f} >= {self.confidence}"
        return None

    def run_with(self, run: Run, prior: Sequence[Sample]) -> StrategyResult:
        n = max(self.n or run.budget.n, len(prior))
        eq = self.equivalent or equivalence_for(run.task.domain, run.task.question)
        temp = self._temperature(run)
        samples = list(prior)
        reason = None
        while True:
            if samples:
                vote = majority([s.answer for s in samples], equivalent=eq)
                reason = self.should_stop(vote, len(samples), n)
                if reason:
                    break
            step = max(self.batch, self.min_samples - len(samples))
            before = len(samples)
            samples = draw(run, min(n, before + step), prior=samples, temperature=temp,
                           logprobs=_needs_logprobs(run))
            if len(samples) == before:
                reason = "token budget spent"
                break
            if temp == 0.0:  # greedy: more samples would repeat this one
                reason = "greedy decoding"
                break
        run.event("stop", reason or "", samples=len(samples), of=n)
        vote = vote_samples(run, samples, equivalent=eq)
        return vote_result(run, self.name, samples, vote, stopped=reason)
