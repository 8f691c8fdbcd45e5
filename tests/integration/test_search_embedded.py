"""dvts, mcts (process reward and language value) and particle-filter on the real embedded model
(Gemma 3 270M): one tiny problem each, inside a small token budget. The model is weak, so the
answers are not asserted; that each search runs, traces its work, stays in budget and reads the
engine's log-probabilities is."""

from __future__ import annotations

import pytest

from nlrl.strategies import Budget, get_strategy
from nlrl.tasks.task import Task

pytestmark = pytest.mark.integration

TASK = Task.build("What is 12 + 5?", domain="math", difficulty="easy")


@pytest.mark.parametrize("name, options, event, cap", [
    ("dvts", {"n": 2, "width": 2, "step_tokens": 12, "max_steps": 2}, "subtree", 64),
    ("particle-filter", {"n": 2, "step_tokens": 12, "max_steps": 2}, "particles", 64),
    ("mcts", {"iterations": 2, "step_tokens": 12, "max_steps": 2}, "backup", 64),
    # one iteration pays for 2 steps and 2 language-value answers: 2 * (12 + 24) = 72 tokens
    ("mcts", {"iterations": 1, "step_tokens": 12, "max_steps": 2, "evaluator": "value", "value_tokens": 24},
     "evaluate", 72),
])
def test_search_runs_in_budget(embedded, name, options, event, cap):
    res = get_strategy(name, **options)(TASK, embedded, budget=Budget(n=4, max_tokens=16, max_total_tokens=cap, seed=7))
    assert 0 < res.usage.completion_tokens <= cap
    kinds = [e.kind for e in res.trace]
    assert event in kinds and kinds[-1] == "stop"
    if options.get("evaluator") == "value":
        evals = [e for e in res.trace if e.kind == "evaluate"]
        # what the model wrote is kept, parsed or not; a number in [0, 1] when it parsed
        assert all(e.data["value"] is None or 0.0 <= e.data["value"] <= 1.0 for e in evals)
    else:
        scores = [c["score"] for e in res.trace if e.kind == "subtree" for c in e.data["candidates"]]
        scores += [p["score"] for e in res.trace if e.kind == "particles" for p in e.data["particles"] if p["text"]]
        scores += [k["value"] for e in res.trace if e.kind == "expand" for k in e.data["children"]]
        assert scores and all(0.0 < s <= 1.0 for s in scores)  # log-probabilities of real tokens
