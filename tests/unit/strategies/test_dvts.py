from __future__ import annotations

import pytest

from nlrl import ConfigError, ScriptedBackend
from nlrl.strategies import STRATEGIES, Budget, get_strategy
from nlrl.strategies.dvts import DVTS

from helpers.search import StepReward, TableReward, step_backend, wordy_script
from helpers.strategies import math_task


def test_registered():
    assert isinstance(get_strategy("dvts"), DVTS)
    assert "dvts" in STRATEGIES.names()


def test_subtrees_search_independently_and_finish():
    b = step_backend()
    res = DVTS(n=4, width=2)(math_task(), b, reward=StepReward(), budget=Budget(n=4, seed=1))
    assert res.answer == "7"
    assert res.extra["subtrees"] == 2 and res.extra["finished"] == 2
    events = [e for e in res.trace if e.kind == "subtree"]
    assert {e.data["subtree"] for e in events} == {0, 1}
    first = [e for e in events if e.data["depth"] == 1]
    # each subtree saw `width` candidates and kept the best ("bad start" scores 0.1)
    assert all(len(e.data["candidates"]) == 2 and e.text == "good start" for e in first)
    # one call per subtree per round, each asking for `width` steps stopped at a newline
    assert all(r.params.n == 2 and r.params.stop == ("\n",) for r in b.requests)
    # subtrees get disjoint seeds (same root prompt, so the same seeds would give the same steps)
    root_seeds = [r.params.seed for r in b.requests[:2]]
    assert root_seeds == [1, 3]
    assert [e.kind for e in res.trace][-2:] == ["vote", "stop"]


@pytest.mark.parametrize("cap", [32, 60, 100, 250])
def test_budget_is_never_exceeded(cap):
    res = DVTS(n=4, width=2, step_tokens=8, max_steps=50)(
        math_task(), ScriptedBackend(wordy_script), reward=StepReward(),
        budget=Budget(n=4, max_tokens=8, max_total_tokens=cap))
    assert 0 < res.usage.completion_tokens <= cap
    assert res.extra["stopped"] == "token budget spent"


def test_unfinished_subtrees_are_not_counted_as_finished():
    # search-and-learn #57: the last round's live candidates are not "completed" answers
    res = DVTS(n=4, width=2, max_steps=1)(math_task(), step_backend(), reward=StepReward(),
                                          budget=Budget(n=4, seed=0))
    assert res.extra["finished"] == 0 and res.extra["unfinished"] == 2
    fallback = [e for e in res.trace if e.kind == "fallback"]
    assert fallback and fallback[0].data["reason"] == "1 steps"
    assert res.answer is None  # "good start" holds no answer, and nothing pretends it does


def test_finished_subtrees_win_over_unfinished_ones():
    # subtree 0 answers at once, subtree 1 keeps going and runs out of steps: only 0 counts
    outputs = ["Final Answer: 5\n", "Final Answer: 5\n", "step one\n", "step one\n"]
    res = DVTS(n=2, width=2, max_steps=1)(math_task(), ScriptedBackend(outputs),
                                          reward=TableReward({"step one": 1.0, "Final Answer: 5": 0.3}),
                                          budget=Budget(n=2))
    assert res.extra["finished"] == 1 and res.answer == "5"
    assert not any(e.kind == "fallback" for e in res.trace)


def _two_paths() -> ScriptedBackend:
    # subtree 0 writes "a1" then answers 1; subtree 1 writes "b1" then answers 2 (width 1: one
    # candidate per round, so the paths are fixed; only the final choice is under test)
    return ScriptedBackend({"Answer:\na1\n": ["Final Answer: 1\n"], "Answer:\nb1\n": ["Final Answer: 2\n"],
                            "Answer:\n": ["a1\n", "b1\n"]})


@pytest.mark.parametrize("aggregation, answer", [("last", "1"), ("min", "2"), ("prod", "2"), ("mean", "2")])
def test_aggregation_chooses_the_answer(aggregation, answer):
    reward = TableReward({"a1": 0.1, "Final Answer: 1": 0.9, "b1": 0.6, "Final Answer: 2": 0.7})
    res = DVTS(n=2, width=1, aggregation=aggregation, select="best")(
        math_task(), _two_paths(), reward=reward, budget=Budget(n=2))
    assert res.extra["finished"] == 2
    assert res.answer == answer


def test_weighted_and_majority_selection():
    # three subtrees: two answer 3 with low values, one answers 4 with a high value
    outputs = ["Final Answer: 3\n", "Final Answer: 3\n", "Final Answer: 4\n"]
    reward = TableReward({"Final Answer: 3": 0.4, "Final Answer: 4": 0.7})
    run = lambda select: DVTS(n=3, width=1, select=select)(  # noqa: E731
        math_task(), ScriptedBackend(outputs), reward=reward, budget=Budget(n=3))
    assert run("best").answer == "4"
    assert run("majority").answer == "3"
    weighted = run("weighted")
    assert weighted.answer == "3"  # 0.4 + 0.4 > 0.7
    vote = next(e for e in weighted.trace if e.kind == "vote")
    assert vote.data["groups"][0]["score"] == pytest.approx(0.8)


def test_seeded_runs_repeat():
    def go():
        res = DVTS(n=4, width=2)(math_task(), step_backend(), reward=StepReward(), budget=Budget(n=4, seed=7))
        return res.answer, [e.to_dict() for e in res.trace]

    assert go() == go()


def test_logprobs_are_the_default_process_reward():
    b = step_backend(logprob=lambda tok: -3.0 if "bad" in tok else -0.1)
    res = DVTS(n=2, width=2)(math_task(), b, budget=Budget(n=2))
    assert res.answer == "7" and all(r.params.logprobs for r in b.requests)


def test_bad_options():
    with pytest.raises(ConfigError, match="aggregation"):
        DVTS(aggregation="max")
    with pytest.raises(ConfigError, match="select"):
        DVTS(select="vote")
    with pytest.raises(ConfigError, match="width"):
        DVTS(width=0)
    with pytest.raises(ConfigError, match="process reward"):
        DVTS()(math_task(), step_backend(), budget=Budget(n=2))
