from __future__ import annotations

import json

import pytest

from nlrl import ConfigError, Pipeline, ScriptedBackend, UnknownNameError
from nlrl.strategies import STRATEGIES, Budget, get_strategy
from nlrl.strategies.compute_optimal import Auto, Choice, ComputeOptimalTable, allocate, solve_batch
from nlrl.tasks.task import Task

from helpers.strategies import math_task


def ans(*answers: str) -> list[str]:
    return [f"Work.\nFinal Answer: {a}\n" for a in answers]


def table(hard_choice: dict | None = None) -> ComputeOptimalTable:
    hard = hard_choice or {"strategy": "self-consistency", "n": 4, "accuracy": 0.4, "tokens": 40}
    pol = {"budget": 4, "probe": 2, "temperature": 0.7, "bins": [
        {"name": "easy", "min_agreement": 1.0, "choice": {"strategy": "self-consistency", "n": 2}},
        {"name": "hard", "min_agreement": 0.0, "choice": hard}],
        "frontier": {
            "easy": [{"strategy": "self-consistency", "n": 2, "accuracy": 0.9, "tokens": 20},
                     {"strategy": "self-consistency", "n": 4, "accuracy": 0.92, "tokens": 40}],
            "hard": [{"strategy": "self-consistency", "n": 2, "accuracy": 0.1, "tokens": 20},
                     {"strategy": "self-consistency", "n": 4, "accuracy": 0.4, "tokens": 40}]}}
    one = {"budget": 1, "probe": 0, "bins": [{"name": "any", "min_agreement": 0, "choice": {"strategy": "cot"}}]}
    return ComputeOptimalTable({"domains": {"math": {"learned": True, "policies": [one, pol]},
                                            "default": {"learned": False, "policies": [one]}}})


def test_easy_prompt_stops_after_the_probe():
    b = ScriptedBackend(ans("3", "3", "9", "9"))
    res = Auto(table())(math_task(), b, budget=Budget(n=4, seed=0))
    assert res.answer == "3"
    assert res.extra["chosen"]["strategy"] == "self-consistency" and res.extra["chosen"]["n"] == 2
    assert res.extra["chosen"]["bin"] == "easy"
    diff = [e for e in res.trace if e.kind == "difficulty"][0]
    assert diff.text == "easy" and diff.data["agreement"] == 1.0
    assert len(b.requests) == 1  # the probe's two samples were all it took
    assert res.usage.completion_tokens == 2 * b.count_tokens(ans("3")[0])


def test_hard_prompt_continues_from_the_probe_samples():
    b = ScriptedBackend(ans("3", "4", "4", "5"))
    res = Auto(table())(math_task(), b, budget=Budget(n=4, seed=0))
    assert res.answer == "4"
    assert res.extra["chosen"]["bin"] == "hard" and res.extra["samples"] == 4
    assert [(r.params.n, r.params.seed) for r in b.requests] == [(2, 0), (2, 2)]
    assert res.usage.completion_tokens == 4 * b.count_tokens(ans("3")[0])
    assert res.usage.calls == 2
    assert [e.kind for e in res.trace].count("sample") == 4


def test_non_sampling_choice_runs_fresh():
    t = table({"strategy": "self-refine", "n": 1})
    b = ScriptedBackend({"Review each": ["ok\nVerdict: correct\n"],
                         "Solve each": ans("3", "4", "7")})
    res = Auto(t)(math_task(), b, budget=Budget(n=4))
    assert res.extra["chosen"]["strategy"] == "self-refine"
    assert res.answer == "7"  # refine's own greedy draft, reviewed as correct
    assert res.usage.calls == 3


def test_budget_below_the_probe_uses_the_no_probe_policy():
    b = ScriptedBackend(ans("8"))
    res = Auto(table())(math_task(), b, budget=Budget(n=1))
    assert res.strategy == "auto" and res.extra["chosen"]["strategy"] == "cot" and res.answer == "8"
    diff = [e for e in res.trace if e.kind == "difficulty"][0]
    assert diff.data["probe"] == 0 and res.extra["chosen"]["agreement"] is None


