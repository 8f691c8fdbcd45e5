"""Rewards by name: ``"judge"``, ``"verifier:code"``, ``"prm:/models/prm"``, ``"prm:http://host/pooling"``.

A reward spec is ``NAME`` or ``NAME:ARG``; the text after the first colon (a checker, a path, a
URL: it may hold more colons) goes to the factory registered as ``NAME``. Every factory has one
signature::

    def factory(arg: str | None = None, *, backend: Backend | None = None, **options) -> RewardModel

``backend`` is the backend of the run that will use the reward (a judge asks it, the log-prob
reward reads it); a factory that needs none ignores it, one that needs one and gets None raises
:class:`~nlrl.ConfigError`. ``options`` are keyword options (``aggregation="min"`` from
``--reward-aggregation``); an option a factory does not take is a :class:`~nlrl.ConfigError`.

A new reward registers in its own module, lazily (the module is imported on first use)::

    from nlrl.rewards import REWARDS
    REWARDS.register("mine", "mypackage.mine:build")   # or REWARDS.register("mine", build)

:class:`RewardSpec` is a spec not built yet: it pickles (a Ray worker builds it on its own
backend), it names the reward in a benchmark's configuration, and :class:`~nlrl.strategies.Run`
builds it on the run's backend.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

from .._exceptions import ConfigError
from .._registry import Registry
from .base import RewardModel

REWARDS: Registry[Any] = Registry("reward")


def _verifier(arg: str | None = None, *, backend: Any = None, **options: Any) -> RewardModel:
    from .verifier import VerifierReward

    return VerifierReward(arg or options.pop("checker", "math"), **options)


def _judge(arg: str | None = None, *, backend: Any = None, **options: Any) -> RewardModel:
    from .judge import LLMJudgeReward

    _no_arg("judge", arg)
    return LLMJudgeReward(backend, **options)


def _logprob(arg: str | None = None, *, backend: Any = None, **options: Any) -> RewardModel:
    from .logprob import LogprobProcessReward

    _no_arg("logprob", arg)
    return LogprobProcessReward(backend, **options)


def _agreement(arg: str | None = None, *, backend: Any = None, **options: Any) -> RewardModel:
    from .agreement import AgreementReward

    _no_arg("agreement", arg)
    return AgreementReward(**options)


def _no_arg(name: str, arg: str | None) -> None:
    if arg is not None:
        raise ConfigError(f"reward {name} takes no argument, got {name}:{arg}")


REWARDS.register("verifier", _verifier)
REWARDS.register("judge", _judge)
REWARDS.register("logprob", _logprob)
REWARDS.register("agreement", _agreement)
REWARDS.register("prm", "nlrl.rewards.prm:build_prm")
REWARDS.register("learned", "nlrl.rewards.learned:learned_reward")


def parse_spec(spec: str) -> tuple[str, str | None]:
    """``"prm:http://h:8000"`` → ``("prm", "http://h:8000")``; an unknown name lists the known ones."""
    if not isinstance(spec, str) or not spec.strip():
        raise ConfigError(f"a reward is a name or NAME:ARG, got {spec!r}")
    name, sep, arg = spec.strip().partition(":")
    if sep and not arg:
        raise ConfigError(f"reward {name}: nothing after the colon in {spec!r}")
    REWARDS.get(name)  # UnknownNameError listing the registered names
    return name, (arg if sep else None)


def get_reward(spec: str, *, backend: Any = None, **options: Any) -> RewardModel:
    """Build the reward ``spec`` names (``NAME`` or ``NAME:ARG``) for ``backend``."""
    name, arg = parse_spec(spec)
    factory = REWARDS.get(name)
    try:
        reward = factory(arg, backend=backend, **options)
    except TypeError as exc:  # an option this factory does not take
        raise ConfigError(f"reward {name}: {exc}") from None
    if not isinstance(reward, RewardModel):
        raise ConfigError(f"reward {name}'s factory returned {type(reward).__name__}, not a RewardModel")
    return reward


@dataclass(frozen=True)
class RewardSpec:
    """A reward to build on the backend of the run that uses it: ``spec`` plus keyword options."""

    spec: str
    options: tuple[tuple[str, Any], ...] = ()

    @classmethod
    def of(cls, spec: str, options: Mapping[str, Any] | None = None) -> "RewardSpec":
        parse_spec(spec)  # fails now, before any model loads
        return cls(spec.strip(), tuple(sorted((k, v) for k, v in (options or {}).items() if v is not None)))

    @property
    def name(self) -> str:
        """The spec with its options, e.g. ``prm:/models/prm aggregation=min`` (a run's identity)."""
        return " ".join([self.spec, *(f"{k}={v}" for k, v in self.options)])

    def build(self, backend: Any = None) -> RewardModel:
        return get_reward(self.spec, backend=backend, **dict(self.options))


def as_reward(reward: Any, backend: Any = None) -> RewardModel | None:
    """``reward`` as a reward model: None stays None, a spec (text or :class:`RewardSpec`) is built
    on ``backend``, a :class:`RewardModel` is returned as is; anything else is a ConfigError."""
    if reward is None or isinstance(reward, RewardModel):
        return reward
    if isinstance(reward, str):
        return get_reward(reward, backend=backend)
    if isinstance(reward, RewardSpec):
        return reward.build(backend)
    raise ConfigError(f"reward must be a RewardModel (subclass nlrl.rewards.RewardModel, or "
                      f"ProcessReward to score steps) or a registered name, got {type(reward).__name__}")
