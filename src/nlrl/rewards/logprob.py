"""A process reward from the model's own token log-probabilities.

A step's score is ``exp(mean token log-probability)``: the geometric-mean probability the model
gave the step's tokens, in (0, 1]. An output's score is the same over all its tokens.

The log-probabilities come from the backend that wrote the text. ``Backend.generate`` reports
them for the tokens it samples (``SamplingParams(logprobs=True)``, which strategies ask for because
the reward declares ``needs_logprobs``), so the cheap path is to hand them over with
:meth:`LogprobProcessReward.observe` (or :meth:`observe_generation`) as the text is generated;
:meth:`generate` does both in one call. Text the reward was not given can be scored
only when the backend can score given text (an optional ``score_text(prompt, text)`` returning
token log-probabilities); otherwise :class:`~nlrl.VerifierError` says so.

Steps found verbatim among observed texts use their own log-probabilities; steps cut out of one
longer observed completion get a share of its tokens by the backend's token count of each step
(approximate at step boundaries).
"""

from __future__ import annotations

import math
from collections import OrderedDict
from typing import Sequence

from .._exceptions import ConfigError, VerifierError
from ..backends import Backend, Generation, SamplingParams
from .base import Observed, ProcessReward, observed


def prob_of(logprobs: Sequence[float]) -> float:
    """``exp`` of the mean log-probability, clamped into [0, 1]."""
    if not logprobs:
        raise VerifierError("no token log-probabilities to score")
    mean = math.fsum(logprobs) / len(logprobs)
    if math.isnan(mean):
        raise VerifierError("token log-probabilities contain NaN")
    return min(1.0, max(0.0, math.exp(min(mean, 0.0))))


class LogprobProcessReward(ProcessReward):
    """Scores outputs and steps by the backend's token log-probabilities (module docstring)."""

    name = "logprob"
    needs_logprobs = True

    def __init__(self, backend: Backend | None = None, *, cache_size: int = 4096) -> None:
        self.backend = backend
        self._cache: OrderedDict[str, tuple[float, ...]] = OrderedDict()
        self._cache_size = cache_size

    # ---- feeding log-probabilities ------------------------------------------------------------

    def observe(self, prompt: str | None, samples: Sequence[Observed]) -> None:
        """Remember the token log-probabilities of each sample (those without are skipped)."""
        for text, lps in observed(samples):
            self.remember(text, lps)

    def remember(self, text: str, logprobs: Sequence[float] | None) -> None:
        """Remember the token log-probabilities the backend gave ``text``."""
        if not logprobs:
            return
        key = text.strip()
        self._cache[key] = tuple(float(x) for x in logprobs)
        self._cache.move_to_end(key)
        while len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)

    def observe_generation(self, generation: Generation) -> None:
        self.observe(None, generation.completions)

    def generate(self, prompts: Sequence[str], params: SamplingParams) -> list[Generation]:
        """``backend.generate`` with log-probabilities on, observing every completion."""
        if self.backend is None:
            raise ConfigError("LogprobProcessReward.generate needs a backend")
        gens = self.backend.generate(prompts, params.replace(logprobs=True))
        for g in gens:
            self.observe_generation(g)
        return gens

    # ---- scoring --------------------------------------------------------------------------------

    def _logprobs(self, prompt: str, text: str) -> tuple[float, ...]:
        key = text.strip()
        if key in self._cache:
            return self._cache[key]
        scorer = getattr(self.backend, "score_text", None)
        if callable(scorer):
            lps = tuple(scorer(prompt, text))
            self.remember(text, lps)
            return lps
        raise VerifierError("LogprobProcessReward has no log-probabilities for this text: pass the "
                            "completion's logprobs to observe() (generate with logprobs=True), or use "
                            "a backend that can score given text")

    def score(self, prompt: str, output: str) -> float:
        key = output.strip()
        if key not in self._cache:
            lines = [ln.strip() for ln in key.splitlines() if ln.strip()]
            if lines and all(ln in self._cache for ln in lines):  # observed step by step
                return prob_of([lp for ln in lines for lp in self._cache[ln]])
        return prob_of(self._logprobs(prompt, output))

    def score_steps(self, prompt: str, steps: list[str]) -> list[float]:
        """One score per step: its own observed log-probabilities, else its share of an observed
        completion that holds it (with its neighbours, in order), else the backend's score_text."""
        steps = [s.strip() for s in steps]
        out: list[float] = []
        i = 0
        while i < len(steps):
            if steps[i] in self._cache:
                out.append(prob_of(self._cache[steps[i]]))
                i += 1
                continue
            # the longest run of steps from i that one observed completion holds, in order (a
            # path's steps come from several completions: a beam's lines, a split line's parts)
            j, whole = next(((j, w) for j in range(len(steps), i, -1)
                             if (w := self._containing(steps[i:j])) is not None), (i + 1, None))
            if whole is None:
                out.append(prob_of(self._logprobs(prompt, steps[i])))
            else:
                out.extend(self._apportion(steps[i:j], whole[1]))
            i = j
        return out

    def _apportion(self, steps: list[str], lps: tuple[float, ...]) -> list[float]:
        """Scores of consecutive ``steps`` cut out of one completion with log-probabilities ``lps``."""
        counts = [self._count(s) for s in steps]
        total = sum(counts)
        if total == 0:
            raise VerifierError("cannot align steps with tokens")
        scale = len(lps) / total  # the steps' token counts, stretched to the completion's
        out, start = [], 0.0
        for n in counts:
            end = start + n * scale
            chunk = lps[int(round(start)):max(int(round(end)), int(round(start)) + 1)]
            out.append(prob_of(chunk))
            start = end
        return out

    def _containing(self, steps: list[str]) -> tuple[str, tuple[float, ...]] | None:
        for text in reversed(self._cache):
            pos = 0
            for s in steps:
                pos = text.find(s, pos)
                if pos < 0:
                    break
                pos += len(s)
            else:
                return text, self._cache[text]
        return None

    def _count(self, step: str) -> int:
        n = self.backend.count_tokens(step) if self.backend is not None else None
        return n if n is not None else max(1, len(step.split()))
