"""Language values: V^L(s), and Q^L(s, a) estimated by language Monte-Carlo or language TD.

* :class:`LanguageValue` is V^L: the model reads a state and writes ``{"thought",
  "final_evaluation"}``. A terminal state needs no model: its evaluation is the outcome.
* :class:`MonteCarloEstimator` plays K rollouts from (s, a) with the current policy and an
  aggregator reads them all and writes Q^L(s, a) in hindsight (the paper's language MC).
* :class:`TDEstimator` plays K short look-ahead variations from (s, a), values each end state
  with V^L, and an aggregator combines the variations and their values into Q^L(s, a) (the
  paper's language TD).
* :class:`SolutionValue` is V^L for a partial solution of a question (the state of a search over
  reasoning steps, ``prompts/reasoning.yaml``): the same ``{"thought", "final_evaluation"}``
  answer, with a number in [0, 1] as the final evaluation (:func:`numeric_value` reads it), so
  that a tree search (the ``mcts`` strategy) can back it up.

Variations and rollouts take a uniformly random legal action right after ``a`` when
``first_random`` is on (as the official maze code did), so that K of them differ even when the
policy and the environment are deterministic. An evaluation whose every attempt failed to parse
is kept as ``source="failed"`` with a final text saying so: it is shown to the improvement
operator as unavailable, never as an empty string.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from typing import Any, Hashable, Sequence

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


class SolutionValue:
    """V^L of a partial solution: the model reads a question and the steps so far and writes its
    reasoning and a number in [0, 1] (how likely these steps lead to the correct answer)."""

    def __init__(self, caller: JsonCaller, *, prompts: PromptSet | None = None,
                 max_tokens: int | None = None) -> None:
        self.caller = caller
        self.prompts = (prompts or load_prompts("reasoning")).require("value")
        self.max_tokens = max_tokens

    def evaluate(self, question: str, steps: Sequence[str]) -> Evaluation:
        prompt = self.prompts.render("value", question=question.strip(), steps=list(steps))
        ans = self.caller.ask("value", prompt, required=VALUE_KEYS, nonempty=("final_evaluation",),
                              max_tokens=self.max_tokens)
        return _evaluation(ans.value)


_NUMBER = re.compile(r"^\s*(-?\d+(?:\.\d+)?|-?\.\d+)\s*(%|/\s*(?:10|100))?\s*$")


def numeric_value(evaluation: Evaluation) -> float | None:
    """The final evaluation as a number in [0, 1]: ``0.8``, ``80%``, ``8/10``, ``80/100`` (None
    when it is not a number in range, or the evaluation failed).

    >>> numeric_value(Evaluation("", "0.75")), numeric_value(Evaluation("", "8/10"))
    (0.75, 0.8)
    """
    if evaluation.source == "failed":
        return None
    m = _NUMBER.match(evaluation.final)
    if not m:
        return None
    x = float(m.group(1))
    scale = (m.group(2) or "").replace(" ", "")
    if scale in ("%", "/100"):
        x /= 100.0
    elif scale == "/10":
        x /= 10.0
    return x if 0.0 <= x <= 1.0 else None


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
