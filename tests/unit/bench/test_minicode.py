"""The graded coding benchmark: deterministic, disjoint splits, references that pass their hidden
and shown tests in the sandbox, only the shown tests visible to public-test filtering, --level."""

from __future__ import annotations

import doctest
import json

import pytest
from typer.testing import CliRunner

from nlrl import ConfigError, DatasetError, ScriptedBackend
from nlrl.bench import BenchRunner, load_dataset
from nlrl.bench.arith import SPLITS, split_of
from nlrl.bench.datasets import dataset_names
from nlrl.bench import minicode
from nlrl.bench.minicode import KINDS, LEVEL_KINDS, LEVELS, generate, kind_records, level_records
from nlrl.cli import app
from nlrl.verifiers.code import CodeVerifier
from nlrl.verifiers.public_tests import parse_public_tests, run_public_tests


def _fenced(code: str) -> str:
    return f"```python\n{code}```\n"


def test_deterministic_and_distinct_per_seed():
    a, b = generate("test", per_level=15), generate("test", per_level=15)
    assert [r.to_dict() for r in a] == [r.to_dict() for r in b] and a.digest() == b.digest()
    assert generate("test", per_level=15, seed=1).digest() != a.digest()
    assert len({r.prompt for r in a}) == len(a) == 15 * len(LEVELS)


def test_docstring_example():
    assert doctest.testmod(minicode).failed == 0


def test_splits_never_share_a_task_whatever_the_seeds():
    prompts = {s: {r.prompt for seed in (0, 1) for r in generate(s, per_level=30, seed=seed)} for s in SPLITS}
    assert not prompts["train"] & prompts["dev"]
    assert not prompts["train"] & prompts["test"]
    assert not prompts["dev"] & prompts["test"]
    assert all(split_of(p) == s for s, ps in prompts.items() for p in ps)


def test_every_kind_is_in_one_level_and_records_say_theirs():
    placed = [k for kinds in LEVEL_KINDS.values() for k in kinds]
    assert sorted(placed) == sorted(KINDS) and len(placed) == len(set(placed))
    for r in generate("dev", per_level=10):
        level = r.metadata["level"]
        assert r.id.startswith(f"L{level}-") and r.checker == "code" and r.domain == "coding"
        assert r.metadata["kind"] in LEVEL_KINDS[level]


def test_prompt_shows_two_tests_and_hides_four_on_other_inputs():
    for r in generate("test", per_level=5):
        shown, hidden = r.metadata["public_tests"], r.reference["test_list"]
        assert len(shown) == 2 and len(hidden) == 4
        assert all(t in r.prompt for t in shown) and not any(t in r.prompt for t in hidden)
        calls = [t.split(" == ")[0] for t in shown + hidden]
        assert len(set(calls)) == 6  # six distinct inputs
        parsed = parse_public_tests(r.prompt)
        assert parsed.style == "assert" and parsed.entry_point == r.metadata["entry_point"]
        assert [t.source for t in parsed.tests] == shown


def test_reference_solutions_pass_hidden_and_shown_tests_in_the_sandbox():
    # two tasks of every kind: the solution source, graded as a model's fenced output
    recs = [r for k in KINDS for r in kind_records("dev", k, 2)]
    verifier = CodeVerifier(timeout_s=10.0)
    verdicts = verifier.check_many([(_fenced(r.metadata["solution"]), r.reference) for r in recs])
    assert [v.correct for v in verdicts] == [True] * len(recs), [
        (r.metadata["kind"], v.feedback) for r, v in zip(recs, verdicts) if not v.correct]
    shown = verifier.check_many([(_fenced(r.metadata["solution"]), {"test_list": r.metadata["public_tests"]})
                                 for r in recs])
    assert all(v.correct for v in shown)


def test_wrong_programs_fail_the_hidden_tests():
    r = kind_records("test", "list-reverse", 1)[0]
    entry = r.metadata["entry_point"]
    verifier = CodeVerifier(timeout_s=10.0)
    wrong = [_fenced(f"def {entry}(xs):\n    return xs\n"), "True.", _fenced(f"def {entry}(xs):\n    return sorted(xs)\n")]
    assert [v.correct for v in verifier.check_many([(w, r.reference) for w in wrong])] == [False, False, False]


