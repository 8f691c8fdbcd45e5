"""`nlrl solve` and `nlrl bench` take the search strategies by name (the scripted backend)."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from nlrl.cli import app

cli = CliRunner()


def script(path, outputs):
    path.write_text(json.dumps(outputs))
    return str(path)


@pytest.mark.parametrize("name", ["dvts", "mcts", "particle-filter"])
def test_solve_takes_the_strategy_and_says_what_it_needs(tmp_path, name):
    # the scripted backend reports no log-probabilities and no process reward is given: a clear
    # one-line error, not "unknown strategy"
    s = script(tmp_path / "s.json", ["Final Answer: 4\n"])
    r = cli.invoke(app, ["solve", "What is 2 + 2?", "-b", "scripted", "-m", s, "--strategy", name,
                         "--domain", "math", "--run-dir", str(tmp_path / "run")])
    assert r.exit_code == 1 and r.stderr.startswith("error: ") and "process reward" in r.stderr, r.output
    assert r.stderr.count("\n") == 1


def test_bench_runs_mcts_with_the_language_value(tmp_path):
    # the language value needs no log-probabilities: each prompt kind gets its own scripted answer
    s = script(tmp_path / "s.json", {"Judge a partial solution": ['fine", "final_evaluation": 0.7}\n'] * 50,
                                     "": ["Final Answer: 18\n"] * 50})
    out = tmp_path / "out"
    r = cli.invoke(app, ["bench", "--dataset", "gsm8k", "--limit", "1", "-b", "scripted", "-m", s, "--strategy", "mcts",
                         "-O", "evaluator=value", "-O", "iterations=2", "--out", str(out),
                         "--run-dir", str(tmp_path / "cache"), "-q", "--no-plots"])
    assert r.exit_code == 0, r.output
    rows = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    kinds = [e["kind"] for e in rows[0]["trace"]]
    assert "expand" in kinds and "evaluate" in kinds and "backup" in kinds and kinds[-1] == "stop"


def test_solve_passes_strategy_options(tmp_path):
    # -O reaches the strategy on `nlrl solve` too: mcts with the language value needs no log-probabilities
    s = script(tmp_path / "s.json", {"Judge a partial solution": ['fine", "final_evaluation": 0.7}\n'] * 50,
                                     "": ["Final Answer: 18\n"] * 50})
    r = cli.invoke(app, ["solve", "What is 9 + 9?", "-b", "scripted", "-m", s, "--strategy", "mcts",
                         "-O", "evaluator=value", "-O", "iterations=2", "--domain", "math", "--json",
                         "--run-dir", str(tmp_path / "run")])
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    kinds = [e["kind"] for e in out["trace"]]
    assert out["final_answer"] == "18" and "evaluate" in kinds and kinds[-1] == "stop"


def test_solve_rejects_an_option_the_strategy_does_not_take(tmp_path):
    s = script(tmp_path / "s.json", ["Final Answer: 4\n"])
    r = cli.invoke(app, ["solve", "What is 2 + 2?", "-b", "scripted", "-m", s, "--strategy", "mcts",
                         "-O", "depth_charge=3", "--run-dir", str(tmp_path / "run")])
    assert r.exit_code != 0 and r.stderr.startswith("error: ") and "depth_charge" in r.stderr, r.output
    assert r.stderr.count("\n") == 1


def test_solve_takes_deepconfs_warmup_consensus_option(tmp_path):
    s = script(tmp_path / "s.json", ["Final Answer: 4\n"] * 20)
    base = ["solve", "What is 2 + 2?", "-b", "scripted", "-m", s, "--strategy", "deepconf", "--domain", "math",
            "--run-dir", str(tmp_path / "run")]
    r = cli.invoke(app, base + ["-O", "warmup_consensus=true", "-O", "consensus_votes=1", "--json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["final_answer"] == "4"
    r = cli.invoke(app, base + ["-O", "warmup_consensus=sometimes"])
    assert r.exit_code == 1 and r.stderr.startswith("error: ") and "warmup_consensus" in r.stderr, r.output
    assert r.stderr.count("\n") == 1
