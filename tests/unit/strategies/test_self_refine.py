from __future__ import annotations

import pytest

from nlrl import ConfigError, ScriptedBackend
from nlrl.strategies import Budget
from nlrl.strategies.self_refine import SelfRefine, parse_verdict

from helpers.strategies import TextReward, math_task

DRAFT, CRITIQUE, REVISE = "Solve each problem", "Review each answer", "Rewrite each answer"


def backend(drafts, critiques, revisions):
    return ScriptedBackend({DRAFT: drafts, CRITIQUE: critiques, REVISE: revisions})


def test_parse_verdict():
    assert parse_verdict("Looks fine.\nVerdict: correct") is True
    assert parse_verdict("2+2 is not 5.\nVerdict: Wrong") is False
    assert parse_verdict("no idea") is None


def test_critique_then_revise_until_review_says_correct():
    b = backend(["2 + 2 = 5.\nFinal Answer: 5\n"],
                ["2 + 2 is 4, not 5.\nVerdict: wrong\n", "Right.\nVerdict: correct\n"],
                ["2 + 2 = 4.\nFinal Answer: 4\n"])
    res = SelfRefine()(math_task("What is 2 + 2?"), b, budget=Budget(n=3))
    assert res.answer == "4"
    kinds = [e.kind for e in res.trace]
    assert kinds == ["sample", "critique", "revision", "critique", "stop"]
    assert res.extra["stopped"] == "the review found no mistake"
    # the revise prompt shows the draft and the review, without its verdict line
    rev_prompt = [r.prompt for r in b.requests if REVISE in r.prompt][0]
    assert rev_prompt.endswith("Answer: 2 + 2 = 5.\nFinal Answer: 5\nReview: 2 + 2 is 4, not 5.\nImproved answer:")
    assert res.usage.calls == 4


def test_rounds_cap_the_loop():
    b = backend(["Final Answer: 1\n"], ["bad\nVerdict: wrong\n"] * 5,
                ["Final Answer: 2\n", "Final Answer: 3\n", "Final Answer: 4\n"])
    res = SelfRefine()(math_task(), b, budget=Budget(n=2))
    assert res.answer == "3" and res.extra["versions"] == 3
    assert sum(1 for e in res.trace if e.kind == "revision") == 2


def test_stops_when_reward_passes_threshold_and_returns_best_version():
    b = backend(["score=0.2\nFinal Answer: 1\n"], ["Verdict: wrong\n"] * 3,
                ["score=0.9\nFinal Answer: 2\n", "score=0.1\nFinal Answer: 3\n"])
    res = SelfRefine(threshold=0.8)(math_task(), b, reward=TextReward(), budget=Budget(n=5))
    assert res.answer == "2" and res.score == pytest.approx(0.9)
    assert res.extra["stopped"].startswith("reward 0.900")
    assert sum(1 for r in b.requests if REVISE in r.prompt) == 1


def test_with_reward_best_scored_version_wins_over_latest():
    b = backend(["score=0.6\nFinal Answer: 1\n"], ["Verdict: wrong\n"] * 3,
                ["score=0.3\nFinal Answer: 2\n"])
    res = SelfRefine(threshold=0.95)(math_task(), b, reward=TextReward(), budget=Budget(n=1))
    assert res.answer == "1"


def test_token_budget_stops_refinement():
    b = backend(["Final Answer: 1\n"], ["Verdict: wrong\n"] * 9, ["Final Answer: 2\n"] * 9)
    res = SelfRefine()(math_task(), b, budget=Budget(n=8, max_tokens=10, max_total_tokens=25))
    assert res.usage.completion_tokens <= 25
    assert res.extra["stopped"] == "token budget spent"


def test_failing_reward_is_logged_and_latest_returned(caplog):
    b = backend(["score=boom\nFinal Answer: 1\n"], ["Verdict: wrong\n"], ["score=boom\nFinal Answer: 2\n"])
    res = SelfRefine()(math_task(), b, reward=TextReward(), budget=Budget(n=1))
    assert res.answer == "2"
    assert "failed on sample" in caplog.text
    assert any(e.kind == "fallback" for e in res.trace)


def test_bad_options():
    with pytest.raises(ConfigError):
        SelfRefine(rounds=0)
    with pytest.raises(ConfigError):
        SelfRefine(threshold=-1)
