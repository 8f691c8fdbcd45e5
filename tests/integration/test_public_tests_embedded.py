"""public-tests on the real embedded model: sampled programs run against the MBPP assert the
prompt shows, in the real sandbox; the hidden tests only grade afterwards."""

from __future__ import annotations

import pytest

from nlrl.bench.datasets import load_dataset
from nlrl.strategies import Budget, get_strategy
from nlrl.tasks.task import Task
from nlrl.verifiers.code import CodeVerifier

pytestmark = pytest.mark.integration


def test_public_tests_end_to_end(embedded):
    rec = load_dataset("mbpp")[0]
    task = Task.build(rec.prompt, domain="coding")
    assert task.reference is None
    res = get_strategy("public-tests", timeout_s=3.0)(task, embedded, budget=Budget(n=2, max_tokens=48, seed=3))
    samples = [e for e in res.trace if e.kind == "sample"]
    (shown,) = [e for e in res.trace if e.kind == "public_tests"]
    runs = [e for e in res.trace if e.kind == "public_test_run"]
    assert len(samples) == 2 and res.usage.completion_tokens <= 96
    assert shown.text == "assert" and shown.data["counted"] == 1
    assert [t["source"] for t in shown.data["tests"]] == [rec.reference["test_list"][0]]
    assert len(runs) == 2
    for r in runs:  # every program really ran, isolated, against the one visible assert
        assert r.data["isolation"] in ("namespaces", "bwrap", "userns")
        assert r.data["status"] in ("passed", "failed", "timeout") and len(r.data["passed"]) == 1
    passed = [i for i, r in enumerate(runs) if r.data["score"] == 1]
    if passed:
        assert res.extra["over"] == "passing" and res.output in {samples[i].text for i in passed}
        # a program that passes the shown assert passes it under the grader too
        verdict = CodeVerifier(timeout_s=5.0).check(res.output, {"test_list": rec.reference["test_list"][:1]})
        assert verdict.correct
    else:
        assert res.extra["over"] == "all" and res.extra["fallback"] == "no program passed a public test"
    assert res.output in {s.text for s in samples}
