"""Language values: V^L(s), and Q^L(s, a) estimated by language Monte-Carlo or language TD.

* :class:`LanguageValue` is V^L: the model reads a state and writes ``{"thought",
  "final_evaluation"}``. A terminal state needs no model: its evaluation is the outcome.
* :class:`MonteCarloEstimator` plays K rollouts from (s, a) with the current policy and an
  aggregator reads them all and writes Q^L(s, a) in hindsight (the paper's language MC).
* :class:`TDEstimator` plays K short look-ahead variations from (s, a), values each end state
  with V^L, and an aggregator combines the variations and their values into Q^L(s, a) (the
  paper's language TD).

Variations and rollouts take a uniformly random legal action right after ``a`` when
``first_random`` is on (as the official maze code did), so that K of them differ even when the
policy and the environment are deterministic. An evaluation whose every attempt failed to parse
is kept as ``source="failed"`` with a final text saying so: it is shown to the improvement
operator as unavailable, never as an empty string.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any, Hashable

from .envs.base import Step, TextEnv
from .llm import JsonCaller
from .policy import Policy
from .templates import PromptSet, load_prompts

VALUE_KEYS = {"thought": str, "final_evaluation": (str, int, float)}
FAILED = "unavailable (the evaluation did not parse)"


@dataclass(frozen=True)
class Evaluation:
    """A language evaluation: the reasoning and the final judgement."""

    thought: str
    final: str
    source: str = "model"  # model | terminal | failed

    def to_dict(self) -> dict[str, str]:
        return {"thought": self.thought, "final_evaluation": self.final, "source": self.source}


@dataclass(frozen=True)
class Segment:
    """A played piece of trajectory from (s, a): its text, where it ended, what it earned."""

    text: str
    end: Hashable
    last: Step
    reward: float
    moves: int


@dataclass(frozen=True)
class QEstimate:
    """Q^L(s, a) and the trajectories it was read from."""

    action: str
    evaluation: Evaluation
    trajectories: tuple[str, ...]
    returns: tuple[float, ...]  # for reports only; the improvement operator reads text

    def to_dict(self) -> dict[str, Any]:
        return {"action": self.action, **self.evaluation.to_dict(),
                "trajectories": list(self.trajectories), "returns": list(self.returns)}


def _evaluation(answer_value: dict[str, Any] | None) -> Evaluation:
    if answer_value is None:
        return Evaluation("", FAILED, "failed")
    return Evaluation(answer_value["thought"].strip(), str(answer_value["final_evaluation"]).strip())


def play_segment(env: TextEnv, state: Hashable, action: str, policy: Policy, rng: random.Random, *,
                 moves_after: int, first_random: bool = True) -> Segment:
    """Take ``action`` in ``state``, then up to ``moves_after`` more moves (or until the end)."""
    step = env.step(state, action, rng)
    lines = [env.describe_step(state, action, step)]
    reward = step.reward
    s = step.state
    n = 0
    while not step.done and n < moves_after:
        a = rng.choice(env.legal_actions(s)) if (first_random and n == 0) else policy.act(env, s, rng).action
        prev, step = s, env.step(s, a, rng)
        lines.append(env.describe_step(prev, a, step))
        reward += step.reward
        s = step.state
        n += 1
    return Segment("; ".join(lines), s, step, reward, n + 1)


class LanguageValue:
    """V^L(s): a text evaluation of a state ending in a final evaluation."""

    def __init__(self, caller: JsonCaller, env: TextEnv, *, prompts: PromptSet | None = None,
                 max_tokens: int | None = None) -> None:
        self.caller = caller
        self.env = env
        self.prompts = (prompts or load_prompts(env.name)).require("value")
        self.max_tokens = max_tokens

    def evaluate(self, state: Hashable, last: Step | None = None) -> Evaluation:
        if self.env.is_terminal(state):
            words = self.env.describe_outcome(last) if last is not None else self.env.describe(state)
            return Evaluation(words, words, "terminal")
        prompt = self.prompts.render("value", state=self.env.describe(state))
        ans = self.caller.ask("value", prompt, required=VALUE_KEYS, nonempty=("final_evaluation",),
                              max_tokens=self.max_tokens)
        return _evaluation(ans.value)


class MonteCarloEstimator:
    """Language MC: K rollouts from (s, a) with the current policy, read by an aggregator."""

    kind = "mc"

    def __init__(self, caller: JsonCaller, env: TextEnv, *, rollouts: int = 2, max_moves: int = 8,
                 first_random: bool = True, prompts: PromptSet | None = None,
                 max_tokens: int | None = None) -> None:
        self.caller = caller
        self.env = env
        self.k = rollouts
        self.max_moves = max_moves
        self.first_random = first_random
        self.prompts = (prompts or load_prompts(env.name)).require("mc")
        self.max_tokens = max_tokens

    def estimate(self, state: Hashable, action: str, policy: Policy, rng: random.Random) -> QEstimate:
        texts, returns = [], []
        for _ in range(self.k):
            seg = play_segment(self.env, state, action, policy, rng, moves_after=self.max_moves - 1,
                               first_random=self.first_random)
            end = (f" -> {self.env.describe_outcome(seg.last)}" if seg.last.done
                   else f" (stopped after {seg.moves} moves)")
            texts.append(seg.text + end)
            returns.append(seg.reward)
        prompt = self.prompts.render("mc", state=self.env.describe(state), action=action, rollouts=texts)
        ans = self.caller.ask("mc", prompt, required=VALUE_KEYS, nonempty=("final_evaluation",),
                              max_tokens=self.max_tokens)
        return QEstimate(action, _evaluation(ans.value), tuple(texts), tuple(returns))


class TDEstimator:
    """Language TD: K look-ahead variations of ``depth`` moves after ``a``, each end state valued
    by V^L, combined by an aggregator."""

    kind = "td"

    def __init__(self, caller: JsonCaller, env: TextEnv, value: LanguageValue, *, variations: int = 2,
                 depth: int = 1, first_random: bool = True, prompts: PromptSet | None = None,
                 max_tokens: int | None = None) -> None:
        self.caller = caller
        self.env = env
        self.value = value
        self.k = variations
        self.depth = depth
        self.first_random = first_random
        self.prompts = (prompts or load_prompts(env.name)).require("td")
        self.max_tokens = max_tokens

    def estimate(self, state: Hashable, action: str, policy: Policy, rng: random.Random) -> QEstimate:
        variations, texts, returns = [], [], []
        for _ in range(self.k):
            seg = play_segment(self.env, state, action, policy, rng, moves_after=self.depth,
                               first_random=self.first_random)
            v = self.value.evaluate(seg.end, seg.last)
            variations.append({"text": seg.text, "final": v.final,
                               "thought": v.thought if v.source == "model" else ""})
            texts.append(f"{seg.text}. Then: {v.final}")
            returns.append(seg.reward)
        prompt = self.prompts.render("td", state=self.env.describe(state), action=action, variations=variations)
        ans = self.caller.ask("td", prompt, required=VALUE_KEYS, nonempty=("final_evaluation",),
                              max_tokens=self.max_tokens)
        return QEstimate(action, _evaluation(ans.value), tuple(texts), tuple(returns))
