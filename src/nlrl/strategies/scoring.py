"""Calling a reward model safely: every score checked, every failure named.

A reward model's ``score(prompt, output)`` must return a finite number in [0, 1]. When it raises
or returns anything else (NaN, 1.7, "high"), :func:`score_outputs` either raises
:class:`~nlrl.VerifierError` (``strict=True``) or logs a warning and reports the score as
missing (``None``), so the strategy can fall back openly (e.g. to a majority vote) and say so in
its trace, instead of ranking on a wrong number.
"""

from __future__ import annotations

import logging
import math
from typing import Any, Sequence

from .._exceptions import ConfigError, VerifierError
from .base import Run

log = logging.getLogger(__name__)


def reward_name(reward: Any) -> str:
    return str(getattr(reward, "name", None) or type(reward).__name__)


def check_score(value: Any, reward: Any, what: str = "score") -> float:
    """``value`` as a float in [0, 1], or a :class:`VerifierError` saying what was wrong."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise VerifierError(f"reward model {reward_name(reward)} returned a {type(value).__name__} "
                            f"({value!r}) as its {what}, not a number")
    v = float(value)
    if not math.isfinite(v) or not 0.0 <= v <= 1.0:
        raise VerifierError(f"reward model {reward_name(reward)} returned {value!r} as its {what}; "
                            "it must be a finite number in [0, 1]")
    return v


def score_outputs(run: Run, outputs: Sequence[str], *, reward: Any = None, strict: bool = False,
                  prompt: str | None = None, indices: Sequence[int] | None = None) -> list[float | None]:
    """Score each output with ``reward`` (default: the run's); records a ``score`` event each.

    A failing score is ``None`` (logged) unless ``strict``, which raises :class:`VerifierError`.
    """
    reward = run.reward if reward is None else reward
    if reward is None:
        raise ConfigError("this strategy needs a reward model (pass reward=...)")
    question = run.task.question if prompt is None else prompt
    out: list[float | None] = []
    for k, text in enumerate(outputs):
        i = indices[k] if indices is not None else k
        try:
            value = check_score(reward.score(question, text), reward)
        except Exception as exc:
            if strict:
                if isinstance(exc, VerifierError):
                    raise
                raise VerifierError(f"reward model {reward_name(reward)} failed on sample {i}: "
                                    f"{type(exc).__name__}: {exc}") from exc
            log.warning("reward model %s failed on sample %d (%s: %s); its score is left out",
                        reward_name(reward), i, type(exc).__name__, exc)
            run.event("score", "", index=i, score=None, error=f"{type(exc).__name__}: {exc}")
            out.append(None)
            continue
        run.event("score", "", index=i, score=round(value, 6), reward=reward_name(reward))
        out.append(value)
    return out


def score_steps(run: Run, steps: Sequence[str], *, reward: Any = None, strict: bool = False,
                prompt: str | None = None) -> list[float] | None:
    """Per-step scores of a partial solution from a process reward, or None when it failed."""
    reward = run.reward if reward is None else reward
    question = run.task.question if prompt is None else prompt
    try:
        values = list(reward.score_steps(question, list(steps)))
        if len(values) != len(steps):
            raise VerifierError(f"reward model {reward_name(reward)} gave {len(values)} step scores "
                                f"for {len(steps)} steps")
        return [check_score(v, reward, "step score") for v in values]
    except Exception as exc:
        if strict:
            if isinstance(exc, VerifierError):
                raise
            raise VerifierError(f"reward model {reward_name(reward)} failed to score steps: "
                                f"{type(exc).__name__}: {exc}") from exc
        log.warning("process reward %s failed (%s: %s); step scores left out",
                    reward_name(reward), type(exc).__name__, exc)
        return None
