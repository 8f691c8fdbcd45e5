"""Drawing samples inside a budget: the one loop every sampling strategy shares.

:func:`draw` asks the backend for up to ``n`` samples of a prompt, in as few calls as the budget
allows. A call never asks for more samples than the generated-token cap can pay for at
``max_tokens`` each, so ``Budget.max_total_tokens`` is never exceeded; samples usually stop
early (at the final-answer line), so later calls can afford more. Sample ``i`` is drawn with
seed ``seed + i`` whichever call draws it, so seeded runs are reproducible, and N samples are a
prefix of 2N wherever a sample depends on its seed alone. The embedded engine's batched path does
not promise that across calls of different sizes (llama.cpp's numbers depend on the batch's shape:
docs/core.md), so code that compares N with 2N samples draws 2N once and takes the prefix.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Mapping, Sequence

from .base import Run

log = logging.getLogger(__name__)

#: Sampling temperature of the sampling strategies in a domain :data:`DOMAIN_TEMPERATURES` lacks.
DEFAULT_TEMPERATURE = 0.7

#: The sampling strategies' default temperature per domain, when neither the budget nor the
#: strategy's own ``temperature`` option sets one. Measured, not guessed:
#: ``benchmarks/temperature.py`` -> ``benchmarks/results/temperature.json`` (self-consistency@5
#: with the embedded model at T in {0.2, 0.4, 0.6, 0.8, 1.0}: math on 30 arith dev problems,
#: commonsense on 40 CommonsenseQA questions; both chose 0.4, within wide intervals; see
#: docs/strategies.md). Coding: ``benchmarks/coding_temperature.py`` ->
#: ``benchmarks/results/coding_temperature.json`` (public-tests@5 and pass@1 at T in
#: {0.2, 0.4, 0.7, 1.0} on 28 tasks of the graded ``minicode`` dev split, levels 1-4; chose 0.4).
DOMAIN_TEMPERATURES: Mapping[str, float] = MappingProxyType({
    "math": 0.4,
    "commonsense": 0.4,
    "coding": 0.4,
})


@dataclass(frozen=True)
class Sample:
    """One completion and the answer read out of it."""

    index: int
    text: str
    answer: str | None
    tokens: int
    finish_reason: str = "stop"
    logprobs: tuple[float, ...] | None = None


def default_temperature(domain: str | None) -> float:
    """The measured default sampling temperature of ``domain`` (:data:`DOMAIN_TEMPERATURES`)."""
    return DOMAIN_TEMPERATURES.get(domain or "", DEFAULT_TEMPERATURE)


def sampling_temperature(run: Run, option: float | None = None) -> float:
    """The temperature a sampling strategy samples at: the budget's, else the strategy's own
    ``option``, else the measured default of the task's domain."""
    if run.budget.temperature is not None:
        return run.budget.temperature
    return option if option is not None else default_temperature(run.task.domain)


def temperature_of(run: Run, default: float | None = None) -> float:
    """The budget's temperature, or ``default`` (the domain's measured default when None) when
    the budget leaves it open."""
    return sampling_temperature(run, default)


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
