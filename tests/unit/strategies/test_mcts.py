from __future__ import annotations

import math

import pytest

from nlrl import ConfigError, ScriptedBackend
from nlrl.strategies import Budget, get_strategy
from nlrl.strategies.beam import Beam
from nlrl.strategies.mcts import MCTS, Node, backup, uct

from helpers.search import StepReward, TableReward, step_backend, wordy_script
from helpers.strategies import math_task


def test_registered():
    assert isinstance(get_strategy("mcts", evaluator="value"), MCTS)


def test_uct_and_backup_arithmetic():
    nodes = {0: Node(0, None, Beam()), 1: Node(1, 0, Beam(("a",)), prior=0.6), 2: Node(2, 0, Beam(("b",)), prior=0.2)}
    assert nodes[1].q == 0.6  # unvisited: its own evaluation
    backup(nodes, [0, 1], 0.5)
    backup(nodes, [0, 1], 1.0)
    backup(nodes, [0, 2], 0.2)
    assert (nodes[0].visits, nodes[0].total) == (3, pytest.approx(1.7))
    assert nodes[1].q == pytest.approx(0.75) and nodes[2].q == pytest.approx(0.2)
    assert uct(nodes[1], 3, 1.0) == pytest.approx(0.75 + math.sqrt(math.log(3) / 2))
    assert uct(nodes[2], 3, 1.0) == pytest.approx(0.2 + math.sqrt(math.log(3) / 1))
    assert uct(nodes[2], 3, 0.0) == pytest.approx(0.2)


def test_search_expands_evaluates_and_backs_up():
    res = MCTS(iterations=6)(math_task(), step_backend(), reward=StepReward(), budget=Budget(n=1, seed=0))
    assert res.answer == "7"
    expands = [e for e in res.trace if e.kind == "expand"]
    backups = [e for e in res.trace if e.kind == "backup"]
    assert expands[0].data["node"] == 0
    kids = expands[0].data["children"]
    assert [k["text"] for k in kids] == ["good start", "bad start"] and [k["id"] for k in kids] == [1, 2]
    assert kids[0]["value"] == 0.9 and kids[0]["parent"] == 0
    # the first backup runs root -> best new child, with the child's value (min of 0.9)
    assert backups[0].data["path"] == [0, 1] and backups[0].data["value"] == 0.9
    assert backups[0].data["visits"] == [1, 1]
    # the second iteration descends to node 1 (UCT: 0.9 vs 0.1 + exploration) and expands it
    assert expands[1].data["node"] == 1
    # every backup adds one visit to the root
    assert [b.data["visits"][0] for b in backups] == list(range(1, len(backups) + 1))
    # every child names a parent that was drawn before it: the tree can be drawn from the trace
    seen = {0}
    for e in expands:
        for k in e.data["children"]:
            assert k["parent"] in seen
            seen.add(k["id"])
    assert res.trace[-1].kind == "stop" and res.trace[-1].data["chosen"] in seen


def test_root_q_is_the_mean_of_everything_backed_up():
    res = MCTS(iterations=5)(math_task(), step_backend(), reward=StepReward(), budget=Budget(n=1))
    backups = [e for e in res.trace if e.kind == "backup"]
    values = [b.data["value"] for b in backups]
    assert backups[-1].data["q"][0] == pytest.approx(sum(values) / len(values), abs=1e-3)


def test_language_value_evaluator():
    b = step_backend()
    res = MCTS(iterations=6, evaluator="value")(math_task(), b, budget=Budget(n=1))
    assert res.answer == "7"
    evals = [e for e in res.trace if e.kind == "evaluate"]
    assert evals and {e.data["value"] for e in evals} <= {0.2, 0.8}
    bad = next(e for e in evals if e.data["step"] == "bad start")
    assert bad.data["value"] == 0.2 and bad.text == "bad step"  # the thought is kept
    # the value prompt is gpi's reasoning template, answered after its JSON opening
    value_calls = [r for r in b.requests if "Judge a partial solution" in r.prompt]
    assert value_calls and all(r.prompt.endswith('{"thought": "') for r in value_calls)
    # its calls, and so its tokens, are charged to the run
    assert res.usage.calls == len(b.requests)


def test_unparsed_value_falls_back_openly():
    def script(prompt, i):
        if "Judge a partial solution" in prompt:
            return 'hmm", "final_evaluation": "promising"}\n'
        return "Final Answer: 3\n"

    res = MCTS(iterations=2, evaluator="value")(math_task(), ScriptedBackend(script), budget=Budget(n=1))
    assert res.answer == "3"
    assert any(e.kind == "fallback" and "0.5" in e.text for e in res.trace)


@pytest.mark.parametrize("evaluator, cap", [("reward", 40), ("reward", 100), ("value", 130), ("value", 300)])
def test_budget_is_never_exceeded(evaluator, cap):
    res = MCTS(iterations=100, step_tokens=8, value_tokens=16, max_steps=50, evaluator=evaluator)(
        math_task(), ScriptedBackend(wordy_script), reward=StepReward(),
        budget=Budget(n=1, max_tokens=8, max_total_tokens=cap))
    assert 0 < res.usage.completion_tokens <= cap
    assert res.extra["stopped"] == "token budget spent"
    assert any(e.kind == "fallback" for e in res.trace)  # nothing finished: said so


def test_rollout_is_evaluated_and_backed_up():
    b = step_backend()
    res = MCTS(iterations=1, rollout=True)(math_task(), b, reward=StepReward(), budget=Budget(n=1))
    roll = [e for e in res.trace if e.kind == "rollout"]
    assert len(roll) == 1 and roll[0].data["node"] == 1
    backup_ev = next(e for e in res.trace if e.kind == "backup")
    assert backup_ev.text == "rollout" and backup_ev.data["value"] == roll[0].data["value"]


def test_seeded_runs_repeat():
    def go():
        res = MCTS(iterations=8)(math_task(), step_backend(), reward=StepReward(), budget=Budget(n=1, seed=3))
        return res.answer, [e.to_dict() for e in res.trace]

    assert go() == go()


def test_the_best_finished_node_wins():
    # two answers under the root: "Final Answer: 1" valued 0.3, "Final Answer: 2" valued 0.8
    b = ScriptedBackend(lambda p, i: ["Final Answer: 1\n", "Final Answer: 2\n"][i % 2])
    res = MCTS(iterations=4)(math_task(), b, reward=TableReward({"Final Answer: 1": 0.3, "Final Answer: 2": 0.8}),
                             budget=Budget(n=1))
    assert res.answer == "2" and res.extra["finished"] == 2
    assert res.extra["stopped"] == "nothing left to expand"


def test_bad_options():
    with pytest.raises(ConfigError, match="evaluator"):
        MCTS(evaluator="oracle")
    with pytest.raises(ConfigError, match="exploration"):
        MCTS(exploration=-1)
    with pytest.raises(ConfigError, match="expansions"):
        MCTS(expansions=0)
