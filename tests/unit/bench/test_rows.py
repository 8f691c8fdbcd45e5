"""A benchmark row is a frozen value built from the solve result plus the verdict; on disk it keeps
the keys runs have always had, so old runs still resume and report."""

import json
import pickle
import sqlite3
from dataclasses import FrozenInstanceError

import pytest

from nlrl import Pipeline, RunStoreError, ScriptedBackend
from nlrl.bench import BenchRow, BenchRunner, Grader, from_dicts, load_run
from nlrl.pipeline import Solve, SolveSettings
from nlrl.strategies import get_strategy

KEYS = ["id", "dataset", "index", "prompt", "dynamic_prompt", "domain", "strategy", "output", "final_answer",
        "reference", "checker", "correct", "score", "verdict", "gists", "trace", "usage", "cached", "model_s",
        "latency_s", "metadata", "error"]
# a results.jsonl line as the first runner wrote it: before dynamic_prompt, cached and model_s
OLD = {"id": "0", "dataset": "add", "index": 0, "prompt": "What is 2 + 2?", "domain": "math", "strategy": "cot",
       "output": " 4\nFinal Answer: 4\n", "final_answer": "4", "reference": "4", "checker": "math",
       "correct": True, "score": 1.0, "verdict": {"correct": True, "score": 1.0, "detail": "4 = 4", "extracted": "4"},
       "gists": [{"step": 0, "text": " 4", "t": 0.01, "sample": 0}], "trace": [],
       "usage": {"prompt_tokens": 9, "completion_tokens": 5, "total_tokens": 14, "calls": 1, "wall_s": 0.1},
       "latency_s": 0.2, "metadata": {"level": 1}, "error": None}

ADD = [{"question": "What is 2 + 2?", "answer": "4", "level": 1}, {"question": "What is 3 + 5?", "answer": "9"}]


def runner(backend):
    return BenchRunner(backend, progress=False, plots=False)


def test_a_row_keeps_the_historical_keys_and_round_trips():
    ds = from_dicts(ADD, name="add")
    row = runner(ScriptedBackend([" 2 + 2 = 4.\nFinal Answer: 4\n"])).solve(ds[0])
    d = row.to_dict()
    assert list(d) == KEYS  # no "extra": cot reports nothing beyond its answer
    assert row.correct and d["verdict"]["extracted"] == "4" and d["final_answer"] == "4"
    assert BenchRow.from_dict(json.loads(json.dumps(d))).to_dict() == d
    with pytest.raises(FrozenInstanceError):
        row.correct = False
    # rows travel back from executor workers (processes, Ray): they pickle, blank ones included
    minimal = BenchRow.from_dict({"id": "1", "dataset": "add", "index": 1, "prompt": "What is 3 + 5?"})
    for r in (row, BenchRow.blank(ds[1], "cot", error="WorkerDied"), BenchRow.from_dict(OLD), minimal):
        assert pickle.loads(pickle.dumps(r)) == r


def test_an_old_format_record_still_loads():
    row = BenchRow.from_dict(OLD)
    assert row.correct and row.final_answer == "4" and row.gists[0]["text"] == " 4"
    assert row.dynamic_prompt is None and row.cached == 0 and row.model_s == 0.0 and row.extra is None
    assert list(row.to_dict()) == KEYS
    with pytest.raises(RunStoreError, match="lacks prompt"):
        BenchRow.from_dict({k: v for k, v in OLD.items() if k != "prompt"})


def test_an_old_run_resumes_and_reports(tmp_path):
    ds = from_dicts(ADD, name="add")
    outputs = [" 2 + 2 = 4.\nFinal Answer: 4\n", " 3 + 5 = 8.\nFinal Answer: 8\n"]
    runner(ScriptedBackend(outputs)).run(ds, tmp_path)
    # rewrite the stored rows the way the first runner wrote them
    db = sqlite3.connect(tmp_path / "run.sqlite")
    for rowid, text in db.execute("SELECT rowid, result FROM samples").fetchall():
        old = {k: v for k, v in json.loads(text).items() if k not in ("dynamic_prompt", "cached", "model_s")}
        db.execute("UPDATE samples SET result = ? WHERE rowid = ?", (json.dumps(old), rowid))
    db.commit()
    db.close()
    s = runner(ScriptedBackend([])).run(ds, tmp_path)  # nothing left to solve: no model call
    assert s["complete"] and s["n"] == 2 and s["correct"] == 1
    rows = load_run(tmp_path).rows
    assert "cached" not in rows[0] and [BenchRow.from_dict(r).correct for r in rows] == [True, False]


def test_the_pipeline_and_the_runner_solve_through_one_core():
    ds = from_dicts(ADD, name="add")
    out = " 2 + 2 = 4.\nFinal Answer: 4\n"
    solved = Pipeline(ScriptedBackend([out]), max_tokens=384, seed=0).solve(ds[0].prompt, domain="math")
    row = runner(ScriptedBackend([out])).solve(ds[0])
    assert (row.dynamic_prompt, row.output, row.final_answer) == (solved.prompt_text, solved.output, solved.final_answer)
    timeless = lambda d: {k: v for k, v in d.items() if k not in ("wall_s", "t")}  # noqa: E731
    assert timeless(row.usage) == timeless(solved.usage.to_dict())
    assert [timeless(g) for g in row.gists] == [timeless(g.to_dict()) for g in solved.gists] != []
    assert Grader().grade(ds[0], solved.output, solved.final_answer).correct is row.correct is True


def test_a_failed_solve_keeps_what_was_done():
    backend = ScriptedBackend([" 4\n"], context_length=600)
    solve = Solve(get_strategy("cot"), backend, SolveSettings.of(max_tokens=64))
    with pytest.raises(Exception, match="prompt is"):
        solve("What is 1 + 1? " + "pad " * 400, domain="math")
    assert solve.task is not None and solve.task.prompt_text.endswith("Answer:") and solve.run is None
    assert solve.gists == ()
