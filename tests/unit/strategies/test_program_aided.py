"""program-aided: programs sampled from the scripted backend really run in the sandbox."""

from __future__ import annotations

from pathlib import Path

import pytest

from nlrl import ConfigError, ScriptedBackend, VerifierError
from nlrl.strategies import Budget, get_strategy
from nlrl.strategies.program_aided import ProgramAided, answer_of, program_of
from nlrl.strategies.sampling import default_temperature
from nlrl.verifiers import sandbox as sb

from helpers.sandbox import needs_sandbox
from helpers.strategies import math_task


FAST = {"timeout_s": 2.0}


def events(res, kind):
    return [e for e in res.trace if e.kind == kind]


@needs_sandbox
def test_a_correct_program_is_run_and_its_print_is_the_answer():
    backend = ScriptedBackend(["a = 3 * 4\nanswer = a + 2\nprint(answer)\n```\n\nQuestion: more"])
    res = get_strategy("program-aided", **FAST)(math_task("What is 3 * 4 + 2?"), backend, budget=Budget())
    assert res.answer == "14"
    assert res.output.endswith("Output: 14\nFinal Answer: 14\n")
    (prog,) = events(res, "program")
    assert prog.text == "a = 3 * 4\nanswer = a + 2\nprint(answer)\n"
    assert prog.data["status"] == "passed" and prog.data["stdout"] == "14\n" and prog.data["result"] == "14"
    assert prog.data["isolation"] == sb.isolation()
    # the sample's answer is what its program printed, not a number read out of the code
    assert events(res, "sample")[0].data["answer"] == "14"
    # one greedy sample of the few-shot program prompt, stopped at the closing fence
    (req,) = backend.requests
    assert req.params.temperature == 0.0 and req.params.n == 1 and "```" in req.params.stop
    assert req.prompt.endswith("Question: What is 3 * 4 + 2?\n```python")
    assert "print(answer)" in req.prompt


@needs_sandbox
def test_crashing_silent_and_looping_programs_abstain():
    backend = ScriptedBackend(["x = 1 / 0\nprint(x)\n", "answer = 5\n", "while True:\n    pass\n",
                               "print(7)\nraise SystemExit(3)\n"])
    res = ProgramAided(**FAST)(math_task(), backend, budget=Budget(n=4, seed=2))
    assert res.answer is None
    statuses = [e.data["status"] for e in events(res, "program")]
    assert statuses == ["failed", "passed", "timeout", "failed"]
    assert "ZeroDivisionError" in events(res, "program")[0].data["stderr"]
    assert all(e.data["result"] is None for e in events(res, "program"))
    (vote,) = events(res, "vote")
    assert vote.data["abstained"] == 4 and vote.data["groups"] == []
    assert "No answer" in res.output and "Final Answer" not in res.output
    assert res.extra["executed"] == 1


@needs_sandbox
def test_hostile_programs_do_not_escape_and_abstain(tmp_path: Path):
    marker = tmp_path / "escaped"
    hostile = [
        f"open({str(marker)!r}, 'w').write('x')\nprint(1)\n",            # write outside the jail
        "import socket\nsocket.create_connection(('127.0.0.1', 22))\nprint(2)\n",  # network
        "import os\nprint(os.environ.get('NLRL_SECRET_CANARY', 'none'))\nraise SystemExit(1)\n",
    ]
    import os

    os.environ["NLRL_SECRET_CANARY"] = "leaked"
    try:
        res = ProgramAided(**FAST)(math_task(), ScriptedBackend(hostile), budget=Budget(n=3, seed=0))
    finally:
        del os.environ["NLRL_SECRET_CANARY"]
    assert not marker.exists()
    assert res.answer is None
    progs = events(res, "program")
    assert [p.data["status"] for p in progs] == ["failed", "failed", "failed"]
    assert "leaked" not in progs[2].data["stdout"]  # the environment is scrubbed


@needs_sandbox
def test_vote_over_executed_results_with_equivalent_answers():
    outs = ["print(0.5)\n", "print(3)\n", "print(1/2)\n", "print(3)\n", "print('1/2')\n", "1/0\n"]
    res = ProgramAided(**FAST)(math_task(), ScriptedBackend(outs), budget=Budget(n=6, seed=1))
    (vote,) = events(res, "vote")
    assert res.answer == "0.5"
    assert vote.data["groups"][0]["count"] == 3 and vote.data["groups"][0]["members"] == [0, 2, 4]
    assert vote.data["abstained"] == 1
    assert res.extra == {"samples": 6, "executed": 5, "agreement": 0.5}
    assert res.output.startswith("```python\nprint(0.5)\n```") and res.output.endswith("Final Answer: 0.5\n")


@needs_sandbox
def test_sampling_defaults_and_budget_temperature():
    backend = ScriptedBackend(["print(1)\n"], cycle=True)
    ProgramAided(**FAST)(math_task(), backend, budget=Budget(n=2, seed=5))
    ProgramAided(**FAST)(math_task(), backend, budget=Budget(n=2, seed=5, temperature=0.3))
    t = default_temperature("math")
    assert [(r.params.n, r.params.temperature, r.params.seed) for r in backend.requests] == [(2, t, 5), (2, 0.3, 5)]


@needs_sandbox
def test_token_cap_is_never_exceeded():
    backend = ScriptedBackend(["x = 1\n" * 40], cycle=True)
    res = ProgramAided(n=16, **FAST)(math_task(), backend,
                                     budget=Budget(n=16, max_tokens=8, max_total_tokens=30))
    assert res.usage.completion_tokens <= 30
    assert res.extra["samples"] == 3  # 30 tokens pay for three 8-token programs, no more
    # each program was cut at 8 tokens mid-statement: it fails to compile and abstains
    assert all(e.data["status"] == "failed" and e.data["result"] is None for e in events(res, "program"))
    assert res.usage.completion_tokens == sum(e.data["tokens"] for e in events(res, "sample"))


def test_the_sandbox_failing_closed_is_a_clear_error(monkeypatch):
    def refuse() -> str:
        raise VerifierError("no isolating sandbox mode: bwrap (bubblewrap) is not installed")

    monkeypatch.setattr(sb, "isolation", refuse)
    with pytest.raises(VerifierError, match="bubblewrap"):
        ProgramAided()(math_task(), ScriptedBackend(["print(1)\n"]), budget=Budget())


def test_reading_programs_and_answers():
    assert program_of("```python\nprint(1)\n```\nmore") == "print(1)\n"
    assert program_of("print(2)") == "print(2)\n"

    def ran(stdout: str, status: str = "passed") -> sb.RunResult:
        return sb.RunResult(status, 0, stdout, "", 0.1, "namespaces")  # type: ignore[arg-type]

    assert answer_of(ran("working\n15.0\n\n")) == "15"
    assert answer_of(ran("1,234\n")) == "1234"
    assert answer_of(ran("0.25\n")) == "0.25"
    assert answer_of(ran("x is 3\n")) == "x is 3"
    assert answer_of(ran("")) is None
    assert answer_of(ran("15\n", "timeout")) is None
    assert answer_of(ran("inf\n")) == "inf"


def test_bad_options_are_config_errors():
    with pytest.raises(ConfigError, match="n must be"):
        ProgramAided(n=0)
    with pytest.raises(ConfigError, match="timeout_s"):
        ProgramAided(timeout_s=-1)
