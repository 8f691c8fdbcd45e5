"""The harness with the real embedded model: graded rows, and a rerun answered by the cache."""

from __future__ import annotations

import json

import pytest

from nlrl.bench import BenchRunner, CachingBackend, load_dataset

pytestmark = pytest.mark.integration


def test_embedded_run_is_graded_and_a_rerun_is_served_by_the_cache(embedded, tmp_path):
    ds = load_dataset("gsm8k").select(limit=1)
    cache = CachingBackend(embedded, tmp_path / "cache.sqlite")
    first = BenchRunner(cache, max_tokens=32, progress=False, plots=False).run(ds, tmp_path / "a")
    rows = [json.loads(x) for x in (tmp_path / "a" / "results.jsonl").read_text().splitlines()]
    assert first["n"] == 1 and [r["id"] for r in rows] == ["0"]
    for r in rows:
        assert r["usage"]["calls"] == 1 and r["usage"]["completion_tokens"] > 0 and r["cached"] == 0
        assert r["verdict"] is not None and r["dynamic_prompt"].endswith(r["prompt"] + "\nAnswer:")
        assert r["gists"] and "".join(g["text"] for g in r["gists"]) == r["output"]
    again = BenchRunner(cache, max_tokens=32, progress=False, plots=False).run(ds, tmp_path / "b")
    rerun = [json.loads(x) for x in (tmp_path / "b" / "results.jsonl").read_text().splitlines()]
    assert [r["output"] for r in rerun] == [r["output"] for r in rows]
    assert [r["correct"] for r in rerun] == [r["correct"] for r in rows]
    assert all(r["usage"]["calls"] == 0 and r["usage"]["prompt_tokens"] == 0 and r["cached"] == 1 for r in rerun)
    assert again["cache"]["hits"] == 1 and again["accuracy"] == first["accuracy"]
