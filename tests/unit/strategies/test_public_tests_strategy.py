"""public-tests: sampled programs are filtered by the prompt's examples in the real sandbox."""

from __future__ import annotations

import ast
from dataclasses import replace

import pytest

from nlrl import ConfigError, ScriptedBackend
from nlrl.bench.datasets import load_dataset
from nlrl.strategies import Budget, get_strategy
from nlrl.strategies import public_tests as pt
from nlrl.tasks.task import Task

from helpers.sandbox import needs_sandbox
from helpers.strategies import TextReward


FAST = {"timeout_s": 10.0}  # generous: a loaded machine must not time a trivial program out
QUESTION = "Write a function to add one to a number.\nYour code should pass this test:\nassert inc(1) == 2"


def fence(body: str) -> str:
    return f"```python\n{body}```\n"


WRONG = fence("def inc(x):\n    return x\n")
RIGHT = fence("def inc(x):\n    return x + 1\n")
RIGHT_TOO = fence("def inc(x):  # the same program, written differently\n    return (x + 1)\n")
OTHER_RIGHT = fence("def inc(x):\n    return 1 + x\n")


def events(res, kind):
    return [e for e in res.trace if e.kind == kind]


def coding_task(q: str = QUESTION, **kw) -> Task:
    return Task.build(q, domain="coding", **kw)


@needs_sandbox
def test_the_vote_is_among_programs_that_pass_even_when_wrong_ones_are_the_majority():
    backend = ScriptedBackend([WRONG, WRONG, RIGHT, WRONG, RIGHT_TOO])
    res = get_strategy("public-tests", **FAST)(coding_task(), backend, budget=Budget(n=5, seed=0))
    assert "return x + 1" in res.answer and res.output == RIGHT
    assert res.extra["over"] == "passing" and res.extra["kept"] == 2 and res.extra["passed"] == 1
    (filt,) = events(res, "filter")
    assert filt.data["kept"] == [2, 4] and filt.data["all_passed"]
    (vote,) = events(res, "vote")
    assert vote.data["groups"][0]["members"] == [2, 4]  # one program by syntax tree, numbered as sampled
    assert [e.data["passed"] for e in events(res, "public_test_run")] == [[False], [False], [True], [False], [True]]
    # plain self-consistency on the same samples picks the wrong majority
    plain = get_strategy("self-consistency")(coding_task(), ScriptedBackend([WRONG, WRONG, RIGHT, WRONG, RIGHT_TOO]),
                                            budget=Budget(n=5, seed=0))
    assert "return x\n" in plain.answer


@needs_sandbox
def test_all_fail_falls_back_to_the_vote_over_all_and_says_so():
    backend = ScriptedBackend([WRONG, fence("def inc(x) return 2\n"), WRONG])
    res = pt.PublicTests(3, **FAST)(coding_task(), backend, budget=Budget(seed=0))
    (fb,) = events(res, "fallback")
    assert fb.data["reason"] == "no program passed a public test"
    assert res.extra["over"] == "all" and "return x\n" in res.answer


def test_no_public_test_falls_back_without_running_anything(monkeypatch):
    monkeypatch.setattr(pt, "run_public_tests", lambda *a, **k: pytest.fail("nothing to run"))
    backend = ScriptedBackend([WRONG, RIGHT, WRONG])
    res = pt.PublicTests(3)(coding_task("Write a function inc that adds one."), backend, budget=Budget(seed=0))
    assert events(res, "public_tests")[0].text == "none"
    assert res.extra["fallback"] == "the prompt shows no test" and "return x\n" in res.answer


@needs_sandbox
def test_a_tie_among_passers_is_broken_by_the_reward_then_the_earliest():
    a = fence("def inc(x):\n    return x + 1\n# score=0.2\n")
    b = fence("def inc(x):\n    return 1 + x\n# score=0.9\n")
    res = pt.PublicTests(2, **FAST)(coding_task(), ScriptedBackend([a, b]), budget=Budget(seed=0))
    assert res.extra["tied"] and res.output == a
    res = pt.PublicTests(2, **FAST)(coding_task(), ScriptedBackend([a, b]), reward=TextReward(),
                                    budget=Budget(seed=0))
    assert res.output == b


class _Hidden(dict):
    """A reference nobody may read: any access fails the test."""

    def _refuse(self, *a, **k):
        pytest.fail("the strategy read the task's reference tests")

    __getitem__ = get = keys = items = values = __iter__ = __contains__ = __len__ = _refuse


@needs_sandbox
def test_the_strategy_never_sees_or_runs_the_hidden_tests(monkeypatch):
    rec = load_dataset("mbpp")[0]
    hidden = rec.reference["test_list"][1:]
    assert hidden
    ran: list = []
    real = pt.run_public_tests

    def spy(outputs, tests, limits=None, **kw):
        ran.extend(tests.program(o) for o in outputs)
        return real(outputs, tests, limits, **kw)

    monkeypatch.setattr(pt, "run_public_tests", spy)
    task = replace(coding_task(rec.prompt), reference=_Hidden(rec.reference), checker="code")
    backend = ScriptedBackend([fence("def similar_elements(*a):\n    return None\n")] * 2)
    res = pt.PublicTests(2, **FAST)(task, backend, budget=Budget(seed=0))
    assert len(ran) == 2

    def canonical(line):  # as the judge's code writes an assert's condition
        return ast.unparse(ast.parse(line).body[0].test)

    for job in ran:
        assert canonical(rec.reference["test_list"][0]) in job.tests
        assert not any(canonical(h) in job.tests or h in job.program for h in hidden)
    assert res.extra["over"] == "all"  # the stub passes nothing


def test_bad_options_are_config_errors():
    with pytest.raises(ConfigError):
        pt.PublicTests(0)
    with pytest.raises(ConfigError):
        pt.PublicTests(timeout_s=-1)


def test_samples_use_the_task_prompt_at_the_coding_default_temperature(monkeypatch):
    from nlrl.strategies import sampling

    monkeypatch.setattr(pt, "run_public_tests", lambda outputs, tests, *a, **k: [])
    backend = ScriptedBackend([WRONG] * 3)
    task = coding_task("Write inc.")
    pt.PublicTests(3)(task, backend, budget=Budget(seed=0))
    (req,) = backend.requests
    assert req.prompt == task.prompt_text and req.params.n == 3
    assert req.params.temperature == sampling.DOMAIN_TEMPERATURES["coding"]
