from __future__ import annotations

import pytest

from nlrl import ConfigError, ScriptedBackend
from nlrl.strategies import Budget, get_strategy
from nlrl.strategies.divide_conquer import DivideAndConquer, parse_subquestions
from nlrl.strategies.sampling import default_temperature

from helpers.strategies import math_task

DECOMP, SUB, COMPOSE = "Break each problem", "Answer each sub-question", "Use the answered sub-questions"
Q = "Ann has 3 bags of 4 apples and eats 2. How many are left?"


def test_parse_subquestions():
    text = " How many apples in the bags?\n2. How many after eating 2?\n\nQuestion: junk"
    assert parse_subquestions(text) == ["How many apples in the bags?", "How many after eating 2?"]
    assert parse_subquestions("a?\n2) b?\n3. b?\n4. c?", limit=2) == ["a?", "b?"]
    assert parse_subquestions("") == []


def test_chain_answers_in_order_with_earlier_answers_in_context():
    b = ScriptedBackend({
        DECOMP: [" How many apples are in the bags?\n2. How many are left after eating 2?\n"],
        SUB: [" 3 * 4 = 12 apples.\n", " 12 - 2 = 10 apples.\n"],
        COMPOSE: [" 10\n"],
    })
    res = DivideAndConquer()(math_task(Q), b, budget=Budget(n=1))
    assert res.answer == "10"
    kinds = [e.kind for e in res.trace]
    assert kinds == ["decompose", "subquestion", "subanswer", "subquestion", "subanswer", "compose"]
    sub_prompts = [r.prompt for r in b.requests if SUB in r.prompt]
    # the second sub-question sees the first one answered
    assert sub_prompts[1].endswith(
        f"Question: {Q}\nSub-question: How many apples are in the bags?\nAnswer: 3 * 4 = 12 apples.\n"
        "Sub-question: How many are left after eating 2?\nAnswer:")
    assert "Sub-question: How many are left after eating 2?\nAnswer: 12 - 2 = 10 apples.\nFinal Answer:" in \
        [r.prompt for r in b.requests if COMPOSE in r.prompt][0]
    assert res.output.endswith("Final Answer: 10\n")
    assert res.usage.calls == 4
    assert all(r.params.temperature == 0.0 for r in b.requests)  # one chain: greedy


def test_empty_plan_falls_back_to_the_question_itself():
    b = ScriptedBackend({DECOMP: ["\n"], SUB: [" 10 apples.\n"], COMPOSE: [" 10\n"]})
    res = DivideAndConquer()(math_task(Q), b, budget=Budget(n=1))
    assert res.answer == "10"
    assert any(e.kind == "fallback" for e in res.trace)


def test_several_chains_are_voted():
    b = ScriptedBackend({DECOMP: [" a?\n"] * 3, SUB: [" x\n"] * 3, COMPOSE: [" 10\n", " 9\n", " 10.0\n"]})
    res = get_strategy("divide-and-conquer")(math_task(Q), b, budget=Budget(n=3, seed=4))
    assert res.answer == "10" and res.extra["chains"] == 3
    assert any(e.kind == "vote" for e in res.trace)
    assert {r.params.temperature for r in b.requests} == {default_temperature("math")}


def test_budget_respected():
    b = ScriptedBackend({DECOMP: [" a?\n2. b?\n3. c?\n4. d?\n"], SUB: [" one two three four five six\n"] * 4,
                         COMPOSE: [" 10\n"]})
    res = DivideAndConquer(subanswer_tokens=8)(math_task(Q), b,
                                               budget=Budget(n=1, max_tokens=16, max_total_tokens=20))
    assert res.usage.completion_tokens <= 20


def test_bad_options():
    with pytest.raises(ConfigError):
        DivideAndConquer(max_subquestions=0)
