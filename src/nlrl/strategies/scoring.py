"""Calling a reward model from a strategy: fed what it needs, metered, every score checked.

* Rewards that read the samples' own data get it first (:func:`feed`): the log-probabilities of
  each completion for :class:`~nlrl.rewards.LogprobProcessReward`, the sibling samples for
  :class:`~nlrl.rewards.AgreementReward`.
* A reward that asks a model (an LLM judge) is metered: its calls are added to the run's usage.
* A score that raises, or is NaN / outside [0, 1], is checked by
  :func:`nlrl.rewards.checked_score`; :func:`score_outputs` then raises
  :class:`~nlrl.VerifierError` (``strict=True``) or logs a warning and reports the score as
  missing (``None``), so the strategy falls back openly and says so in its trace, instead of
  ranking on a wrong number.
"""

from __future__ import annotations

import contextlib
import copy
import logging
import time
from typing import Any, Iterator, Sequence

from .._exceptions import ConfigError, VerifierError
from .base import Run

log = logging.getLogger(__name__)


def reward_name(reward: Any) -> str:
    return str(getattr(reward, "name", None) or type(reward).__name__)


def wants_logprobs(reward: Any) -> bool:
    """Whether samples must be drawn with log-probabilities for ``reward`` to score them."""
    from ..rewards import LogprobProcessReward

    return isinstance(reward, LogprobProcessReward) or bool(getattr(reward, "needs_logprobs", False))


def feed(run: Run, reward: Any, items: Sequence[tuple[str, Sequence[float] | None]]) -> None:
    """Hand ``(text, logprobs)`` of the samples drawn so far to a reward that reads them."""
    from ..rewards import AgreementReward, LogprobProcessReward

    if isinstance(reward, LogprobProcessReward):
        for text, lps in items:
            reward.observe(text, lps)
    elif isinstance(reward, AgreementReward):
        reward.observe(run.task.question, [text for text, _ in items])
    elif callable(getattr(reward, "observe", None)):  # e.g. the learned verifier: texts and logprobs
        reward.observe(run.task.question, list(items))


class _Metered:
    """A backend proxy that charges the run for every call a reward model makes."""

    def __init__(self, backend: Any, run: Run) -> None:
        self._backend, self._run = backend, run

    def generate(self, prompts: Any, params: Any, **kw: Any) -> Any:
        gens = self._backend.generate(prompts, params, **kw)
        for g in gens:
            self._run.add_usage(g.usage)
        return gens

    def score_text(self, prompt: str, text: str) -> Any:
        """Teacher-forced scoring is a model call too. It is charged as a full evaluation of
        prompt and text: an upper bound, since the engine may reuse a cached prefix."""
        from ..backends import Usage

        start = time.perf_counter()
        lps = self._backend.score_text(prompt, text)
        counted = self._backend.count_tokens(prompt + text) if hasattr(self._backend, "count_tokens") else None
        self._run.add_usage(Usage(prompt_tokens=counted or 0, calls=1, wall_s=time.perf_counter() - start))
        return lps

    def __getattr__(self, name: str) -> Any:
        return getattr(self._backend, name)


@contextlib.contextmanager
def metered(run: Run, reward: Any) -> Iterator[Any]:
    """The reward to score with inside this run: a shallow copy whose backend charges this run.
    The shared reward object is never modified, so concurrent runs cannot bill each other (the
    copy shares the original's observations)."""
    backend = getattr(reward, "backend", None)
    if backend is None or not callable(getattr(backend, "generate", None)):
        yield reward
        return
    scoped = copy.copy(reward)
    scoped.backend = _Metered(backend, run)
    yield scoped


def score_outputs(run: Run, outputs: Sequence[str], *, reward: Any = None, strict: bool = False,
                  prompt: str | None = None, indices: Sequence[int] | None = None) -> list[float | None]:
    """Score each output with ``reward`` (default: the run's); records a ``score`` event each.

    A failing score is ``None`` (logged) unless ``strict``, which raises :class:`VerifierError`.
    """
    from ..rewards import checked_score

    reward = run.reward if reward is None else reward
    if reward is None:
        raise ConfigError("this strategy needs a reward model (pass reward=...)")
    question = run.task.question if prompt is None else prompt
    out: list[float | None] = []
    with metered(run, reward) as scorer:
        for k, text in enumerate(outputs):
            i = indices[k] if indices is not None else k
            try:
                value = checked_score(scorer, question, text)
            except VerifierError as exc:
                if strict:
                    raise VerifierError(f"{exc} (sample {i})") from exc
                log.warning("reward model %s failed on sample %d (%s); its score is left out",
                            reward_name(reward), i, exc)
                run.event("score", "", index=i, score=None, error=str(exc))
                out.append(None)
                continue
            run.event("score", "", index=i, score=round(value, 6), reward=reward_name(reward))
            out.append(value)
    return out


def score_steps(run: Run, steps: Sequence[str], *, reward: Any = None, strict: bool = False,
                prompt: str | None = None) -> list[float] | None:
    """Per-step scores of a partial solution from a process reward, or None when it failed."""
    from ..rewards import checked_step_scores

    reward = run.reward if reward is None else reward
    question = run.task.question if prompt is None else prompt
    try:
        with metered(run, reward) as scorer:
            return checked_step_scores(scorer, question, list(steps))
    except VerifierError as exc:
        if strict:
            raise
        log.warning("process reward %s failed (%s); step scores left out", reward_name(reward), exc)
        return None
