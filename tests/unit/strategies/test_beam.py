from __future__ import annotations

import math

import pytest

from nlrl import ConfigError, ScriptedBackend
from nlrl.strategies import Budget
from nlrl.rewards import ProcessReward
from nlrl.strategies.beam import BeamSearch, aggregate, split_steps

from helpers.search import step_script
from helpers.strategies import math_task


def test_split_steps():
    assert split_steps("a = 1\n\nb = 2\nFinal Answer: 2") == ["a = 1", "b = 2", "Final Answer: 2"]
    assert split_steps("Step 1: add. Step 2: halve.") == ["Step 1: add.", "Step 2: halve."]


def test_aggregate():
    assert aggregate([0.5, 0.2, 0.9], "min") == 0.2
    assert aggregate([0.5, 0.2, 0.9], "last") == 0.9
    assert aggregate([0.5, 0.5], "prod") == 0.25
    assert aggregate([0.5, 0.2, 0.9], "mean") == pytest.approx(1.6 / 3)


class StepReward(ProcessReward):
    """A process reward: a step is good unless it contains 'bad'."""

    name = "steps"

    def __init__(self):
        self.calls = 0

    def score(self, prompt, output):
        return 0.5

    def score_steps(self, prompt, steps):
        self.calls += 1
        return [0.1 if "bad" in s else 0.9 for s in steps]


def test_beam_keeps_the_best_steps_and_finishes():
    reward = StepReward()
    b = ScriptedBackend(step_script)
    res = BeamSearch(width=2, expansions=2)(math_task(), b, reward=reward, budget=Budget(n=2))
    assert res.answer == "7"
    assert res.extra["finished"] >= 2
    beams = [e for e in res.trace if e.kind == "beam"]
    assert beams and beams[0].data["kept"][0]["text"] == "good start"
    # every step call asks for `expansions` continuations of each live beam, stopped at a newline
    assert all(r.params.n == 2 and r.params.stop == ("\n",) for r in b.requests)
    assert reward.calls > 0


def test_width_one_is_greedy_on_the_reward():
    b = ScriptedBackend(step_script)
    res = BeamSearch(width=1, expansions=2)(math_task(), b, reward=StepReward(), budget=Budget(n=1))
    assert res.answer == "7"
    assert "bad" not in res.output


def test_logprob_scores_without_a_process_reward():
    # tokens of "bad" paths are unlikely: the backend's logprobs steer the search
    b = ScriptedBackend(step_script, logprob=lambda tok: -3.0 if "bad" in tok or "99" in tok else -0.1)
    res = BeamSearch(width=1, expansions=2)(math_task(), b, budget=Budget(n=1))
    assert res.answer == "7"
    assert all(r.params.logprobs for r in b.requests)


def test_backend_without_logprobs_needs_a_process_reward():
    with pytest.raises(ConfigError, match="process reward"):
        BeamSearch()(math_task(), ScriptedBackend(step_script), budget=Budget(n=1))


def test_budget_caps_the_search():
    b = ScriptedBackend(lambda p, i: "more words here and more\n")
    res = BeamSearch(width=2, expansions=2, step_tokens=8, max_steps=50)(
        math_task(), b, reward=StepReward(), budget=Budget(n=2, max_tokens=8, max_total_tokens=60))
    assert res.usage.completion_tokens <= 60
    assert res.extra["stopped"] == "token budget spent"
    assert any(e.kind == "fallback" for e in res.trace)  # nothing finished: said so


def test_failing_process_reward_is_logged(caplog):
    class Broken(StepReward):
        def score_steps(self, prompt, steps):
            return [math.nan] * len(steps)

    res = BeamSearch(width=1)(math_task(), ScriptedBackend(step_script), reward=Broken(), budget=Budget(n=1))
    assert "process reward" in caplog.text
    assert any(e.kind == "fallback" for e in res.trace)


def test_bad_options():
    with pytest.raises(ConfigError):
        BeamSearch(expansions=0)
    with pytest.raises(ConfigError):
        BeamSearch(aggregate="max")


def test_a_line_of_numbered_steps_counts_as_several_steps():
    reward = StepReward()
    b = ScriptedBackend(lambda p, i: "Step 1: add. Step 2: check.\n" if "Step 1" not in p.rsplit("Answer:\n", 1)[1]
                        else "Final Answer: 7\n")
    res = BeamSearch(width=1, expansions=1)(math_task(), b, reward=reward, budget=Budget(n=1))
    assert res.answer == "7"
    assert res.output == "Step 1: add.\nStep 2: check.\nFinal Answer: 7\n"


def test_a_token_cap_is_measured_in_the_calls_it_can_make():
    # step_tokens (64) above max_tokens (8): each step call asks for at most 8 tokens, so a cap of
    # 40 pays for steps that 64-token calls could not; the search runs, and stays under the cap.
    b = ScriptedBackend(step_script)
    res = BeamSearch(width=2, expansions=2)(
        math_task(), b, reward=StepReward(), budget=Budget(n=2, max_tokens=8, max_total_tokens=40))
    assert b.requests and all(r.params.max_tokens == 8 for r in b.requests)
    assert res.usage.completion_tokens <= 40
    assert res.answer == "7"
