import json

import pytest
from helpers.cli import script
from typer.testing import CliRunner

from nlrl.cli import app

runner = CliRunner()


def test_solve_json(tmp_path):
    s = script(tmp_path / "script.json", " 2 + 2 = 4.\nFinal Answer: 4\n")
    r = runner.invoke(app, ["solve", "What is 2 + 2?", "--json", "--backend", "scripted", "--model", s,
                            "--run-dir", str(tmp_path / "run")])
    assert r.exit_code == 0, r.output
    d = json.loads(r.stdout)
    assert d["final_answer"] == "4" and d["domain"] == "math" and d["strategy"] == "cot"
    assert d["gists"] and d["trace"][0]["kind"] == "sample"
    assert set(d["usage"]) >= {"prompt_tokens", "completion_tokens", "calls"}
    assert (tmp_path / "run" / "nlrl.log").exists()


def test_solve_streams_then_prints_answer(tmp_path):
    s = script(tmp_path / "script.json", "Paris is in France.\nFinal Answer: France\n")
    r = runner.invoke(app, ["solve", "Which country is Paris in?", "-b", "scripted", "-m", s,
                            "--run-dir", str(tmp_path)])
    assert r.exit_code == 0
    assert r.stdout.strip().endswith("Final Answer: France")
    assert "Paris is in France." in r.stderr


def test_bad_input_is_one_line_and_exit_1(tmp_path):
    s = script(tmp_path / "script.json", "x")
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
    s = script(tmp_path / "script.json", "Final Answer: 4\n", "Final Answer: 5\n", "Final Answer: 4\n")
    r = runner.invoke(app, ["solve", "What is 2 + 2?", "--json", "-b", "scripted", "-m", s, "--strategy",
                            "best-of-n", "--n", "3", "--reward", "agreement", "--temperature", "0.7",
                            "--run-dir", str(tmp_path)])
    assert r.exit_code == 0, r.output
    d = json.loads(r.stdout)
    assert d["strategy"] == "best-of-n" and d["final_answer"] == "4"
    assert [e["kind"] for e in d["trace"]].count("sample") == 3
    r = runner.invoke(app, ["solve", "q", "-b", "scripted", "-m", s, "--reward", "nope", "--run-dir", str(tmp_path)])
    assert r.exit_code == 1 and "unknown reward" in r.stderr


@pytest.mark.parametrize("args, needle", [
    (["--n", "0"], "n=0"),
    (["--temperature", "-1"], "temperature=-1"),
    (["--temperature", "nan"], "temperature=nan"),
    (["--max-tokens", "0"], "max_tokens=0"),
    (["--seed", "-3"], "seed=-3"),
    (["--strategy", "nope"], "unknown strategy"),
    (["--reward", "nope"], "unknown reward"),
    (["--difficulty", "extreme"], "--difficulty must be one of easy, medium, hard"),
    (["--steps", "0"], "--steps must be >= 1"),
])
def test_bad_options_fail_before_any_backend_is_built(tmp_path, loads, args, needle):
    # The default backend is the embedded model: none of these may cost its 1.5 s load.
    r = runner.invoke(app, ["solve", "What is 2 + 2?", *args, "--run-dir", str(tmp_path)])
    assert r.exit_code == 1, r.output
    assert r.stderr.startswith("error: ") and r.stderr.count("\n") == 1 and needle in r.stderr, r.stderr
    assert loads == []


def test_bad_settings_from_the_environment_fail_before_loading(tmp_path, loads, monkeypatch):
    monkeypatch.setenv("NLRL_N", "0")
    r = runner.invoke(app, ["solve", "q", "--run-dir", str(tmp_path)])
    assert r.exit_code == 1 and "n=0" in r.stderr and loads == []
    monkeypatch.setenv("NLRL_N", "2")
    monkeypatch.setenv("NLRL_STRATEGY", "sideways")
    r = runner.invoke(app, ["solve", "q", "--run-dir", str(tmp_path)])
    assert r.exit_code == 1 and "unknown strategy 'sideways'" in r.stderr and loads == []


def test_good_options_do_build_the_backend_once(tmp_path, loads):
    s = script(tmp_path / "script.json", "Final Answer: 4\n")
    r = runner.invoke(app, ["solve", "What is 2 + 2?", "--json", "-b", "scripted", "-m", s, "--n", "1",
                            "--run-dir", str(tmp_path)])
    assert r.exit_code == 0, r.output
    assert [c[0] for c in loads] == ["scripted"]


def test_a_directory_as_model_says_it_is_a_directory(tmp_path):
    r = runner.invoke(app, ["solve", "q", "-m", str(tmp_path), "--run-dir", str(tmp_path / "run")])
    assert r.exit_code == 1
    assert r.stderr == f"error: {tmp_path} is a directory; the embedded backend needs a GGUF model file\n"


def test_a_prompt_longer_than_the_context_does_not_blame_max_tokens(tmp_path):
    from nlrl._exceptions import PromptError
    from nlrl.backends import ScriptedBackend

    b = ScriptedBackend(["x"], context_length=8)
    with pytest.raises(PromptError) as exc:
        b.check_prompt("one two three four five six seven eight nine ten", 1)
    assert "max_tokens" not in str(exc.value)
    assert str(exc.value).startswith("prompt is 10 tokens: with a single token to answer it exceeds the 8-token context")
    with pytest.raises(PromptError, match="with max_tokens=5 it exceeds the 8-token context"):
        b.check_prompt("one two three four", 5)  # the limit given is part of the problem: say so
