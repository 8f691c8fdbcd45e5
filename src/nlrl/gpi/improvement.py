"""The language policy-improvement operator I.

Given Q^L(s, a) texts for the candidate actions, the model chooses the best candidate *using
only those evaluations* (the prompt says so and shows nothing else but the state). The answer's
action must be one of the candidates, or it is a parse failure and retried; after every retry
failed, a uniformly random candidate is taken, marked ``source="fallback"`` and counted.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Hashable, Sequence

from .._exceptions import ConfigError, ParseError
from .envs.base import TextEnv
from .llm import JsonCaller
from .templates import PromptSet, load_prompts
from .value import QEstimate

IMPROVE_KEYS = {"thought": str, "action": (str, int)}


@dataclass(frozen=True)
class Improvement:
    action: str
    thought: str = ""
    source: str = "model"  # model | only (a single candidate) | fallback


class ImprovementOperator:
    """I(Q^L(s, a_1), ..., Q^L(s, a_k)) -> the improved action."""

    def __init__(self, caller: JsonCaller, env: TextEnv, *, prompts: PromptSet | None = None,
                 max_tokens: int | None = None) -> None:
        self.caller = caller
        self.env = env
        self.prompts = (prompts or load_prompts(env.name)).require("improve")
        self.max_tokens = max_tokens

    def prompt(self, state: Hashable, estimates: Sequence[QEstimate]) -> str:
        cands = [{"action": q.action, "final": q.evaluation.final,
                  "thought": q.evaluation.thought if q.evaluation.source == "model" else ""}
                 for q in estimates]
        return self.prompts.render("improve", state=self.env.describe(state), candidates=cands)

    def choose(self, state: Hashable, estimates: Sequence[QEstimate]) -> Improvement:
        if not estimates:
            raise ConfigError("the improvement operator needs at least one candidate")
        actions = [q.action for q in estimates]
        if len(set(actions)) == 1:
            return Improvement(actions[0], source="only")

        def validate(value: dict[str, Any]) -> dict[str, Any]:
            action = self.env.normalize_action(value["action"])
            if action not in actions:
                raise ParseError(f"{value['action']!r} is not a candidate ({', '.join(actions)})")
            return {**value, "action": action}

        ans = self.caller.ask("improve", self.prompt(state, estimates), required=IMPROVE_KEYS,
                              validate=validate, max_tokens=self.max_tokens)
        if ans.ok:
            return Improvement(ans.value["action"], ans.value["thought"].strip())
        return Improvement(self.caller.uniform(actions), source="fallback")