def test_unlearned_domain_uses_default_policy():
    t = table()
    assert t.learned("math") and not t.learned("commonsense")
    assert t.policy("commonsense", 8).budget == 1


def test_token_cap_respected_when_continuing():
    b = ScriptedBackend(ans("3", "4", "4", "5", "6", "7"))
    res = Auto(table())(math_task(), b, budget=Budget(n=4, max_tokens=10, max_total_tokens=30))
    assert res.usage.completion_tokens <= 30


def test_pipeline_json_names_the_choice():
    pipe = Pipeline(ScriptedBackend(ans("3", "3")), strategy=Auto(table()), n=4)
    d = pipe.solve("What is 1 + 2?", domain="math").to_dict()
    assert d["strategy"] == "auto" and d["chosen"]["strategy"] == "self-consistency"
    assert any(e["kind"] == "difficulty" for e in d["trace"])


def test_packaged_table_loads():
    t = ComputeOptimalTable.load()
    assert t.policy("coding", 16).budget <= 16
    assert isinstance(get_strategy("auto"), Auto)


CODING_Q = ("Write a function `add_two(x)` that returns x plus 2.\nYour code should pass these tests:\n"
            "assert add_two(1) == 3\nassert add_two(5) == 7")
RIGHT = "```python\ndef add_two(x):\n    return x + 2\n```\n"
WRONG = ["```python\ndef add_two(x):\n    return x %s\n```\n" % e for e in ("+ 3", "* 2", "- 2")]


def test_packaged_table_has_a_learned_coding_domain():
    spec = ComputeOptimalTable.load().data["domains"]["coding"]
    assert spec["learned"] is True and spec["dataset"].startswith("minicode (dev split")
    assert spec["dev_problems"] > 0 and spec["unit_tokens"] > 0
    assert [p["budget"] for p in spec["policies"]] == [1, 2, 4, 8, 16]
    for p in spec["policies"]:
        assert p["selection"]["dev_problems"] == spec["dev_problems"]
        assert p["dev_tokens"] <= p["token_budget"]
        assert sum(b["dev_problems"] for b in p["bins"]) == spec["dev_problems"]


@pytest.mark.parametrize("budget", [1, 2, 4, 8, 16])
@pytest.mark.parametrize("outputs", [[RIGHT], [RIGHT, *WRONG]], ids=["agreeing", "all-different"])
def test_auto_routes_a_coding_task_by_the_packaged_coding_policy(budget, outputs):
    policy = ComputeOptimalTable.load().policy("coding", budget)
    b = ScriptedBackend(lambda prompt, i: outputs[i % len(outputs)])
    res = Auto()(Task.build(CODING_Q, domain="coding"), b, budget=Budget(n=budget, seed=0))
    if policy.probe:  # the probe's k programs: all the same, or k different ones
        name, choice = policy.bin_of(1.0 if len(outputs) == 1 else 1 / min(policy.probe, len(outputs)))
    else:
        name, choice = policy.bins[0][1:]
    chosen = res.extra["chosen"]
    assert (chosen["strategy"], chosen["n"], chosen["bin"], chosen["probe"]) == (
        choice.strategy, choice.n, name, policy.probe)
    if len(outputs) == 1 or choice.strategy == "public-tests":  # only the right program passes the shown asserts
        assert "return x + 2" in res.answer


def test_malformed_table(tmp_path):
    p = tmp_path / "t.json"
    p.write_text(json.dumps({"domains": {"math": {"policies": [{"budget": 1}]}}}))
    with pytest.raises(ConfigError, match="malformed"):
        ComputeOptimalTable.load(p)
    p.write_text("{")
    with pytest.raises(ConfigError, match="not valid JSON"):
        ComputeOptimalTable.load(p)
    with pytest.raises(ConfigError, match="cannot read"):
        ComputeOptimalTable.load(tmp_path / "missing.json")


