"""Reward models: ``score(prompt, output) -> float in [0, 1]``, optionally per step.

Registered by name in :data:`REWARDS` (each factory takes ``backend=``):

- ``verifier``: the verdict of a verifier against a known reference (:class:`VerifierReward`);
- ``judge``: a backend rates the answer 1-10 (:class:`LLMJudgeReward`);
- ``logprob``: the model's token log-probabilities, per step too (:class:`LogprobProcessReward`);
- ``agreement``: the share of sibling samples with the same answer (:class:`AgreementReward`);
- ``learned:<file.npz>``: a verifier trained by ``nlrl train-reward`` (:class:`LearnedReward`).

A failing reward raises :class:`~nlrl.VerifierError`; :func:`checked_score` also catches
rewards that return NaN or values outside [0, 1].
"""

from __future__ import annotations

import functools
from typing import Any

from .._registry import Registry
from .agreement import AgreementReward
from .base import RewardModel, checked_score, checked_step_scores
from .judge import LLMJudgeReward, parse_rating
from .learned import LearnedReward, learned_reward
from .logprob import LogprobProcessReward
from .verifier import VerifierReward


class _Rewards(Registry[Any]):
    """The registry, plus names with an argument: ``learned:<path>`` builds a learned verifier."""

    def get(self, name: str) -> Any:
        if isinstance(name, str) and name.startswith("learned:"):
            return functools.partial(learned_reward, name)
        return super().get(name)

    def __contains__(self, name: object) -> bool:
        return (isinstance(name, str) and name.startswith("learned:")) or super().__contains__(name)

    def names(self) -> list[str]:
        return sorted([*super().names(), "learned:<file.npz>"])


REWARDS: Registry[Any] = _Rewards("reward")
REWARDS.register("verifier", VerifierReward)
REWARDS.register("judge", LLMJudgeReward)
REWARDS.register("logprob", LogprobProcessReward)
REWARDS.register("agreement", AgreementReward)


def get_reward(name: str, **options: Any) -> RewardModel:
    """Build the reward model registered as ``name`` (unknown names list the known ones)."""
    return REWARDS.create(name, **options)


__all__ = [
    "REWARDS",
    "AgreementReward",
    "LLMJudgeReward",
    "LearnedReward",
    "LogprobProcessReward",
    "RewardModel",
    "VerifierReward",
    "checked_score",
    "checked_step_scores",
    "get_reward",
    "parse_rating",
]
