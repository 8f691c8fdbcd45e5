"""Reward models: ``score(prompt, output) -> float in [0, 1]``, optionally per step.

Registered by name in :data:`REWARDS`; a spec is ``NAME`` or ``NAME:ARG`` (see
:mod:`nlrl.rewards.registry` for the factory signature and how a new reward registers):

- ``verifier[:CHECKER]``: the verdict of a verifier against a known reference (:class:`VerifierReward`);
- ``judge``: a backend rates the answer 1-10 (:class:`LLMJudgeReward`);
- ``logprob``: the model's token log-probabilities, per step too (:class:`LogprobProcessReward`);
- ``agreement``: the share of sibling samples with the same answer (:class:`AgreementReward`);
- ``prm:PATH-OR-URL``: a trained process reward model, local or served (:mod:`nlrl.rewards.prm`).
- ``learned:<file.npz>``: a verifier trained by ``nlrl train-reward`` (:class:`LearnedReward`).

A failing reward raises :class:`~nlrl.VerifierError`; :func:`checked_score` also catches
rewards that return NaN or values outside [0, 1].
"""

from __future__ import annotations

from .agreement import AgreementReward
from .base import ProcessReward, RewardModel, checked_score, checked_step_scores, observed
from .judge import LLMJudgeReward, parse_rating
from .learned import LearnedReward, learned_reward
from .logprob import LogprobProcessReward
from .registry import REWARDS, RewardSpec, as_reward, get_reward, parse_spec
from .verifier import VerifierReward

__all__ = [
    "REWARDS",
    "AgreementReward",
    "LLMJudgeReward",
    "LearnedReward",
    "LogprobProcessReward",
    "ProcessReward",
    "RewardModel",
    "RewardSpec",
    "VerifierReward",
    "as_reward",
    "checked_score",
    "checked_step_scores",
    "get_reward",
    "observed",
    "parse_rating",
    "parse_spec",
]