def test_public_test_run_scores_the_shown_tests_only():
    r = kind_records("test", "add-const", 1)[0]
    entry = r.metadata["entry_point"]
    tests = parse_public_tests(r.prompt)
    # a program that hard-codes the two shown examples passes them and fails the hidden ones
    shown = [t.split("assert ")[1] for t in r.metadata["public_tests"]]
    cases = "\n".join(f"    if x == {s.split('(')[1].split(')')[0]}:\n        return {s.split(' == ')[1]}" for s in shown)
    overfit = _fenced(f"def {entry}(x):\n{cases}\n    return 0\n")
    runs = run_public_tests([overfit, _fenced(r.metadata["solution"]), "no code"], tests)
    assert [run.score for run in runs] == [2, 2, 0]
    assert not CodeVerifier(timeout_s=10.0).check(overfit, r.reference).correct


def test_registered_as_builtins_with_levels():
    assert {"minicode", "minicode-dev", "minicode-train"} <= set(dataset_names())
    ds = load_dataset("minicode")
    assert ds.name == "minicode" and len(ds) == 600
    assert {r.metadata["split"] for r in ds} == {"test"}
    assert load_dataset("MINICODE_dev").name == "minicode-dev"
    assert load_dataset("minicode-test").digest() == ds.digest()


def test_bad_arguments():
    with pytest.raises(ConfigError, match="split"):
        level_records("val", 1, 3)
    with pytest.raises(ConfigError, match="level"):
        level_records("test", 9, 3)
    with pytest.raises(ConfigError, match="kind"):
        kind_records("test", "sort-a-graph", 3)
    with pytest.raises(ConfigError, match="per_level"):
        generate("test", per_level=0)
    with pytest.raises(DatasetError, match="distinct"):
        kind_records("test", "list-sum", 50_000)


def test_runner_grades_a_level_through_the_sandbox(tmp_path):
    ds = load_dataset("minicode")
    by_prompt = {r.prompt: r.metadata["solution"] for r in ds}

    def answer(prompt: str, i: int) -> str:
        task = next(p for p in by_prompt if prompt.rstrip().endswith(p + "\nAnswer:"))
        return "Easy.\n" + _fenced(by_prompt[task])
    runner = BenchRunner(ScriptedBackend(answer), strategy="cot", max_tokens=64, plots=False, progress=False)
    summary = runner.run(ds, tmp_path / "run", level=3, limit=3)
    rows = [json.loads(x) for x in (tmp_path / "run" / "results.jsonl").read_text().splitlines()]
    assert [r["id"] for r in rows] == ["L3-0", "L3-1", "L3-2"] and all(r["correct"] for r in rows)
    assert summary["level"] == 3 and summary["n"] == 3 and summary["accuracy"] == 1.0


def test_cli_level(tmp_path):
    script = tmp_path / "s.json"
    script.write_text(json.dumps(["```python\ndef f(x):\n    return x\n```\n"] * 10))
    res = CliRunner().invoke(app, ["bench", "--dataset", "minicode-dev", "--level", "6", "--limit", "2", "--out",
                                   str(tmp_path / "r"), "--backend", "scripted", "--model", str(script),
                                   "--no-plots", "-q", "--json", "--run-dir", str(tmp_path / "rd")])
    assert res.exit_code == 0, res.output
    summary = json.loads(res.stdout.strip().splitlines()[-1])
    assert summary["n"] == 2 and summary["level"] == "6" and summary["accuracy"] == 0.0


def test_levels_match_the_recorded_calibration():
    from pathlib import Path

    path = Path(__file__).resolve().parents[3] / "benchmarks" / "results" / "minicode_calibration.json"
    if not path.exists():
        pytest.skip("benchmarks/results/minicode_calibration.json is not in this checkout")
    cal = json.loads(path.read_text())
    assert {int(lv): tuple(v["kinds"]) for lv, v in cal["levels"].items()} == LEVEL_KINDS
    greedy = [cal["levels"][str(lv)]["greedy"]["accuracy"] for lv in LEVELS]
    assert greedy == sorted(greedy, reverse=True) and greedy[0] >= 0.5
    # from some success to hopeless: the top two levels' sampled programs are (almost) never right
    assert all(cal["levels"][str(lv)]["sampled"]["accuracy"] < 0.05 for lv in (5, 6))
