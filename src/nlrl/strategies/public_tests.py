"""Code with public tests: sample programs, keep the ones that pass the prompt's own examples, vote.

AlphaCode-style filtering (Li et al. 2022, arXiv 2203.07814) and CodeT (Chen et al. 2022,
arXiv 2207.10397): the examples a coding prompt shows (HumanEval's docstring examples, the MBPP
assert) are tests the model may use. :class:`PublicTests` samples ``n`` programs with the task's
coding prompt, runs each in the verifiers' sandbox against those examples
(:func:`nlrl.verifiers.public_tests.run_public_tests`; the tests are read by
:func:`~nlrl.verifiers.public_tests.parse_public_tests` from the question alone), keeps the
programs that pass the most of them, and votes among those (programs grouped by syntax tree;
a tie is broken by the run's reward model when it has one, else by the earliest sample).

When the prompt shows no test, or no program passes any, it falls back to the vote over all the
samples (plain self-consistency) and says so in a ``fallback`` trace event. The task's
``reference`` (a benchmark's hidden tests) is never read: selection uses what the model saw.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Sequence

from ..verifiers.public_tests import DEFAULT_LIMITS, parse_public_tests, run_public_tests
from ..verifiers.sandbox import SandboxLimits
from .base import Run, Strategy, StrategyResult, check_int
from .program_aided import sandbox_limits
from .sampling import Sample, draw, sampling_temperature
from .self_consistency import _needs_logprobs, vote_result, vote_samples
from .voting import Equivalence, Vote


class PublicTests(Strategy):
    """Sample programs, filter them by the prompt's visible tests, vote among the survivors.

    ``n`` overrides the budget's n; ``temperature`` the sampling temperature (the budget's, if
    set, wins; default: the domain's measured default); ``limits`` the sandbox limits of one
    program's run; ``timeout_s`` shortcuts ``limits.timeout_s``; ``equivalent`` the program
    equivalence (default: the coding domain's, equal syntax trees).
    """

    reuses_samples = True
    name = "public-tests"

    def __init__(self, n: int | None = None, *, temperature: float | None = None,
                 limits: SandboxLimits | None = None, timeout_s: float | None = None,
                 equivalent: Equivalence | None = None) -> None:
        check_int(self.name, "n", n)
        self.n = n
        self.temperature = temperature
        self.limits = sandbox_limits(self.name, limits, timeout_s, DEFAULT_LIMITS)
        self.equivalent = equivalent

    def run(self, run: Run) -> StrategyResult:
        return self.run_with(run, ())

    def run_with(self, run: Run, prior: Sequence[Sample]) -> StrategyResult:
        """Continue from samples already drawn (``auto`` hands over its difficulty probe)."""
        n = self.n or run.budget.n
        samples = draw(run, max(n, len(prior)), prior=prior, temperature=sampling_temperature(run, self.temperature),
                       logprobs=_needs_logprobs(run))
        tests = parse_public_tests(run.task.question)
        run.event("public_tests", tests.style, **tests.to_dict())
        if not tests.counted:
            return self._fallback(run, samples, "the prompt shows no test")
        runs = run_public_tests([s.text for s in samples], tests, self.limits)
        for s, r in zip(samples, runs):
            run.event("public_test_run", s.answer or "", index=s.index, isolation=r.result.isolation,
                      duration_s=round(r.result.duration_s, 3), **r.to_dict())
        best = max((r.score for r in runs), default=0)
        if best == 0:
            return self._fallback(run, samples, "no program passed a public test", tests=tests.counted)
        kept = [i for i, r in enumerate(runs) if r.score == best]
        run.event("filter", f"{len(kept)}/{len(samples)}", kept=kept, passed=best, of=tests.counted,
                  all_passed=best == tests.counted)
        sub = [samples[i] for i in kept]
        vote = vote_samples(run, sub, equivalent=self.equivalent)
        vote = _reindex(vote, kept)
        tied = len(vote.groups) > 1 and vote.groups[0].score == vote.groups[1].score
        return vote_result(run, self.name, samples, vote, over="passing", kept=len(kept), passed=best,
                           tests=tests.counted, tied=tied)

    def _fallback(self, run: Run, samples: Sequence[Sample], reason: str, **data: int) -> StrategyResult:
        run.event("fallback", "vote over all samples", reason=reason, **data)
        vote = vote_samples(run, samples, equivalent=self.equivalent)
        return vote_result(run, self.name, samples, vote, over="all", fallback=reason)


def _reindex(vote: Vote, kept: Sequence[int]) -> Vote:
    """A vote over the kept samples, with members numbered as in the full sample list."""
    groups = tuple(replace(g, members=tuple(kept[i] for i in g.members)) for g in vote.groups)
    return Vote(groups, vote.abstained)
