import json

from helpers.cli import one_line_error
from typer.testing import CliRunner

from nlrl.cli import app

runner = CliRunner()


def test_prints_the_domain():
    for prompt, domain in [("What is 17 * 23?", "math"), ("Who wrote Hamlet?", "commonsense"),
                           ("Write a Python function that reverses a string", "coding")]:
        r = runner.invoke(app, ["classify", prompt])
        assert r.exit_code == 0, r.output
        assert r.stdout == domain + "\n"


def test_json_and_stdin():
    r = runner.invoke(app, ["classify", "-", "--json"], input="Is the sun a star?")
    assert r.exit_code == 0, r.output
    d = json.loads(r.stdout)
    assert d["domain"] == "commonsense" and d["method"] == "model-free"
    assert set(d["scores"]) == {"math", "coding", "commonsense"} and 0 < d["confidence"] <= 1


def test_file_adds_domain_to_each_object(tmp_path):
    src = tmp_path / "in.jsonl"
    rows = [{"id": 1, "prompt": "What is 17 * 23?"}, {"prompt": "Who wrote Hamlet?", "extra": [1, "é"]},
            {"prompt": "def add(a, b):", "domain": "stale"}]
    src.write_text("\n".join(json.dumps(r) for r in rows[:2]) + "\n\n" + json.dumps(rows[2]) + "\n",
                   encoding="utf-8")
    r = runner.invoke(app, ["classify", "--file", str(src)])
    assert r.exit_code == 0, r.output
    out = [json.loads(line) for line in r.stdout.splitlines()]
    assert out == [{**rows[0], "domain": "math"}, {**rows[1], "domain": "commonsense"},
                   {"prompt": "def add(a, b):", "domain": "coding"}]
    r = runner.invoke(app, ["classify", "--file", "-"], input=src.read_text())
    assert r.exit_code == 0 and len(r.stdout.splitlines()) == 3


def test_bad_line_names_its_number_and_keeps_earlier_output(tmp_path):
    src = tmp_path / "in.jsonl"
    good = json.dumps({"prompt": "Who wrote Hamlet?"})
    for bad, needle in [('{"prompt": "x"', "not valid JSON"), ('{"text": "x"}', "no 'prompt' field"),
                        ('{"prompt": "  "}', "prompt is empty"), ('["prompt"]', "expected a JSON object"),
                        ('{"prompt": 3}', "must be a string")]:
        src.write_text(f"{good}\n{good}\n{bad}\n{good}\n")
        r = runner.invoke(app, ["classify", "--file", str(src)])
        one_line_error(r, "line 3", needle)
        assert r.stdout.splitlines() == [json.dumps({"prompt": "Who wrote Hamlet?", "domain": "commonsense"})] * 2
    src.write_bytes(good.encode() + b"\n\xff\xfe\n")
    one_line_error(runner.invoke(app, ["classify", "--file", str(src)]), "line 2", "UTF-8")


def test_bad_arguments_are_one_line_errors(tmp_path):
    one_line_error(runner.invoke(app, ["classify", ""]), "empty")
    one_line_error(runner.invoke(app, ["classify", "   \n"]), "empty")
    one_line_error(runner.invoke(app, ["classify"]), "PROMPT")
    one_line_error(runner.invoke(app, ["classify", "q", "--file", "x.jsonl"]), "not both")
    one_line_error(runner.invoke(app, ["classify", "--file", str(tmp_path / "missing.jsonl")]), "cannot read")


def test_model_fallback_through_the_backend_options(tmp_path):
    script = tmp_path / "script.json"
    script.write_text(json.dumps(["coding\n"]))
    r = runner.invoke(app, ["classify", "Who wrote Hamlet?", "--threshold", "1.0", "--json",
                            "--backend", "scripted", "--model", str(script), "--run-dir", str(tmp_path)])
    assert r.exit_code == 0, r.output
    d = json.loads(r.stdout)
    assert (d["domain"], d["method"]) == ("coding", "model")
