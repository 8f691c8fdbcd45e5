"""Strategies on the real embedded model (Gemma 3 270M): every step is a model call, usage adds up.

Small budgets and one-example ("easy") prompts keep each test short; they check behaviour, not
accuracy (the model is weak; accuracy is measured by benchmarks/strategies.py).
"""

from __future__ import annotations

import pytest

from nlrl import Pipeline
from nlrl.gists import GistStream
from nlrl.strategies import Budget, get_strategy
from nlrl.tasks.task import Task

pytestmark = pytest.mark.integration

Q = "Tom has 3 apples and buys 4 more. How many apples does he have?"


def test_self_consistency_votes_over_real_samples(embedded):
    task = Task.build(Q, domain="math", difficulty="easy")
    res = get_strategy("self-consistency")(task, embedded, on_token=GistStream("math"),
                                           budget=Budget(n=2, max_tokens=24, seed=3))
    samples = [e for e in res.trace if e.kind == "sample"]
    assert len(samples) == 2
    assert res.usage.completion_tokens == sum(e.data["tokens"] for e in samples) > 0
    vote = [e for e in res.trace if e.kind == "vote"][0]
    assert sum(g["count"] for g in vote.data["groups"]) + vote.data["abstained"] == 2
    if res.answer is not None:
        assert res.answer == vote.data["groups"][0]["answer"]


def test_beam_search_steps_with_logprob_scores(embedded):
    task = Task.build(Q, domain="math", difficulty="easy")
    res = get_strategy("beam", expansions=2, max_steps=2, step_tokens=16)(
        task, embedded, budget=Budget(n=1, max_tokens=16, max_total_tokens=64, seed=5))
    beams = [e for e in res.trace if e.kind == "beam"]
    assert beams and all(0.0 <= k["score"] <= 1.0 for e in beams for k in e.data["kept"])
    assert res.usage.completion_tokens <= 64
    assert res.usage.calls >= len(beams)  # one per live beam per round


def test_auto_through_the_pipeline_names_its_choice(embedded):
    pipe = Pipeline(embedded, strategy="auto", n=2, max_tokens=24, seed=3, difficulty="easy")
    d = pipe.solve(Q, domain="math").to_dict()
    assert d["strategy"] == "auto"
    assert d["chosen"]["strategy"] in ("self-consistency", "adaptive-self-consistency", "best-of-n",
                                       "weighted-best-of-n", "self-refine", "divide-and-conquer",
                                       "beam", "cot", "program-aided")
    kinds = [e["kind"] for e in d["trace"]]
    assert "difficulty" in kinds or d["chosen"]["probe"] == 0
    assert d["usage"]["completion_tokens"] > 0
