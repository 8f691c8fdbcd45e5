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
    lines = result.stdout.strip().splitlines()
    return result, json.loads(lines[-1]) if lines and lines[-1].startswith("{") else None


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
    assert result.exit_code == 1  # scripts can tell that some lines were not graded
    assert summary == {"n": 9, "correct": 3, "accuracy": round(3 / 9, 6), "errors": 6}
    err = result.stderr
    assert err.splitlines()[-1] == "error: 6 of 9 lines could not be graded (--allow-errors to exit 0)"
    assert f"{preds}:2: invalid JSON" in err
    assert f"{preds}:3: missing 'output'" in err
    assert "unknown checker 'telepathy'; known: choice, code, collie, math, qa, stdio, yesno" in err
    assert f"{preds}:6: has 'id' but no --dataset" in err
    assert f"{preds}:8: expected a JSON object" in err
    assert f"{preds}:10: code reference needs" in err
    lines = [json.loads(x) for x in out.read_text().splitlines()]
    assert [x["line"] for x in lines] == [1, 2, 3, 4, 5, 6, 8, 9, 10]
    allowed, again = _run(preds, "--allow-errors")
    assert allowed.exit_code == 0 and again == summary and "lines could not be graded" not in allowed.stderr
    clean = _write(tmp_path / "clean.jsonl", [{"output": "Final Answer: 0.5", "reference": "1/2", "checker": "math"}])
    assert _run(clean)[0].exit_code == 0


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
    assert err == ("error: unknown dataset 'imagenet'; known: aime24, arith, arith-dev, arith-train, collie, commonsenseqa, gsm8k, hotpotqa, "
                   "hotpotqa-distractor, humaneval, math, math500, mbpp, minicode, minicode-dev, minicode-train, strategyqa, "
                   "strategyqa-train")


def test_grade_resolves_the_ids_of_every_checker(tmp_path):
    from nlrl.bench import BUILTIN, resolve_data_dir
    from nlrl.verifiers.collie import load_collie

    generate_integers = ("    lower, upper = max(2, min(a, b)), min(8, max(a, b))\n"
                         "    return [i for i in range(lower, upper + 1) if i % 2 == 0]\n")
    similar = "def similar_elements(a, b):\n    return tuple(set(a) & set(b))\n"
    cases = {  # dataset: [(id, output, correct)]
        "aime24": [(0, "Final Answer: 204", True), (0, "Final Answer: 205", False)],
        "humaneval": [("HumanEval/163", generate_integers, True)],
        "mbpp": [("2", similar, True), (2, "def similar_elements(a, b):\n    return ()\n", False)],
        "strategyqa": [(0, "Final Answer: no", True), (0, "Final Answer: yes", False)],
        # the record's context holds the choices: a choice's text is read as its letter
        "commonsenseqa": [(0, "Final Answer: A", True), (0, "Final Answer: bank", True),
                          (0, "Final Answer: library", False)],
        "collie": [(0, next(load_collie(resolve_data_dir() / BUILTIN["collie"].path))["example"], True)],
        "hotpotqa_distractor": [(0, "Final Answer: Gesellschaft mit beschränkter Haftung", True)],
    }
    for dataset, rows in cases.items():
        preds = _write(tmp_path / f"{dataset}.jsonl", [{"id": i, "output": o} for i, o, _ in rows])
        out = tmp_path / f"{dataset}.out.jsonl"
        result, summary = _run(preds, "--dataset", dataset, "--out", out)
        assert result.exit_code == 0 and summary["errors"] == 0, (dataset, result.output)
        assert [json.loads(x)["correct"] for x in out.read_text().splitlines()] == [c for *_, c in rows], dataset
    assert "chose B, the answer is A" in (tmp_path / "commonsenseqa.out.jsonl").read_text()


def test_grade_data_dir_and_broken_data(tmp_path, monkeypatch):
    data = tmp_path / "data"
    (data / "gsm8k").mkdir(parents=True)
    (data / "gsm8k" / "test.jsonl").write_text(json.dumps({"question": "q", "answer": "x\n#### 1,234"}) + "\n{bad\n")
    preds = _write(tmp_path / "p.jsonl", [{"id": 0, "output": "Final Answer: 1234"}])
    for how in (["--data-dir", str(data)], []):
        monkeypatch.setenv("NLRL_DATA_DIR", str(data if not how else tmp_path / "elsewhere"))
        result = runner.invoke(app, ["grade", str(preds), "--dataset", "gsm8k", *how])
        assert result.exit_code == 1 and "test.jsonl:2: not valid JSON" in result.stderr, how
    (data / "gsm8k" / "test.jsonl").write_text(json.dumps({"question": "q", "answer": "x\n#### 1,234"}) + "\n")
    assert _run(preds, "--dataset", "gsm8k")[1]["correct"] == 1
    assert _run(preds, "--dataset", "gsm8k", "--data-dir", data)[1]["correct"] == 1
    result = runner.invoke(app, ["grade", str(preds), "--dataset", "mbpp"])
    assert result.exit_code == 1 and "dataset file for 'mbpp' not found" in result.stderr
