"""The reward-model interface: ``score(prompt, output) -> float in [0, 1]``.

A reward model rates one output for one prompt; higher is better. Process rewards also offer
``score_steps(prompt, steps) -> list[float]`` (one score per step of a partial solution); the
method is optional and its presence is how a strategy tells a process reward from an outcome
reward, so the base class does not define it.

**Failures are loud.** A reward that cannot score raises :class:`~nlrl.VerifierError` rather than
returning a made-up number. Callers that take any reward model (third-party ones included)
should go through :func:`checked_score` / :func:`checked_step_scores`, which turn an exception,
a NaN, an infinity, a bool or a value outside [0, 1] into a :class:`~nlrl.VerifierError` naming
the reward, so a broken reward is detected instead of ranking on garbage.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from typing import Any, Sequence

from .._exceptions import NLRLError, VerifierError


class RewardModel(ABC):
    """Rates an output for a prompt. One required method: :meth:`score`."""

    #: registry name, e.g. "judge"
    name: str = "reward"

    @abstractmethod
    def score(self, prompt: str, output: str) -> float:
        """A finite score in [0, 1] for ``output`` as an answer to ``prompt``."""


def _name(reward: Any) -> str:
    return str(getattr(reward, "name", None) or type(reward).__name__)


def _check(value: Any, reward: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise VerifierError(f"reward {_name(reward)} returned {value!r} as its {what}, not a number")
    v = float(value)
    if not math.isfinite(v) or not 0.0 <= v <= 1.0:
        raise VerifierError(f"reward {_name(reward)} returned {value!r} as its {what}; "
                            "it must be a finite number in [0, 1]")
    return v


def checked_score(reward: Any, prompt: str, output: str) -> float:
    """``reward.score(prompt, output)``, validated; any failure is a :class:`VerifierError`."""
    try:
        value = reward.score(prompt, output)
    except VerifierError:
        raise
    except Exception as exc:  # a reward's own bug or its backend's failure, named
        kind = "failed" if isinstance(exc, NLRLError) else "raised"
        raise VerifierError(f"reward {_name(reward)} {kind}: {type(exc).__name__}: {exc}") from exc
    return _check(value, reward, "score")


def checked_step_scores(reward: Any, prompt: str, steps: Sequence[str]) -> list[float]:
    """``reward.score_steps(prompt, steps)``, validated: one score in [0, 1] per step."""
    method = getattr(reward, "score_steps", None)
    if not callable(method):
        raise VerifierError(f"reward {_name(reward)} does not score steps")
    try:
        values = list(method(prompt, list(steps)))
    except VerifierError:
        raise
    except Exception as exc:
        raise VerifierError(f"reward {_name(reward)} raised: {type(exc).__name__}: {exc}") from exc
    if len(values) != len(steps):
        raise VerifierError(f"reward {_name(reward)} gave {len(values)} step scores for {len(steps)} steps")
    return [_check(v, reward, "step score") for v in values]
