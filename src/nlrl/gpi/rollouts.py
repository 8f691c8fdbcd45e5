"""Evaluations grounded in the environment: Monte-Carlo rollouts per legal action, and the texts
(language evaluations and the improved action's reasoning) composed from their statistics.

For a state s and each legal action a, rollouts take a and then follow a rollout policy until the
episode ends or ``max_moves`` moves were made: ``policy_rollouts`` of them with the current
policy (the model being trained, so its own moves are what is evaluated) and ``random_rollouts``
with a uniformly random one. Q(s, a) under each rollout policy is the mean return.

The improvement operator is generalized policy improvement (Barreto et al. 2017): the improved
action maximises, over the rollout policies, the best mean return, ``argmax_a max_pi Q^pi(s, a)``,
so it improves on the current policy and on random play at once (ties: the random rollouts'
mean, then the order of the legal actions). Q^pi of the current policy counts only the rollouts
made of its own moves: one in which the model fell back (a random legal move stood in for a
failed answer) is a sample of neither policy, and a single such lucky walk would outrank the
mean of many random ones (the max of noisy estimates); those are left out and counted
(``fallback_rollouts``), unless there are no random rollouts to rank by.

Every text here is composed from the statistics by code and carries ``source="rollouts"``; none
is ever passed off as model-written. The TD variant (``estimator="td"``) is the paper's language
TD: one step of a (the opponent's reply included), then the *model's* language value V^L(s') of
the successor; Q = reward + the value its final words stand for, averaged over ``lookaheads``;
those texts carry ``source="rollouts+model"``. :class:`StateReport` holds the three targets the model is
trained on: Q^L(s, a) per action, V^L(s), and the chain of thought that justifies the improved
action.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any, Callable, Hashable, Mapping

from .._exceptions import ConfigError
from .envs.base import TextEnv
from .policy import Policy, PolicyDecision, RandomPolicy
from .value import Evaluation, play_segment

#: V^L(s') for the TD variant: the successor state -> its language evaluation
ValueFn = Callable[[Hashable], Evaluation]
ESTIMATORS = ("mc", "td")

SOURCE = "rollouts"


@dataclass(frozen=True)
class ActionReport:
    """One legal action: its rollout returns per rollout policy and its language evaluation."""

    action: str
    returns: Mapping[str, tuple[float, ...]]
    note: str
    evaluation: Evaluation

    def mean(self, policy: str) -> float | None:
        r = self.returns.get(policy, ())
        return sum(r) / len(r) if r else None

    @property
    def score(self) -> float:
        """max over the rollout policies of the mean return (generalized policy improvement)."""
        means = [m for m in (self.mean(p) for p in self.returns) if m is not None]
        return max(means) if means else 0.0

    @property
    def best_policy(self) -> str:
        return max((p for p in self.returns if self.returns[p]), key=lambda p: self.mean(p) or 0.0)

    def to_dict(self) -> dict[str, Any]:
        return {"action": self.action, "note": self.note, "score": round(self.score, 4),
                "returns": {k: list(v) for k, v in self.returns.items()},
                "mean": {k: (round(m, 4) if (m := self.mean(k)) is not None else None) for k in self.returns},
                **self.evaluation.to_dict()}


@dataclass(frozen=True)
class StateReport:
    """Everything learned at one state: per-action evaluations, V^L(s), the improved action and
    its reasoning (the policy target)."""

    state: Hashable
    actions: tuple[ActionReport, ...]
    best: str
    value: Evaluation
    reasoning: str
    rollout_moves: int = field(default=0)

    def report(self, action: str) -> ActionReport:
        return next(a for a in self.actions if a.action == action)

    def to_dict(self, env: TextEnv) -> dict[str, Any]:
        return {"state": env.describe(self.state), "best": self.best, "reasoning": self.reasoning,
                "value": self.value.to_dict(), "actions": [a.to_dict() for a in self.actions]}


class _Watch:
    """A policy seen through: notes whether any of its decisions was a fallback."""

    def __init__(self, policy: Policy) -> None:
        self.policy = policy
        self.fell_back = False

    def act(self, env: TextEnv, state: Hashable, rng: random.Random) -> PolicyDecision:
        decision = self.policy.act(env, state, rng)
        self.fell_back = self.fell_back or decision.source == "fallback"
        return decision


class RolloutEvaluator:
    """Monte-Carlo rollouts per legal action, composed into language evaluations.

    >>> ev = RolloutEvaluator(env, policy_rollouts=2, random_rollouts=16)   # doctest: +SKIP
    >>> report = ev.evaluate(state, current_policy, random.Random(0))       # doctest: +SKIP
    >>> report.best, report.reasoning                                       # doctest: +SKIP
    ('5', '5 wins 88%, loses 6%; 1 wins 70%, loses 12%')
    """

    def __init__(self, env: TextEnv, *, policy_rollouts: int = 2, random_rollouts: int = 16,
                 max_moves: int = 10, cite: int = 2, estimator: str = "mc", value: ValueFn | None = None,
                 lookaheads: int = 2) -> None:
        if estimator not in ESTIMATORS:
            raise ConfigError(f"unknown rollout estimator {estimator!r}; known: {', '.join(ESTIMATORS)}")
        if estimator == "td" and value is None:
            raise ConfigError("the td estimator needs a language value function")
        for name, v in (("policy_rollouts", policy_rollouts), ("random_rollouts", random_rollouts)):
            if not isinstance(v, int) or v < 0:
                raise ConfigError(f"{name} must be an integer >= 0, got {v!r}")
        if policy_rollouts + random_rollouts < 1:
            raise ConfigError("rollouts: policy_rollouts + random_rollouts must be >= 1")
        if not isinstance(max_moves, int) or max_moves < 1:
            raise ConfigError(f"max_moves must be an integer >= 1, got {max_moves!r}")
        self.env = env
        self.policy_rollouts = policy_rollouts
        self.random_rollouts = random_rollouts
        self.max_moves = max_moves
        self.cite = cite
        self.estimator, self.value, self.lookaheads = estimator, value, lookaheads
        self.value_failures = 0  # TD: successor evaluations that did not parse (counted as even)
        self.fallback_rollouts = 0  # current-policy rollouts left out: the policy fell back in them
        self._random = RandomPolicy()

    def _td(self, state: Hashable, action: str, rng: random.Random) -> tuple[tuple[float, ...], list[str]]:
        """Language TD: one step (the opponent's reply included), then V^L of the successor;
        Q = reward + the value its words stand for."""
        assert self.value is not None
        out, texts = [], []
        for _ in range(self.lookaheads):
            step = self.env.step(state, action, rng)
            line = self.env.describe_step(state, action, step)
            if step.done:
                out.append(step.reward)
                texts.append(f"{line}: {self.env.describe_outcome(step)}")
                continue
            ev = self.value(step.state)
            number = self.env.value_number(ev.final) if ev.source != "failed" else None
            if number is None:
                self.value_failures += 1
                number = 0.0
            out.append(step.reward + number)
            texts.append(f"{line}: {ev.final}")
        return tuple(out), texts

    def _returns(self, state: Hashable, action: str, policy: Policy, n: int, rng: random.Random) -> tuple[float, ...]:
        return tuple(play_segment(self.env, state, action, policy, rng, moves_after=self.max_moves - 1,
                                  first_random=False).reward for _ in range(n))

    def _policy_returns(self, state: Hashable, action: str, policy: Policy,
                        rng: random.Random) -> tuple[tuple[float, ...], tuple[float, ...]]:
        """The current policy's rollouts, split: those made of its own moves, and those in which
        it fell back (a random move stood in for an answer that failed)."""
        own, mixed = [], []
        for _ in range(self.policy_rollouts):
            watch = _Watch(policy)
            reward = play_segment(self.env, state, action, watch, rng, moves_after=self.max_moves - 1,
                                  first_random=False).reward
            (mixed if watch.fell_back else own).append(reward)
        return tuple(own), tuple(mixed)

    def evaluate(self, state: Hashable, policy: Policy, rng: random.Random) -> StateReport:
        env = self.env
        legal = env.legal_actions(state)
        if not legal:
            raise ConfigError("a terminal state has no actions to evaluate")
        reports = []
        for a in legal:
            returns: dict[str, tuple[float, ...]] = {}
            note = env.action_note(state, a)
            if self.estimator == "td":
                returns["td"], texts = self._td(state, a, rng)
                provisional = ActionReport(a, returns, note, Evaluation("", ""))
                thought = "; ".join(([note] if note else []) + texts)
                reports.append(ActionReport(a, returns, note, Evaluation(thought, env.value_words(provisional.score),
                                                                          "rollouts+model")))
                continue
            if self.policy_rollouts:
                own, mixed = self._policy_returns(state, a, policy, rng)
                self.fallback_rollouts += len(mixed)
                kept = own if self.random_rollouts else own + mixed  # without random rollouts, all there is
                if kept:
                    returns["policy"] = kept
            if self.random_rollouts:
                returns["random"] = self._returns(state, a, self._random, self.random_rollouts, rng)
            parts = [note] if note else []
            parts += [f"{'my policy' if k == 'policy' else 'random play'} {env.returns_words(v)}"
                      for k, v in returns.items()]
            provisional = ActionReport(a, returns, note, Evaluation("", ""))
            reports.append(ActionReport(a, returns, note,
                                        Evaluation("; ".join(parts), env.value_words(provisional.score), SOURCE)))
        order = {a: i for i, a in enumerate(legal)}
        ranked = sorted(reports, key=lambda r: (-r.score, -(r.mean("random") or 0.0), order[r.action]))
        best = ranked[0]
        cited = ranked[: self.cite]
        reasoning = ", ".join(f"{r.action} {r.note or env.returns_words(r.returns[r.best_policy])}" for r in cited)
        value_thought = "; ".join(f"{r.action} {r.evaluation.thought}" for r in ranked[: self.cite + 1])
        value = Evaluation(value_thought, env.value_words(best.score),
                           SOURCE if self.estimator == "mc" else "rollouts+model")
        return StateReport(state, tuple(reports), best.action, value, reasoning, self.max_moves)
