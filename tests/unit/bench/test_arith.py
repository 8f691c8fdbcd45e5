"""The graded arithmetic benchmark: deterministic, disjoint splits, graded by value, --level."""

from __future__ import annotations

import ast
import json
import operator
import re

import pytest
from typer.testing import CliRunner

from nlrl import ConfigError, DatasetError, ScriptedBackend
from nlrl.bench import BenchRunner, load_dataset
from nlrl.bench.arith import KINDS, LEVEL_KINDS, LEVELS, SPLITS, generate, level_records, split_of
from nlrl.bench.datasets import dataset_names
from nlrl.bench.runner import select_level
from nlrl.cli import app
from nlrl.verifiers import get_verifier

_OPS = {ast.Add: operator.add, ast.Mult: operator.mul}


def _value(expr: str) -> int:
    def ev(node: ast.AST) -> int:
        if isinstance(node, ast.BinOp):
            return _OPS[type(node.op)](ev(node.left), ev(node.right))
        assert isinstance(node, ast.Constant)
        return node.value
    return ev(ast.parse(expr, mode="eval").body)


def test_deterministic_and_distinct_per_seed():
    a, b = generate("test", per_level=20), generate("test", per_level=20)
    assert [r.to_dict() for r in a] == [r.to_dict() for r in b] and a.digest() == b.digest()
    other = generate("test", per_level=20, seed=1)
    assert other.digest() != a.digest()
    assert len({r.prompt for r in a}) == len(a) == 20 * len(LEVELS)


def test_splits_never_share_a_question_whatever_the_seeds():
    prompts = {s: {r.prompt for seed in (0, 1, 2) for r in generate(s, per_level=40, seed=seed)} for s in SPLITS}
    assert not prompts["train"] & prompts["dev"]
    assert not prompts["train"] & prompts["test"]
    assert not prompts["dev"] & prompts["test"]
    assert all(split_of(p) == s for s, ps in prompts.items() for p in ps)


def test_levels_are_what_they_say_and_references_are_right():
    ds = generate("dev", per_level=30)
    for r in ds:
        level = r.metadata["level"]
        assert r.id.startswith(f"L{level}-") and r.checker == "math" and r.domain == "math"
        assert r.metadata["kind"] == LEVEL_KINDS[level]
        nums = [int(x) for x in re.findall(r"\d+", r.prompt)]
        ref = int(r.reference)
        if level == 1:
            a, b = nums
            assert a < 10 and b < 10 and ref == a + b
        elif level in (2, 3):
            a, b = nums
            assert 10 <= a < 100 and 1 <= b < 10 and ref == a + b
            assert (a % 10 + b >= 10) == (level == 2)  # level 2 carries, level 3 never does
        elif level == 4:
            a, b = nums
            assert 10 <= a < 100 and 10 <= b < 100 and ref == a + b
        elif level == 5:
            a, b = nums
            assert a < 10 <= b < 100 and ref == a * b
        else:
            a, b, c = nums
            if "buys" in r.prompt:
                assert ref == _value(f"{a} + {b} * {c}")
            elif "gave away" in r.prompt:
                assert ref == a - b + c
            else:  # "b boxes with c in each box; gives away a"
                assert ref == a * b - c  # "has a boxes with b in each box. gives away c"
            assert ref >= 0


def test_the_other_kinds_generate_checked_problems():
    import random

    rng = random.Random(0)
    for _ in range(50):
        q, ans = KINDS["three-step"](rng)
        nums = [int(x) for x in re.findall(r"\d+", q)]
        if "change" in q:
            p, m, k, bill = nums
            assert ans == bill - p * k - m >= 0
        else:
            b, a, d, c = nums
            assert ans == _value(f"{a} * {b} + {c} * {d}")
        q, ans = KINDS["sum-3+3"](rng)
        a, b = (int(x) for x in re.findall(r"\d+", q))
        assert 100 <= a < 1000 and ans == a + b


def test_graded_by_value_with_the_math_verifier():
    r = generate("test", per_level=1, levels=(4,))[0]
    check = get_verifier("math").check
    assert check(f"Final Answer: {r.reference}.0", r.reference).correct
    assert not check(f"Final Answer: {int(r.reference) + 1}", r.reference).correct


def test_registered_as_builtins():
    assert {"arith", "arith-dev", "arith-train"} <= set(dataset_names())
    ds = load_dataset("arith")
    assert ds.name == "arith" and len(ds) == 600
    assert {r.metadata["split"] for r in ds} == {"test"}
    assert load_dataset("ARITH_dev").name == "arith-dev"
    assert load_dataset("arith-test").digest() == ds.digest()


def test_bad_arguments():
    with pytest.raises(ConfigError, match="split"):
        level_records("val", 1, 3)
    with pytest.raises(ConfigError, match="level"):
        level_records("test", 9, 3)
    with pytest.raises(DatasetError, match="distinct"):
        level_records("test", 1, 10_000)


def test_select_level():
    ds = load_dataset("arith")
    assert {r.metadata["level"] for r in select_level(ds, "3")} == {3}
    assert len(select_level(ds, 3)) == 100
    with pytest.raises(ConfigError, match="no level 9; its levels are 1, 2, 3, 4, 5, 6"):
        select_level(ds, 9)
    with pytest.raises(ConfigError, match="no difficulty levels"):
        select_level(load_dataset("gsm8k"), 1)


def test_runner_level_filters_and_reports_it(tmp_path):
    backend = ScriptedBackend(lambda prompt, i: "Final Answer: 0\n")
    runner = BenchRunner(backend, strategy="cot", max_tokens=8, plots=False, progress=False)
    summary = runner.run(load_dataset("arith"), tmp_path / "run", level=2, limit=3)
    rows = [json.loads(x) for x in (tmp_path / "run" / "results.jsonl").read_text().splitlines()]
    assert [r["id"] for r in rows] == ["L2-0", "L2-1", "L2-2"]
    assert summary["level"] == 2 and summary["n"] == 3
    assert list(summary["breakdown"]["level"]) == ["2"]


def test_cli_level(tmp_path):
    script = tmp_path / "s.json"
    script.write_text(json.dumps(["Final Answer: 3\n"] * 50))
    res = CliRunner().invoke(app, ["bench", "--dataset", "arith", "--level", "1", "--limit", "4", "--out",
                                   str(tmp_path / "r"), "--backend", "scripted", "--model", str(script),
                                   "--no-plots", "-q", "--json", "--run-dir", str(tmp_path / "rd")])
    assert res.exit_code == 0, res.output
    summary = json.loads(res.stdout.strip().splitlines()[-1])
    assert summary["n"] == 4 and summary["level"] == "1"
    bad = CliRunner().invoke(app, ["bench", "--dataset", "gsm8k", "--level", "1", "--out", str(tmp_path / "g"),
                                   "--backend", "scripted", "--model", str(script), "--run-dir", str(tmp_path / "rd")])
    assert bad.exit_code == 1 and "no difficulty levels" in bad.output


def test_levels_match_the_recorded_calibration():
    from pathlib import Path

    path = Path(__file__).resolve().parents[3] / "benchmarks" / "results" / "arith_calibration.json"
    cal = json.loads(path.read_text())
    assert {lv["level"]: lv["kind"] for lv in cal["levels"]} == LEVEL_KINDS
    accs = [lv["accuracy"] for lv in cal["levels"]]
    assert accs == sorted(accs, reverse=True) and cal["levels_in_order_of_accuracy"]
    assert accs[-1] < 0.05
