"""Drawing samples inside a budget: the one loop every sampling strategy shares.

:func:`draw` asks the backend for up to ``n`` samples of a prompt, in as few calls as the budget
allows. A call never asks for more samples than the generated-token cap can pay for at
``max_tokens`` each, so ``Budget.max_total_tokens`` is never exceeded; samples usually stop
early (at the final-answer line), so later calls can afford more. Sample ``i`` is drawn with
seed ``seed + i`` whichever call draws it, so seeded runs are reproducible and N samples are a
prefix of 2N samples.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Sequence

from .base import Run

log = logging.getLogger(__name__)

#: Sampling temperature of the sampling strategies when the budget does not set one.
DEFAULT_TEMPERATURE = 0.7


@dataclass(frozen=True)
class Sample:
    """One completion and the answer read out of it."""

    index: int
    text: str
    answer: str | None
    tokens: int
    finish_reason: str = "stop"
    logprobs: tuple[float, ...] | None = None


def temperature_of(run: Run, default: float = DEFAULT_TEMPERATURE) -> float:
    """The budget's temperature, or ``default`` when the budget leaves it open."""
    return default if run.budget.temperature is None else run.budget.temperature


def affordable(run: Run, max_tokens: int | None = None) -> int | None:
    """How many more full-length completions the token cap pays for (None: no cap)."""
    left = run.tokens_left()
    if left is None:
        return None
    return max(0, left // (max_tokens or run.budget.max_tokens))


def draw(
    run: Run,
    n: int,
    *,
    prior: Sequence[Sample] = (),
    temperature: float | None = None,
    prompt: str | None = None,
    logprobs: bool = False,
    batch: int | None = None,
    kind: str = "sample",
    **params: Any,
) -> list[Sample]:
    """Samples ``0..n-1`` of ``prompt`` (default: the task's), reusing ``prior`` ones.

    Stops early when the budget cannot pay for another full-length sample. ``batch`` caps the
    samples per backend call (adaptive strategies look at the answers between calls). The calls
    are accounted as ``kind`` (``probe`` for a difficulty probe, ``program`` for programs, ...).
    """
    temp = temperature_of(run) if temperature is None else temperature
    samples = list(prior)
    if temp == 0.0 and n > 1 and not samples:
        # Greedy decoding gives the same completion every time: one is all there is to see.
        log.warning("n=%d samples at temperature 0 would all be the same; drawing one", n)
        n = 1
    while len(samples) < n:
        k = n - len(samples)
        if batch is not None:
            k = min(k, batch)
        can = affordable(run)
        if can is not None:
            k = min(k, can)
        if k < 1:
            log.info("token budget spent after %d of %d samples", len(samples), n)
            break
        seed = None if run.budget.seed is None else run.budget.seed + len(samples)
        gen = run.sample(prompt, n=k, temperature=temp, seed=seed, logprobs=logprobs, kind=kind, **params)
        for comp in gen.completions:
            s = Sample(len(samples), comp.text, run.task.extract(comp.text), comp.num_tokens,
                       comp.finish_reason, comp.logprobs)
            samples.append(s)
            # log-probability statistics, when drawn with them: what a learned verifier trains on
            lp = ({"mean_logprob": round(sum(s.logprobs) / len(s.logprobs), 5),
                   "min_logprob": round(min(s.logprobs), 5)}
                  if s.logprobs else {})
            run.event("sample", comp.text, index=s.index, answer=s.answer, tokens=s.tokens,
                      finish_reason=s.finish_reason, **lp)
    return samples
