import json
import threading

import pytest

from nlrl import BackendConnectionError, RunStoreError, ScriptedBackend
from nlrl.bench import BenchProgress, BenchRunner, CachingBackend, Record, from_dicts, grade_text, load_run
from nlrl.bench.runner import _DirLock
from nlrl.strategies import Strategy

QUESTIONS = [(f"What is {a} + {b}?", a + b) for a, b in [(2, 2), (3, 5), (10, 7), (6, 6), (9, 1), (4, 8)]]


def dataset(k=len(QUESTIONS)):
    return from_dicts([{"question": q, "answer": str(a), "level": 1 + i % 2} for i, (q, a) in enumerate(QUESTIONS[:k])],
                      name="add")


def solver(wrong=()):
    """A deterministic scripted model: right except on the questions in ``wrong``."""
    def out(prompt, i):
        q = prompt.rsplit("Question:", 1)[1]
        for j, (text, ans) in enumerate(QUESTIONS):
            if text in q:
                return f" Adding gives {ans + (j in wrong)}.\nFinal Answer: {ans + (j in wrong)}\nQuestion: next\n"
        raise AssertionError(q)
    return out


def runner(backend, **kw):
    kw.setdefault("progress", False)
    kw.setdefault("plots", False)
    return BenchRunner(backend, **kw)


def read(path):
    return [json.loads(line) for line in open(path, encoding="utf-8")]


def test_run_writes_graded_results_and_summary(tmp_path):
    backend = ScriptedBackend(solver(wrong={1}))
    s = runner(backend, plots=True).run(dataset(), tmp_path)
    rows = read(tmp_path / "results.jsonl")
    assert [r["id"] for r in rows] == ["0", "1", "2", "3", "4", "5"]
    r0 = rows[0]
    assert r0["prompt"] == "What is 2 + 2?" and r0["dynamic_prompt"].endswith("Question: What is 2 + 2?\nAnswer:")
    assert r0["output"] == " Adding gives 4.\nFinal Answer: 4\n" and r0["final_answer"] == "4"
    assert r0["reference"] == "4" and r0["correct"] is True and r0["score"] == 1.0
    assert r0["gists"] and r0["usage"]["completion_tokens"] > 0 and r0["latency_s"] >= 0
    assert r0["verdict"]["extracted"] == "4" and r0["error"] is None
    assert [r["correct"] for r in rows] == [True, False, True, True, True, True]
    assert s["n"] == 6 and s["correct"] == 5 and s["accuracy"] == pytest.approx(5 / 6) and s["complete"]
    assert s["ci95"][0] < 5 / 6 < s["ci95"][1]
    assert s["breakdown"]["level"]["1"]["n"] == 3 and s["breakdown"]["level"]["2"]["correct"] == 2
    assert s["tokens_per_sample"]["generated"] > 0 and s["wall_s"] >= 0
    assert json.loads((tmp_path / "summary.json").read_text()) == s
    assert (tmp_path / "run_overview.png").stat().st_size > 1000  # one run: its own overview
    assert not (tmp_path / "accuracy_vs_tokens.png").exists()
    assert load_run(tmp_path).rows == rows


def test_rerun_resumes_without_repeating_a_sample(tmp_path):
    backend = ScriptedBackend(solver())
    runner(backend).run(dataset(), tmp_path, limit=3)
    assert len(backend.requests) == 3
    s = runner(backend).run(dataset(), tmp_path)
    assert len(backend.requests) == 6                      # only the three missing ones
    assert [r["id"] for r in read(tmp_path / "results.jsonl")] == [str(i) for i in range(6)]
    assert s["n"] == 6 and s["correct"] == 6
    runner(backend).run(dataset(), tmp_path)
    assert len(backend.requests) == 6                      # nothing left to do
    s = runner(backend).run(dataset(), tmp_path, limit=2)  # a smaller selection reports just it
    assert s["n"] == 2 and len(read(tmp_path / "results.jsonl")) == 2


