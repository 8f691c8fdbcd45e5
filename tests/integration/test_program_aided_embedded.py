"""program-aided on the real embedded model: real programs, run in the real sandbox, voted on."""

from __future__ import annotations

import pytest

from nlrl.strategies import Budget, get_strategy
from nlrl.strategies.program_aided import answer_of
from nlrl.tasks.task import Task
from nlrl.verifiers import get_verifier
from nlrl.verifiers.sandbox import RunResult

pytestmark = pytest.mark.integration


def test_program_aided_end_to_end(embedded):
    task = Task.build("What is 7 + 5?", domain="math")
    res = get_strategy("program-aided", timeout_s=3.0)(task, embedded,
                                                       budget=Budget(n=2, max_tokens=32, seed=4))
    samples = [e for e in res.trace if e.kind == "sample"]
    programs = [e for e in res.trace if e.kind == "program"]
    (vote,) = [e for e in res.trace if e.kind == "vote"]
    assert len(samples) == len(programs) == 2
    assert res.usage.completion_tokens == sum(e.data["tokens"] for e in samples) <= 64
    for p in programs:  # every program really ran, isolated, and its printed line is its result
        assert p.data["isolation"] in ("namespaces", "bwrap", "userns")
        assert p.data["status"] in ("passed", "failed", "timeout")
        ran = RunResult(p.data["status"], 0, p.data["stdout"], "", 0.0, p.data["isolation"])
        assert p.data["result"] == answer_of(ran)  # the last printed line, only when it passed
    assert sum(g["count"] for g in vote.data["groups"]) + vote.data["abstained"] == 2
    if res.answer is not None:
        assert res.output.endswith(f"Final Answer: {res.answer}\n")
        verdict = get_verifier("math").check(res.output, "12")
        assert verdict.correct == (float(res.answer) == 12.0)
