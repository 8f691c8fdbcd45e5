import json

import pytest
from typer.testing import CliRunner

from nlrl.cli import app

runner = CliRunner()


def _write(path, lines):
    path.write_text("\n".join(x if isinstance(x, str) else json.dumps(x) for x in lines) + "\n", encoding="utf-8")
    return path


def _run(*args):
    result = runner.invoke(app, ["grade", *map(str, args)])
    return result, json.loads(result.stdout.strip().splitlines()[-1]) if result.exit_code == 0 else None


def test_grade_with_dataset_ids(tmp_path):
    preds = _write(tmp_path / "p.jsonl", [
        {"id": "test/precalculus/807.json", "output": "... \\boxed{(3, \\frac{\\pi}{2})}"},
        {"id": "test/precalculus/807.json", "output": "Final Answer: (3, \\pi)"},
    ])
    out = tmp_path / "v.jsonl"
    result, summary = _run(preds, "--dataset", "MATH-500", "--out", out)
    assert result.exit_code == 0, result.output
    assert summary == {"n": 2, "correct": 1, "accuracy": 0.5, "errors": 0}
    verdicts = [json.loads(x) for x in out.read_text().splitlines()]
    assert [v["correct"] for v in verdicts] == [True, False] and verdicts[0]["line"] == 1
    assert "detail" in verdicts[1]


def test_grade_code_and_record_numbers(tmp_path):
    preds = _write(tmp_path / "p.jsonl", [
        {"id": "HumanEval/0", "output": "    return any(abs(a - b) < threshold for i, a in enumerate(numbers)"
                                        " for b in numbers[i + 1:])\n"},
        {"id": "HumanEval/0", "output": "    return None\n"},
    ])
    _, summary = _run(preds, "--dataset", "humaneval")
    assert summary["correct"] == 1 and summary["n"] == 2
    gsm = _write(tmp_path / "g.jsonl", [{"id": 0, "output": "so she makes 18 dollars.\n#### 18"}])
    assert _run(gsm, "--dataset", "gsm8k")[1]["correct"] == 1


def test_grade_inline_references_and_bad_lines(tmp_path):
    preds = _write(tmp_path / "p.jsonl", [
        {"output": "Final Answer: 0.5", "reference": "1/2", "checker": "math"},
        "{not json",
        {"reference": "x", "checker": "qa"},
        {"output": "yes", "reference": True, "checker": "yesno"},
        {"output": "x", "reference": "x", "checker": "telepathy"},
        {"id": "nope", "output": "1"},
        "",
        [1, 2],
        {"output": "Final Answer: B", "reference": 1, "checker": "choice"},
        {"output": "def f():\n    return 1\n", "reference": {"bad": 1}, "checker": "code"},
    ])
    out = tmp_path / "v.jsonl"
    result, summary = _run(preds, "--out", out)
    assert result.exit_code == 0
    assert summary == {"n": 9, "correct": 3, "accuracy": round(3 / 9, 6), "errors": 6}
    err = result.stderr
    assert f"{preds}:2: invalid JSON" in err
    assert f"{preds}:3: missing 'output'" in err
    assert "unknown checker 'telepathy'; known: choice, code, collie, math, qa, yesno" in err
    assert f"{preds}:6: has 'id' but no --dataset" in err
    assert f"{preds}:8: expected a JSON object" in err
    assert f"{preds}:10: code reference needs" in err
    lines = [json.loads(x) for x in out.read_text().splitlines()]
    assert [x["line"] for x in lines] == [1, 2, 3, 4, 5, 6, 8, 9, 10]


def test_grade_unknown_dataset_and_missing_file(tmp_path):
    from nlrl.cli import main

    preds = _write(tmp_path / "p.jsonl", [{"id": 0, "output": "1"}])
    with pytest.raises(SystemExit) as exc:
        main(["grade", str(preds), "--dataset", "imagenet"])
    assert exc.value.code == 1
    with pytest.raises(SystemExit) as exc:
        main(["grade", str(tmp_path / "missing.jsonl")])
    assert exc.value.code == 1


def test_grade_unknown_dataset_lists_known(tmp_path, capsys):
    from nlrl.cli import main

    preds = _write(tmp_path / "p.jsonl", [{"id": 0, "output": "1"}])
    with pytest.raises(SystemExit):
        main(["grade", str(preds), "--dataset", "imagenet"])
    err = capsys.readouterr().err.strip()
    assert err == ("error: unknown dataset 'imagenet'; known: aime24, collie, commonsenseqa, gsm8k, hotpotqa, "
                   "hotpotqa_distractor, humaneval, math, math500, mbpp, strategyqa")
