"""The text-environment protocol GPI runs on.

Environments are functional: a state is an immutable, hashable value, and ``step(state, action,
rng)`` returns the next :class:`Step` without mutating anything. That makes every environment
resettable to any state for free, which look-ahead (TD) and rollouts (MC) need.

Actions are short strings ("5", "up"). ``normalize_action`` maps a model's answer onto the action
vocabulary (schema level: is it an action at all?); whether the action is allowed *in a state* is
the environment's business: ``step`` applies the rules for illegal moves and flags them.
"""

from __future__ import annotations

import random
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, Hashable, Mapping, Sequence


@dataclass(frozen=True)
class Step:
    """What one action did: the next state, its reward, whether the episode ended."""

    state: Hashable
    reward: float
    done: bool
    illegal: bool = False
    info: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Episode:
    """One played episode: ``states[i]`` is where ``actions[i]`` was taken."""

    start: Hashable
    states: tuple[Hashable, ...]
    actions: tuple[str, ...]
    steps: tuple[Step, ...]

    @property
    def total_reward(self) -> float:
        return float(sum(s.reward for s in self.steps))

    @property
    def illegal_moves(self) -> int:
        return sum(1 for s in self.steps if s.illegal)

    @property
    def final(self) -> Step | None:
        return self.steps[-1] if self.steps else None


class TextEnv(ABC):
    """A text environment. Subclasses define the rules; prompts read ``describe``."""

    #: registry name
    name: str = "env"
    #: the metric keys ``summarize`` reports, in display order
    metric_keys: tuple[str, ...] = ()
    #: the metric a plot shows and "better" refers to
    primary_metric: str = ""
    #: evaluations sweep ``start_states`` (maze) instead of drawing starts with ``reset`` (games)
    sweep_starts: bool = False

    @property
    @abstractmethod
    def actions(self) -> tuple[str, ...]:
        """The whole action vocabulary."""

    @abstractmethod
    def reset(self, rng: random.Random, start: Hashable | None = None) -> Hashable:
        """A start state (``start`` picks one of ``start_states``; None draws one)."""

    def start_states(self) -> list[Hashable]:
        """The start states an evaluation sweeps over (may be empty when starts are random)."""
        return []

    @abstractmethod
    def legal_actions(self, state: Hashable) -> list[str]:
        """Actions that the rules allow in ``state`` (empty when terminal)."""

    @abstractmethod
    def step(self, state: Hashable, action: str, rng: random.Random) -> Step:
        """Apply ``action``; illegal actions follow the environment's own rule."""

    @abstractmethod
    def is_terminal(self, state: Hashable) -> bool:
        """True when no further action is possible."""

    @abstractmethod
    def describe(self, state: Hashable) -> str:
        """The observation text a language model reads."""

    @abstractmethod
    def normalize_action(self, raw: object) -> str | None:
        """Map a model's ``action`` field onto :attr:`actions`, or None when it is not one."""

    def state_key(self, state: Hashable) -> Hashable:
        """The state as far as a policy can tell (tables are keyed by it); also a valid state."""
        return state

    def describe_step(self, state: Hashable, action: str, step: Step) -> str:
        """One line of a trajectory: what happened when ``action`` was taken in ``state``."""
        return f"action {action}: reward {step.reward:g}" + (" (game over)" if step.done else "")

    def describe_outcome(self, step: Step) -> str:
        """The result of a finished episode, in words."""
        return f"episode over, last reward {step.reward:g}"

    @abstractmethod
    def summarize(self, episodes: Sequence[Episode]) -> dict[str, float]:
        """The metric over finished episodes (win/draw/loss, average reward, ...)."""

    # ---- what learning GPI needs (saving states, wording rollout statistics) -----------------

    def state_to_json(self, state: Hashable) -> Any:
        """The state as JSON data (run directories save the states still to be improved)."""
        raise NotImplementedError(f"{self.name} cannot save states")

    def state_from_json(self, data: Any) -> Hashable:
        """Inverse of :meth:`state_to_json`."""
        raise NotImplementedError(f"{self.name} cannot load states")

    #: learning GPI's per-environment defaults for the LearnConfig settings left at None
    #: (``hints``, ``restate``, ``select_epoch``); an environment without them gets False
    learn_defaults: dict[str, bool] = {}

    def prompt_context(self, state: Hashable) -> dict[str, Any]:
        """Extra observation facts for prompts that ask for them (``learn_policy`` templates with
        ``hints``): functions of the state only, named by the template's variables."""
        return {}

    def position_words(self, state: Hashable) -> str:
        """The state's position restated at the start of a learned thought (``restate``); ""
        when the environment has no such words."""
        return ""

    def returns_words(self, returns: Sequence[float]) -> str:
        """Rollout returns of one action in a few words ("wins 9/16, loses 2/16")."""
        return f"mean return {sum(returns) / len(returns):+.1f} over {len(returns)}" if returns else "no rollouts"

    def value_words(self, value: float) -> str:
        """A state value (the best action's mean return) as the final evaluation's words."""
        return f"{value:+.1f}"

    def value_number(self, words: str) -> float | None:
        """Inverse of :meth:`value_words` (None when ``words`` is not one of its answers)."""
        try:
            return float(words)
        except ValueError:
            return None

    def action_note(self, state: Hashable, action: str) -> str:
        """What ``action`` does at once in ``state``, read off the rules ("" when nothing stands out)."""
        return ""
