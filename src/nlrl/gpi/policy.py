"""Policies: the language policy pi_L(s) -> {"thought", "action"}, and the non-language ones
GPI compares against or builds on (random, table, shortest path).

Every policy has ``act(env, state, rng) -> PolicyDecision``; ``source`` says where the action
came from ("model", "fallback", "table", "random", "optimal"), so fallbacks are never hidden.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass
from typing import Any, Hashable, Mapping, Protocol

from .._exceptions import ConfigError, ParseError
from .envs.base import TextEnv
from .llm import JsonCaller
from .templates import PromptSet, load_prompts

POLICY_KEYS = {"thought": str, "action": (str, int)}


@dataclass(frozen=True)
class PolicyDecision:
    action: str
    thought: str = ""
    source: str = "model"


class Policy(Protocol):
    def act(self, env: TextEnv, state: Hashable, rng: random.Random) -> PolicyDecision: ...


class RandomPolicy:
    """A uniformly random legal action."""

    def act(self, env: TextEnv, state: Hashable, rng: random.Random) -> PolicyDecision:
        return PolicyDecision(rng.choice(env.legal_actions(state)), source="random")


class OptimalMazePolicy:
    """The shortest-path move (BFS from the goal); the maze's optimum."""

    def act(self, env: TextEnv, state: Hashable, rng: random.Random) -> PolicyDecision:
        optimal = getattr(env, "optimal_action", None)
        if optimal is None:
            raise ConfigError(f"{env.name} has no shortest-path solver")
        return PolicyDecision(optimal(state), source="optimal")


class TablePolicy:
    """Improved actions looked up by state; other states go to ``fallback``."""

    def __init__(self, table: Mapping[Hashable, Any], fallback: Policy) -> None:
        self.table = table
        self.fallback = fallback

    def act(self, env: TextEnv, state: Hashable, rng: random.Random) -> PolicyDecision:
        entry = self.table.get(env.state_key(state))
        if entry is None:
            return self.fallback.act(env, state, rng)
        return PolicyDecision(entry.action, entry.thought, source="table")


class LanguagePolicy:
    """pi_L: the model reads the state and answers ``{"thought": ..., "action": ...}``.

    The action must be one of the environment's actions (else the answer is a parse failure and
    is retried); whether it is legal in the state is left to the environment's rules. After
    every retry failed, a uniformly random legal action is played, marked ``source="fallback"``
    and counted in the ledger. With greedy decoding the policy is a function of the observation,
    so its answers are remembered per prompt (``memoize``); sampled decoding is never memoized.
    A remembered *failure* is not a remembered move: the model is not asked again (its greedy
    answer would be the same), but each visit draws a fresh random legal move, so one bad draw
    is not replayed at every visit of the state.

    Every failed answer is kept in ``failures`` (the state, the raw texts, the parse errors):
    they are the evidence of why the model fell back.

    ``legal_only`` is the legal-move mask: an answer whose action is not legal in the state is a
    parse failure too (retried, then the counted fallback), so an illegal move is never played.
    ``kind`` names the prompt template (``"learn_policy"`` is the short one a trained model reads).
    ``hints`` adds the environment's :meth:`~nlrl.gpi.envs.base.TextEnv.prompt_context` (facts
    about the state, e.g. a maze goal's direction) for templates that use them.
    """

    def __init__(self, caller: JsonCaller, env: TextEnv, *, prompts: PromptSet | None = None,
                 memoize: bool = True, max_tokens: int | None = None, kind: str = "policy",
                 legal_only: bool = False, hints: bool = False) -> None:
        self.caller = caller
        self.env = env
        self.kind = kind
        self.prompts = (prompts or load_prompts(env.name)).require(kind)
        self.memoize = memoize
        self.max_tokens = max_tokens
        self.legal_only = legal_only
        self.hints = hints
        self._memo: dict[str, PolicyDecision] = {}
        self.failures: list[dict[str, Any]] = []

    def forget(self) -> None:
        """Drop remembered answers (the model changed, e.g. after training)."""
        self._memo.clear()

    def prompt(self, state: Hashable) -> str:
        extra = self.env.prompt_context(state) if self.hints else {}
        return self.prompts.render(self.kind, state=self.env.describe(state),
                                   legal=self.env.legal_actions(state), **extra)

    def _validate(self, value: dict[str, Any]) -> dict[str, Any]:
        action = self.env.normalize_action(value["action"])
        if action is None:
            raise ParseError(f"{value['action']!r} is not an action of {self.env.name} "
                             f"({', '.join(self.env.actions)})")
        return {**value, "action": action}

    def act(self, env: TextEnv, state: Hashable, rng: random.Random) -> PolicyDecision:
        prompt = self.prompt(state)
        greedy = self.caller.temperature == 0.0
        if self.memoize and greedy and prompt in self._memo:
            decision = self._memo[prompt]
            if decision.source == "fallback":  # the answer failed before: a fresh random move
                return PolicyDecision(self.caller.uniform(env.legal_actions(state)), source="fallback")
            return decision
        validate = self._validate
        if self.legal_only:
            legal = env.legal_actions(state)

            def validate(value: dict[str, Any]) -> dict[str, Any]:
                value = self._validate(value)
                if value["action"] not in legal:
                    raise ParseError(f"{value['action']!r} is not legal here ({', '.join(legal)})")
                return value
        ans = self.caller.ask("policy", prompt, required=POLICY_KEYS, validate=validate,
                              max_tokens=self.max_tokens)
        if ans.ok:
            decision = PolicyDecision(ans.value["action"], ans.value["thought"])
        else:
            decision = PolicyDecision(self.caller.uniform(env.legal_actions(state)), source="fallback")
            self.failures.append({"state": self.env.describe(state), "texts": list(ans.texts),
                                  "errors": list(ans.errors)})
        if self.memoize and greedy:
            self._memo[prompt] = decision
        return decision

    def propose(self, state: Hashable, k: int, samples: int) -> tuple[list[str], int]:
        """Top-``k`` distinct legal actions among ``samples`` sampled answers, most frequent first.

        Returns the candidates and how many samples failed to parse. When no sample gives a
        legal action, the candidates are empty and the caller decides (the GPI loop then uses
        every legal action and counts a mask fallback).
        """
        answers = self.caller.sample("propose", self.prompt(state), n=samples, required=POLICY_KEYS,
                                     validate=self._validate, max_tokens=self.max_tokens)
        legal = set(self.env.legal_actions(state))
        counts = Counter(a.value["action"] for a in answers if a.ok and a.value["action"] in legal)
        ranked = sorted(counts, key=lambda a: -counts[a])  # stable: ties keep first-seen order
        return ranked[:k], sum(1 for a in answers if not a.ok)
