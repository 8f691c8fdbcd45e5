"""Which reward model a strategy uses: the one given, the run's, or a default for the backend."""

from __future__ import annotations

import logging
from typing import Any

from .base import Run

log = logging.getLogger(__name__)


def default_reward(run: Run) -> Any:
    """The reward used when none is given: the model's own token log-probabilities when the
    backend reports them (no reference needed), else agreement with the other samples."""
    from ..rewards import AgreementReward, LogprobProcessReward
    from .voting import equivalence_for

    if run.backend.supports_logprobs:
        return LogprobProcessReward(run.backend)
    log.info("backend %s reports no log-probabilities; using AgreementReward", run.backend.model_name)
    return AgreementReward(extract=run.task.extract,
                           equivalent=equivalence_for(run.task.domain, run.task.question))


def resolve_reward(spec: Any, run: Run, *, required: bool = True) -> Any:
    """``spec`` (a reward model, a registered spec such as ``"judge"`` or ``"prm:PATH"``, or a
    :class:`~nlrl.rewards.RewardSpec`), else the run's reward, else the default (or None when
    not ``required``)."""
    if spec is None:
        spec = run.reward
    if spec is None:
        return default_reward(run) if required else None
    from ..rewards import as_reward

    return as_reward(spec, run.backend)
