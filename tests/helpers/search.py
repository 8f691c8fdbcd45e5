"""A step-by-step scripted model and process rewards for the search strategies' tests."""

from __future__ import annotations

from nlrl import ScriptedBackend
from nlrl.rewards import ProcessReward


def step_script(prompt: str, index: int) -> str:
    """After a good start, the model may answer 7 at once or take a middle step; after a bad
    start it answers 99. Value prompts (the language value) judge "bad" steps low."""
    if "Judge a partial solution" in prompt:
        tail = prompt.rsplit("Question:", 1)[1]
        return 'bad step", "final_evaluation": 0.2}\n' if "bad" in tail else 'fine", "final_evaluation": 0.8}\n'
    body = prompt.rsplit("Answer:\n", 1)[1]
    depth = body.count("\n")
    if depth == 0:
        return ["good start\n", "bad start\n"][index % 2]
    if "bad start" in body:
        return "Final Answer: 99\n"
    if depth == 1:
        return ["good middle\n", "Final Answer: 7\n"][index % 2]
    return "Final Answer: 7\n"


def wordy_script(prompt: str, index: int) -> str:
    """A model that never finishes: every step is eight words long."""
    return f"more words here and more words here {index}\n"


def step_backend(script=step_script, **kw) -> ScriptedBackend:
    return ScriptedBackend(script, **kw)


class StepReward(ProcessReward):
    """A process reward: a step is good (0.9) unless it contains 'bad' (0.1) or '99' (0.2)."""

    name = "steps"

    def __init__(self) -> None:
        self.calls = 0

    def score(self, prompt: str, output: str) -> float:
        return 0.5

    def score_steps(self, prompt: str, steps: list[str]) -> list[float]:
        self.calls += 1
        return [0.1 if "bad" in s else 0.2 if "99" in s else 0.9 for s in steps]


class TableReward(ProcessReward):
    """Step scores from a table keyed by the step's text (0.5 for unknown steps)."""

    name = "table"

    def __init__(self, table: dict[str, float]) -> None:
        self.table = table

    def score(self, prompt: str, output: str) -> float:
        return 0.5

    def score_steps(self, prompt: str, steps: list[str]) -> list[float]:
        return [self.table.get(s, 0.5) for s in steps]