def test_shards_cover_the_selection(tmp_path):
    backend = ScriptedBackend(solver())
    ids = []
    for i in range(3):
        runner(backend).run(dataset(), tmp_path / f"s{i}", shard=(i, 3))
        ids += [r["id"] for r in read(tmp_path / f"s{i}" / "results.jsonl")]
    assert sorted(ids) == [str(i) for i in range(6)] and len(backend.requests) == 6


def test_another_configuration_is_refused_unless_forced(tmp_path):
    backend = ScriptedBackend(solver())
    runner(backend).run(dataset(2), tmp_path)
    with pytest.raises(RunStoreError, match="max_tokens.*--force"):
        runner(backend, max_tokens=99).run(dataset(2), tmp_path)
    with pytest.raises(RunStoreError, match="seed"):
        runner(backend, seed=1).run(dataset(2), tmp_path)
    s = runner(backend, max_tokens=99).run(dataset(2), tmp_path, force=True)
    assert s["config"]["max_tokens"] == 99 and s["n"] == 2 and len(backend.requests) == 4


class FlakyBackend(ScriptedBackend):
    """Serves ``ok`` requests, then fails like a server that went away."""

    def __init__(self, ok, **kw):
        super().__init__(solver(), **kw)
        self.ok = ok

    def generate(self, prompts, params, *, on_token=None):
        if len(self.requests) >= self.ok:
            raise BackendConnectionError("server http://127.0.0.1:9 unreachable", provider="openai", retryable=True)
        return super().generate(prompts, params, on_token=on_token)


@pytest.mark.parametrize("concurrency", [1, 3])
def test_backend_failure_keeps_finished_samples_and_the_rerun_resumes(tmp_path, concurrency):
    flaky = FlakyBackend(ok=4)
    with pytest.raises(BackendConnectionError) as e:
        runner(flaky, concurrency=concurrency).run(dataset(), tmp_path)
    assert "unreachable" in str(e.value) and "run the same command again to resume" in str(e.value)
    assert e.value.retryable and e.value.provider == "openai"
    kept = read(tmp_path / "results.jsonl")
    assert 1 <= len(kept) <= 4 and all(r["correct"] for r in kept)
    s = json.loads((tmp_path / "summary.json").read_text())
    assert s["complete"] is False and s["n"] == len(kept) and "BackendConnectionError" in s["stopped_by"]
    healthy = ScriptedBackend(solver())
    s = runner(healthy, concurrency=concurrency).run(dataset(), tmp_path)
    assert len(healthy.requests) == 6 - len(kept)          # nothing lost, nothing repeated
    assert s["complete"] and s["n"] == 6 and s["correct"] == 6
    assert [r["id"] for r in read(tmp_path / "results.jsonl")] == [str(i) for i in range(6)]


def test_a_sample_that_cannot_run_is_an_error_row_not_a_crash(tmp_path):
    ds = from_dicts([{"question": "What is 2 + 2?", "answer": "4"},
                     {"question": "What is 1 + 1? " + "pad " * 400, "answer": "2"}])
    backend = ScriptedBackend(solver(), context_length=600)
    s = runner(backend, max_tokens=64).run(ds, tmp_path)
    rows = read(tmp_path / "results.jsonl")
    assert rows[0]["correct"] and rows[1]["correct"] is False
    assert rows[1]["error"].startswith("PromptError: prompt is") and s["errors"] == 1 and s["n"] == 2


def test_concurrent_run_keeps_dataset_order(tmp_path):
    lock = threading.Lock()
    active = [0, 0]

    def out(prompt, i):
        with lock:
            active[0] += 1
            active[1] = max(active)
        try:
            return solver()(prompt, i)
        finally:
            with lock:
                active[0] -= 1

    s = runner(ScriptedBackend(out), concurrency=4).run(dataset(), tmp_path)
    assert [r["id"] for r in read(tmp_path / "results.jsonl")] == [str(i) for i in range(6)]
    assert s["correct"] == 6 and s["concurrency"] == 4


