"""The reward-model interface: ``score(prompt, output) -> float in [0, 1]``.

A reward model rates one output for one prompt; higher is better. What else a reward can do or
needs is declared on the base class, with defaults, so a strategy never asks which class it holds:

- :attr:`RewardModel.needs_logprobs`: samples must be drawn with token log-probabilities;
- :attr:`RewardModel.needs_siblings`: a sample's score depends on the other samples of its prompt
  (it cannot be scored on its own, e.g. before the others are drawn);
- :meth:`RewardModel.observe`: strategies hand over every batch of samples they draw (text and
  log-probabilities) before scoring; a no-op unless the reward reads them.

Process rewards subclass :class:`ProcessReward`, whose one extra method
``score_steps(prompt, steps) -> list[float]`` gives one score per step of a partial solution.
Strategies tell a process reward from an outcome reward by that base class, so a third-party
reward is a subclass too: an object that merely has a ``score_steps`` method is not one.

**Failures are loud.** A reward that cannot score raises :class:`~nlrl.VerifierError` rather than
returning a made-up number. Callers that take any reward model (third-party ones included)
should go through :func:`checked_score` / :func:`checked_step_scores`, which turn an exception,
a NaN, an infinity, a bool or a value outside [0, 1] into a :class:`~nlrl.VerifierError` naming
the reward, so a broken reward is detected instead of ranking on garbage.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from typing import Any, Sequence, Tuple, Union

from .._exceptions import NLRLError, VerifierError


#: A sample handed to :meth:`RewardModel.observe`: its text, or ``(text, token log-probabilities)``,
#: or any object with ``text`` and ``logprobs`` attributes (a ``Completion``, a strategy's ``Sample``).
Observed = Union[str, Tuple[str, Union[Sequence[float], None]], Any]


def observed(samples: Sequence[Observed]) -> list[tuple[str, tuple[float, ...] | None]]:
    """``samples`` as ``(text, logprobs or None)`` pairs."""
    out = []
    for s in samples:
        if isinstance(s, str):
            out.append((s, None))
        elif isinstance(s, tuple):
            text, lps = s
            out.append((text, None if lps is None else tuple(lps)))
        else:
            lps = getattr(s, "logprobs", None)
            out.append((s.text, None if lps is None else tuple(lps)))
    return out


class RewardModel(ABC):
    """Rates an output for a prompt. One required method: :meth:`score`."""

    #: registry name, e.g. "judge"
    name: str = "reward"
    #: samples must be drawn with token log-probabilities (``SamplingParams(logprobs=True)``)
    needs_logprobs: bool = False
    #: a sample's score depends on its prompt's other samples (see :meth:`observe`)
    needs_siblings: bool = False

    def observe(self, prompt: str | None, samples: Sequence[Observed]) -> None:
        """Take note of samples drawn for ``prompt`` before they are scored (default: ignore them).

        Strategies call it with every batch they draw; a reward that reads log-probabilities or
        compares siblings overrides it."""

    @abstractmethod
    def score(self, prompt: str, output: str) -> float:
        """A finite score in [0, 1] for ``output`` as an answer to ``prompt``."""


class ProcessReward(RewardModel):
    """A reward that also scores each step of a partial solution (a process reward model)."""

    @abstractmethod
    def score_steps(self, prompt: str, steps: list[str]) -> list[float]:
        """One finite score in [0, 1] per step of ``steps`` (the steps so far, in order)."""


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
    if not isinstance(reward, ProcessReward):
        raise VerifierError(f"reward {_name(reward)} does not score steps (not a ProcessReward)")
    try:
        values = list(reward.score_steps(prompt, list(steps)))
    except VerifierError:
        raise
    except Exception as exc:
        raise VerifierError(f"reward {_name(reward)} raised: {type(exc).__name__}: {exc}") from exc
    if len(values) != len(steps):
        raise VerifierError(f"reward {_name(reward)} gave {len(values)} step scores for {len(steps)} steps")
    return [_check(v, reward, "step score") for v in values]
