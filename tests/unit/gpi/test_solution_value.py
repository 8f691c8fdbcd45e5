"""V^L of a partial solution (the ``mcts`` strategy's language value): gpi's reasoning prompt,
its JSON answer, and the number read from it."""

from __future__ import annotations

import pytest

from nlrl.backends import ScriptedBackend
from nlrl.gpi import JsonCaller
from nlrl.gpi.value import FAILED, Evaluation, SolutionValue, numeric_value


@pytest.mark.parametrize("final, value", [("0.8", 0.8), ("1", 1.0), ("0", 0.0), (".25", 0.25), ("80%", 0.8),
                                          ("8/10", 0.8), ("75/100", 0.75), ("1.5", None), ("-0.1", None),
                                          ("good", None), ("", None)])
def test_numeric_value(final, value):
    got = numeric_value(Evaluation("", final))
    assert got == (pytest.approx(value) if value is not None else None)


def test_failed_evaluation_has_no_number():
    assert numeric_value(Evaluation("", FAILED, "failed")) is None


def test_solution_value_asks_the_reasoning_prompt():
    b = ScriptedBackend(lambda p, i: 'adds up", "final_evaluation": 0.9}\n')
    ev = SolutionValue(JsonCaller(b)).evaluate("What is 2 + 3?", ["2 + 3 = 5.", "Final Answer: 5"])
    assert (ev.thought, ev.final, ev.source) == ("adds up", "0.9", "model")
    prompt = b.requests[0].prompt
    assert prompt.startswith("Judge a partial solution")
    assert prompt.endswith('Question: What is 2 + 3?\nSolution so far:\n2 + 3 = 5.\nFinal Answer: 5\n{"thought": "')
    empty = ScriptedBackend(lambda p, i: 'nothing yet", "final_evaluation": 0.5}\n')
    SolutionValue(JsonCaller(empty)).evaluate("What is 2 + 3?", [])
    assert "Solution so far:\n(nothing yet)\n" in empty.requests[0].prompt


def test_unparsed_answer_is_a_failed_evaluation():
    b = ScriptedBackend(lambda p, i: "no json here\n")
    ev = SolutionValue(JsonCaller(b, retries=0)).evaluate("What is 2 + 3?", ["2 + 3 = 6."])
    assert ev.source == "failed" and numeric_value(ev) is None