def test_allocate_spends_where_accuracy_per_token_is_highest():
    frontier = {
        "easy": [Choice("sc", 1, accuracy=0.8, tokens=10), Choice("sc", 4, accuracy=0.85, tokens=40)],
        "hard": [Choice("sc", 1, accuracy=0.1, tokens=10), Choice("sc", 4, accuracy=0.5, tokens=40),
                 Choice("sc", 8, accuracy=0.55, tokens=80)],
    }
    got = allocate(["easy", "hard", "easy", "hard"], 100, frontier)
    assert [c.n for c in got] == [1, 4, 1, 4]  # the hard prompts gain 0.4 per 30 tokens
    assert sum(c.tokens for c in got) <= 100
    assert [c.n for c in allocate(["easy", "hard"], 20, frontier)] == [1, 1]
    with pytest.raises(ConfigError):
        allocate(["medium"], 100, frontier)


def test_allocate_skips_dominated_choices():
    frontier = {"x": [Choice("a", 1, accuracy=0.5, tokens=10), Choice("b", 2, accuracy=0.4, tokens=20),
                      Choice("c", 3, accuracy=0.52, tokens=100), Choice("d", 4, accuracy=0.9, tokens=110)]}
    assert allocate(["x"], 1000, frontier)[0].strategy == "d"


def test_allocate_uses_the_concave_hull_and_never_exceeds_the_budget():
    # b lies under the chord a -> c (0.05 per 10 tokens vs 0.4 per 20): the hull skips it
    frontier = {"x": [Choice("a", 1, accuracy=0.2, tokens=10), Choice("b", 2, accuracy=0.25, tokens=20),
                      Choice("c", 3, accuracy=0.6, tokens=30)],
                "y": [Choice("a", 1, accuracy=0.7, tokens=10), Choice("c", 3, accuracy=0.8, tokens=30)]}
    assert [c.strategy for c in allocate(["x"], 30, frontier)] == ["c"]
    assert [c.strategy for c in allocate(["x"], 25, frontier)] == ["a"]  # b is not on the hull
    # 60 tokens for x, y, x: both x upgrades (0.4 per 20) beat y's (0.1 per 20); 10+30+10 -> 30+10+30 = 70 > 60
    got = allocate(["x", "y", "x"], 60, frontier)
    assert [c.strategy for c in got] == ["c", "a", "a"] and sum(c.tokens for c in got) == 50
    got = allocate(["x", "y", "x"], 70, frontier)
    assert [c.strategy for c in got] == ["c", "a", "c"] and sum(c.tokens for c in got) == 70


def test_solve_batch_stays_within_the_global_budget():
    b = ScriptedBackend(ans("3", "3", "1", "2", "2", "2", "5", "5"))
    tasks = [math_task("q1"), math_task("q2"), math_task("q3")]
    per = b.count_tokens(ans("3")[0])
    # probes first (3,3 | 1,2 | 2,2); then only the hard prompt is worth upgrading (0.3 per 20 tokens)
    results = solve_batch(tasks, b, total_tokens=80, budget_n=4, max_tokens=per, table=table())
    assert sum(r.usage.completion_tokens for r in results) <= 80
    assert [r.extra["chosen"]["bin"] for r in results] == ["easy", "hard", "easy"]
    assert [r.extra["chosen"]["n"] for r in results] == [2, 4, 2]
    assert [r.answer for r in results] == ["3", "5", "2"]
    with pytest.raises(ConfigError, match="probes alone"):
        solve_batch(tasks, ScriptedBackend(ans("1") * 6), total_tokens=10, budget_n=4, table=table())


def test_unknown_strategy_lists_known_ones():
    with pytest.raises(UnknownNameError) as err:
        get_strategy("tree-of-thought")
    msg = str(err.value)
    for name in ("cot", "self-consistency", "best-of-n", "weighted-best-of-n", "self-refine",
                 "divide-and-conquer", "beam", "adaptive-self-consistency", "auto"):
        assert name in msg and name in STRATEGIES
