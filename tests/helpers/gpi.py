"""A scripted "model" for GPI tests: it answers each prompt kind by reading the prompt.

The prompt kind is told by the first line of the template (policy / value / mc / td / improve);
the answer is computed from the query part (the text after the few-shot examples).
"""

from __future__ import annotations

import re
from typing import Callable

from nlrl.backends import ScriptedBackend

KINDS = {
    "Pick one empty cell": "policy",
    "Reach the goal": "policy",
    "Evaluate the position": "value",
    "Judge how close": "value",
    "in hindsight": "mc",
    "look-ahead variations": "td",
    "Choose the best move": "improve",
}


def kind_of(prompt: str) -> str:
    head = prompt.splitlines()[0]
    return next(kind for key, kind in KINDS.items() if key in head)


def query(prompt: str) -> str:
    """The part of the prompt after the last few-shot example."""
    return prompt.rsplit("}\n\n", 1)[-1]


def answer(thought: str, **fields: str) -> str:
    rest = "".join(f', "{k}": "{v}"' for k, v in fields.items())
    return f'{thought}"{rest}}}\n'


class ScriptedModel:
    """Per-kind answer functions ``(query_text) -> completion``; records the kinds it served."""

    def __init__(self, **handlers: Callable[[str], str]) -> None:
        self.handlers = handlers
        self.kinds: list[str] = []
        self.backend = ScriptedBackend(self)

    def __call__(self, prompt: str, index: int) -> str:
        kind = kind_of(prompt)
        self.kinds.append(kind)
        return self.handlers[kind](query(prompt))


def first_empty(q: str) -> str:
    return re.findall(r"Empty cells: (.*)", q)[-1].split(", ")[0]


def candidates(q: str) -> list[str]:
    return re.findall(r"Move (\S+):", q)
