"""Shared helpers for strategy tests: tasks, a reward model that reads a score from the text."""

from __future__ import annotations

import re



from nlrl.rewards import RewardModel
from nlrl.tasks.task import Task


def math_task(q: str = "What is 1/2 of 1?") -> Task:
    return Task.build(q, domain="math")


class TextReward(RewardModel):
    """Scores an output by the number written after "score=" in it (0 when absent)."""

    name = "text"

    def __init__(self) -> None:
        self.calls: list[str] = []

    def score(self, prompt: str, output: str) -> float:
        self.calls.append(output)
        m = re.search(r"score=(\d+(?:\.\d+)?|nan|boom)", output)
        if not m:
            return 0.0
        if m.group(1) == "boom":
            raise RuntimeError("reward crashed")
        return float(m.group(1))


