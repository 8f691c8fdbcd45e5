"""``nlrl gpi``: results.json with one object per iteration, the plot, and one-line errors."""

from __future__ import annotations

import json

import pytest
from helpers.gpi import ScriptedModel, answer, candidates, first_empty
from typer.testing import CliRunner

from nlrl.backends import BACKENDS
from nlrl.cli import app

runner = CliRunner()


def _model() -> ScriptedModel:
    return ScriptedModel(
        policy=lambda q: answer("first free", action=first_empty(q)) if "Empty cells" in q
        else answer("down we go", action="down"),
        value=lambda q: answer("v", final_evaluation="even"),
        td=lambda q: answer("v", final_evaluation="even"),
        mc=lambda q: answer("v", final_evaluation="even"),
        improve=lambda q: answer("pick", action=candidates(q)[0]),
    )


@pytest.fixture
def scripted_backend(monkeypatch):
    """Register a scripted backend under a test name (``--backend gpi-test``)."""
    models = []

    def factory(model=None, **kw):
        m = _model()
        models.append(m)
        return m.backend

    monkeypatch.setitem(BACKENDS._entries, "gpi-test", factory)
    return models


def run(args):
    return runner.invoke(app, ["gpi", *args])


def test_tictactoe_writes_results_and_plot(tmp_path, scripted_backend):
    r = run(["--env", "tictactoe", "--iterations", "2", "--games", "3", "--backend", "gpi-test",
             "--out", str(tmp_path), "--max-states", "2", "--opponent", "first"])
    assert r.exit_code == 0, r.output
    data = json.loads((tmp_path / "results.json").read_text())
    assert [it["iteration"] for it in data["iterations"]] == [1, 2]
    for it in data["iterations"]:
        assert {"win", "draw", "loss", "calls", "prompt_tokens", "completion_tokens", "calls_per_step",
                "tokens_per_step", "parse_failures"} <= set(it)
    assert data["baselines"]["language_policy"]["episodes"] == 3 and data["opponent"] == "first"
    assert (tmp_path / "gpi.png").stat().st_size > 1000
    assert "language policy:" in r.stderr and "iteration 2:" in r.stderr


def test_maze_with_episodes(tmp_path, scripted_backend):
    r = run(["--env", "maze", "--iterations", "1", "--episodes", "2", "--backend", "gpi-test",
             "--out", str(tmp_path), "--mask", "all", "--estimator", "mc", "--rollout-moves", "3", "-q"])
    assert r.exit_code == 0, r.output
    data = json.loads((tmp_path / "results.json").read_text())
    it = data["iterations"][0]
    assert "avg_reward" in it and data["baselines"]["optimal"]["avg_reward"] <= 0
    assert data["settings"]["estimator"] == "mc" and data["settings"]["rollout_moves"] == 3 and r.stderr == ""
    walks = [c["trajectories"][0] for e in data["table"] for c in e["candidates"]]
    assert all(w.count("; ") <= 2 for w in walks)  # at most 3 moves per rollout


def test_dataset_env(tmp_path, monkeypatch):
    def script(prompt, index):
        if prompt.startswith("A solver is given"):
            return 'x", "final_evaluation": "compute"}\n'
        if prompt.startswith("Improve a solver"):
            return 'x", "instruction": "Compute, then Answer: <n>."}\n'
        return " Answer: 18"

    from nlrl.backends import ScriptedBackend

    monkeypatch.setitem(BACKENDS._entries, "gpi-ds", lambda model=None, **kw: ScriptedBackend(script))
    r = run(["--env", "dataset:gsm8k", "--iterations", "1", "--train", "2", "--heldout", "2",
             "--backend", "gpi-ds", "--out", str(tmp_path), "-q"])
    assert r.exit_code == 0, r.output
    data = json.loads((tmp_path / "results.json").read_text())
    assert data["env"] == "dataset:gsm8k" and "accuracy" in data["iterations"][0]
    assert data["iterations"][0]["train_accuracy"] == 0.5  # only the first question's answer is 18
    assert data["grader"] and (tmp_path / "gpi.png").exists()


@pytest.mark.parametrize("args,message", [
    (["--env", "chess"], "known: maze, tictactoe, maze:double_t"),
    (["--env", "dataset:mnist"], "dataset:gsm8k"),
    (["--env", "maze:nowhere"], "known: double_t"),
    (["--env", "tictactoe", "--iterations", "0"], "--iterations must be >= 1"),
    (["--env", "tictactoe", "--games", "2", "--episodes", "3"], "same setting"),
    (["--env", "tictactoe", "--opponent", "minimax"], "known: first, random"),
    (["--env", "tictactoe", "--mask", "some"], "unknown GPI mask"),
    (["--env", "dataset:gsm8k", "--games", "3"], "--train and --heldout"),
    (["--env", "maze", "--threads", "2"], "--threads does not apply to the gpi-test backend"),
])
def test_bad_input_is_one_line_exit_1(tmp_path, args, message, scripted_backend):
    r = run([*args, "--out", str(tmp_path), "--backend", "gpi-test"])
    assert r.exit_code == 1, r.output
    assert r.stderr.startswith("error: ") and r.stderr.count("\n") == 1, r.stderr
    assert message in r.stderr
    assert not scripted_backend  # rejected before any backend was built
    assert not (tmp_path / "results.json").exists()