def test_the_strategy_never_sees_the_reference(tmp_path):
    seen = []

    class Peek(Strategy):
        name = "peek"

        def run(self, run):
            seen.append((run.task.reference, run.task.checker))
            return run.result(self.name, "4", "Final Answer: 4")

    runner(ScriptedBackend([]), strategy=Peek()).run(dataset(1), tmp_path)
    assert seen == [(None, None)]


def test_grade_text_grades_the_strategys_answer():
    rec = Record("1", "q?", "7", "math", "math")
    assert grade_text(rec, "sample says 3\nFinal Answer: 3", "7") == "Final Answer: 7"
    assert grade_text(rec, "no answer", None) == "no answer"
    code = Record("2", "write f", {"test_cases": []}, "coding", "code")
    assert grade_text(code, "```python\ndef f(): pass\n```", "def f(): pass\n").startswith("```python")
    collie = Record("3", "write", {}, "commonsense", "collie")
    assert grade_text(collie, "Reasoning.\nFinal Answer: One. Two.\n\nThree.", "One. Two.") == "One. Two.\n\nThree."


def test_cached_backend_counts_hits_per_sample(tmp_path):
    backend = ScriptedBackend(solver())
    cache = CachingBackend(backend, tmp_path / "c.sqlite")
    runner(cache).run(dataset(3), tmp_path / "a")
    s = runner(cache).run(dataset(3), tmp_path / "b")
    rows = read(tmp_path / "b" / "results.jsonl")
    assert len(backend.requests) == 3 and [r["cached"] for r in rows] == [1, 1, 1]
    assert [r["usage"]["calls"] for r in rows] == [0, 0, 0] and s["cache"]["hits"] == 3
    assert s["correct"] == 3 and s["cached_completions"] == 3
    first = read(tmp_path / "a" / "results.jsonl")
    assert [r["usage"]["completion_tokens"] for r in rows] == [r["usage"]["completion_tokens"] for r in first]


def test_one_process_per_output_directory(tmp_path):
    with _DirLock(tmp_path):
        with pytest.raises(RunStoreError, match="in use by another benchmark run"):
            runner(ScriptedBackend(solver())).run(dataset(1), tmp_path)


def test_progress_counts_running_accuracy_and_tokens(tmp_path):
    import io

    stream = io.StringIO()
    prog = BenchProgress(enabled=True, stream=stream)
    runner(ScriptedBackend(solver(wrong={0})), progress=prog).run(dataset(4), tmp_path)
    assert (prog.done, prog.correct) == (4, 3) and prog.tokens > 0
    assert "4/4" in stream.getvalue() and "acc 75.0%" in stream.getvalue()
    assert BenchProgress(stream=io.StringIO()).enabled is False   # not a terminal: no bar


def test_a_strategy_error_is_a_row_that_keeps_its_usage(tmp_path):
    from nlrl import ParseError

    class Fails(Strategy):
        name = "fails"

        def run(self, run):
            run.sample()
            raise ParseError("no JSON in the answer")

    s = runner(ScriptedBackend(solver()), strategy=Fails()).run(dataset(2), tmp_path)
    rows = read(tmp_path / "results.jsonl")
    assert [r["error"] for r in rows] == ["ParseError: no JSON in the answer"] * 2
    assert rows[0]["usage"]["calls"] == 1 and rows[0]["usage"]["completion_tokens"] > 0
    assert s["errors"] == 2 and s["correct"] == 0 and s["complete"]


def test_a_configuration_the_strategy_rejects_stops_the_run(tmp_path):
    from nlrl import ConfigError

    with pytest.raises(ConfigError, match="process reward"):
        runner(ScriptedBackend(solver()), strategy="beam", n=2).run(dataset(2), tmp_path)
    s = json.loads((tmp_path / "summary.json").read_text())
    assert s["n"] == 0 and s["complete"] is False and "ConfigError" in s["stopped_by"]
