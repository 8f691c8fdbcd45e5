import json

from typer.testing import CliRunner

from nlrl.cli import app

runner = CliRunner()


def script(tmp_path, *outputs):
    p = tmp_path / "script.json"
    p.write_text(json.dumps(list(outputs)))
    return str(p)


def test_solve_json(tmp_path):
    s = script(tmp_path, " 2 + 2 = 4.\nFinal Answer: 4\n")
    r = runner.invoke(app, ["solve", "What is 2 + 2?", "--json", "--backend", "scripted", "--model", s,
                            "--run-dir", str(tmp_path / "run")])
    assert r.exit_code == 0, r.output
    d = json.loads(r.stdout)
    assert d["final_answer"] == "4" and d["domain"] == "math" and d["strategy"] == "cot"
    assert d["gists"] and d["trace"][0]["kind"] == "sample"
    assert set(d["usage"]) >= {"prompt_tokens", "completion_tokens", "calls"}
    assert (tmp_path / "run" / "nlrl.log").exists()


def test_solve_streams_then_prints_answer(tmp_path):
    s = script(tmp_path, "Paris is in France.\nFinal Answer: France\n")
    r = runner.invoke(app, ["solve", "Which country is Paris in?", "-b", "scripted", "-m", s,
                            "--run-dir", str(tmp_path)])
    assert r.exit_code == 0
    assert r.stdout.strip().endswith("Final Answer: France")
    assert "Paris is in France." in r.stderr


def test_bad_input_is_one_line_and_exit_1(tmp_path):
    s = script(tmp_path, "x")
    cases = [
        ["solve", "   ", "-b", "scripted", "-m", s],
        ["solve", "q", "-b", "nope"],
        ["solve", "q", "-b", "embedded", "-m", str(tmp_path / "missing.gguf")],
        ["solve", "q", "-b", "scripted", "-m", s, "--strategy", "nope"],
        ["solve", "q", "-b", "scripted", "-m", s, "--n", "0"],
    ]
    for args in cases:
        r = runner.invoke(app, args + ["--run-dir", str(tmp_path)])
        assert r.exit_code == 1, (args, r.output)
        assert r.stderr.startswith("error: ") and r.stderr.count("\n") == 1, r.stderr
        assert "Traceback" not in r.output


def test_corrupt_model_file(tmp_path):
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(b"GGUF" + b"\0" * 64)
    r = runner.invoke(app, ["solve", "q", "-m", str(bad), "--run-dir", str(tmp_path)])
    assert r.exit_code == 1 and "cannot load model" in r.stderr
    bad.write_bytes(b"not a model")
    r = runner.invoke(app, ["solve", "q", "-m", str(bad), "--run-dir", str(tmp_path)])
    assert r.exit_code == 1 and "not a GGUF" in r.stderr


def test_usage_errors_are_one_line_too(tmp_path):
    for args, needle in ((["solve"], "Missing argument"), (["solve", "q", "--bogus"], "No such option"),
                         (["solve", "q", "--domain", "poetry"], "must be one of")):
        r = runner.invoke(app, args)
        assert r.exit_code == 2, r.output
        assert r.stderr.startswith("error: ") and needle in r.stderr and r.stderr.count("\n") == 1


def test_solve_with_a_strategy_and_reward(tmp_path):
    s = script(tmp_path, "Final Answer: 4\n", "Final Answer: 5\n", "Final Answer: 4\n")
    r = runner.invoke(app, ["solve", "What is 2 + 2?", "--json", "-b", "scripted", "-m", s, "--strategy",
                            "best-of-n", "--n", "3", "--reward", "agreement", "--temperature", "0.7",
                            "--run-dir", str(tmp_path)])
    assert r.exit_code == 0, r.output
    d = json.loads(r.stdout)
    assert d["strategy"] == "best-of-n" and d["final_answer"] == "4"
    assert [e["kind"] for e in d["trace"]].count("sample") == 3
    r = runner.invoke(app, ["solve", "q", "-b", "scripted", "-m", s, "--reward", "nope", "--run-dir", str(tmp_path)])
    assert r.exit_code == 1 and "unknown reward" in r.stderr
