import math
import sqlite3

import pytest

from nlrl import RunStoreError, SamplingParams, ScriptedBackend
from nlrl.bench import CachingBackend, RunStore, SampleKey, accuracy, bootstrap_interval, summarize, wilson_interval
from nlrl.bench.metrics import breakdown
from nlrl.gists import GistStream

# ---------------------------------------------------------------------------------------------
# run store


def key(i, config="c1"):
    return SampleKey("ds", str(i), config, "m", "0")


def test_store_is_wal_and_keyed(tmp_path):
    path = tmp_path / "run.sqlite"
    with RunStore(path) as s:
        assert s.bind({"strategy": "cot"}) is False
        assert s.add(key(1), "d1", True, {"id": "1", "correct": True})
        assert not s.add(key(1), "d1", False, {"id": "1", "correct": False})  # already there: kept
        assert s.add(key(1, "c2"), "d1", False, {"id": "1"})                  # another config: its own row
        assert s.count() == 2
        done = s.done([(key(1), "d1"), (key(2), "d2")])
        assert done == {key(1): {"id": "1", "correct": True}}
        assert s.done([(key(1), "changed")]) == {}                            # the record changed: not done
        assert s.add(key(1), "changed", False, {"id": "1", "v": 2})           # ...so it is replaced
        assert s.done([(key(1), "changed")])[key(1)]["v"] == 2
    assert sqlite3.connect(path).execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_store_refuses_another_configuration_unless_forced(tmp_path):
    path = tmp_path / "run.sqlite"
    with RunStore(path) as s:
        s.bind({"strategy": "cot", "n": 1})
        s.add(key(1), "d", True, {})
    with RunStore(path) as s:
        assert s.bind({"n": 1, "strategy": "cot"}) is True  # same configuration: a resume
        with pytest.raises(RunStoreError, match=r"differs in: n.*--force"):
            s.bind({"strategy": "cot", "n": 4})
        assert s.count() == 1
        assert s.bind({"strategy": "cot", "n": 4}, force=True) is False
        assert s.count() == 0 and s.config() == {"strategy": "cot", "n": 4}


def test_store_rejects_a_file_that_is_not_sqlite(tmp_path):
    bad = tmp_path / "run.sqlite"
    bad.write_bytes(b"not a database at all" * 100)
    with pytest.raises(RunStoreError, match="cannot open run store"):
        RunStore(bad)


# ---------------------------------------------------------------------------------------------
# completion cache

OUT = "Step one.\nStep two.\nFinal Answer: 42\nmore text after\n"


def cached(tmp_path, out=OUT):
    inner = ScriptedBackend(out if callable(out) else (lambda prompt, i: out))
    return inner, CachingBackend(inner, tmp_path / "cache.sqlite")


def test_greedy_hit_replays_tokens_and_reports_zero_work(tmp_path):
    inner, cb = cached(tmp_path)
    p = SamplingParams(max_tokens=64)
    first = cb.generate(["Q1"], p)[0]
    assert first.usage.calls == 1 and len(inner.requests) == 1
    pieces = []
    again = cb.generate(["Q1"], p, on_token=lambda e: pieces.append(e.text))[0]
    assert len(inner.requests) == 1                                  # no engine call
    assert "".join(pieces) == OUT and again.completions == first.completions
    assert (again.usage.prompt_tokens, again.usage.calls) == (0, 0)
    assert again.usage.completion_tokens == first.usage.completion_tokens
    assert cb.stats.to_dict() == {"hits": 1, "misses": 1, "bypassed": 0,
                                  "cached_tokens": first.usage.completion_tokens}
    # another process opening the same file sees the entry
    inner2 = ScriptedBackend([])
    assert CachingBackend(inner2, tmp_path / "cache.sqlite").generate(["Q1"], p)[0].completions == first.completions


def test_key_covers_model_prompt_and_every_parameter(tmp_path):
    inner, cb = cached(tmp_path)
    p = SamplingParams(max_tokens=64)
    cb.generate(["Q1"], p)
    for prompt, params in [("Q2", p), ("Q1", p.replace(max_tokens=63)), ("Q1", p.replace(stop=("x",))),
                           ("Q1", p.replace(n=2))]:
        cb.generate([prompt], params)
    assert len(inner.requests) == 5
    other_model = CachingBackend(ScriptedBackend(lambda q, i: "other\n", model_name="m2"), tmp_path / "cache.sqlite")
    assert other_model.generate(["Q1"], p)[0].completions[0].text == "other\n"


def test_sampled_generations_are_never_collapsed(tmp_path):
    counter = iter(range(1000))
    inner, cb = cached(tmp_path, lambda prompt, i: f"sample {next(counter)}\n")
    p = SamplingParams(n=3, temperature=0.8, seed=1, max_tokens=16)
    a = cb.generate(["Q"], p)[0]
    b = cb.generate(["Q"], p)[0]
    texts = a.texts + b.texts
    assert len(set(texts)) == 6 and len(inner.requests) == 2
    assert cb.stats.bypassed == 6 and cb.stats.hits == 0
    assert sqlite3.connect(tmp_path / "cache.sqlite").execute("SELECT COUNT(*) FROM completions").fetchone()[0] == 0


def test_batch_mixes_hits_and_misses_in_order(tmp_path):
    inner, cb = cached(tmp_path, lambda prompt, i: f"answer to {prompt}\n")
    p = SamplingParams(max_tokens=16)
    cb.generate(["B"], p)
    seen = []
    gens = cb.generate(["A", "B", "C"], p, on_token=lambda e: seen.append((e.prompt_index, e.text)))
    assert [g.texts[0] for g in gens] == ["answer to A\n", "answer to B\n", "answer to C\n"]
    assert [g.usage.calls for g in gens] == [1, 0, 1]
    for pi, name in enumerate("ABC"):
        assert "".join(t for i, t in seen if i == pi) == f"answer to {name}\n"
    assert [r.prompt for r in inner.requests] == ["B", "A", "C"]


def test_adaptive_stop_on_replay_matches_the_engine(tmp_path):
    inner, cb = cached(tmp_path)
    p = SamplingParams(max_tokens=64)
    cb.generate(["Q"], p)                                   # stored in full, without a callback
    stream = GistStream("math")
    replay = cb.generate(["Q"], p, on_token=stream)[0].completions[0]
    engine = inner.generate(["Q"], p, on_token=GistStream("math"))[0].completions[0]
    assert replay == engine and replay.finish_reason == "answer"
    assert replay.num_tokens < len(inner.generate(["Q"], p)[0].completions[0].token_ids)


def test_a_cut_entry_is_completed_by_the_engine_without_repeating_pieces(tmp_path):
    inner, cb = cached(tmp_path)
    p = SamplingParams(max_tokens=64)
    cut = cb.generate(["Q"], p, on_token=GistStream("math"))[0].completions[0]
    assert cut.finish_reason == "answer"
    pieces = []
    full = cb.generate(["Q"], p, on_token=lambda e: pieces.append(e.text))[0].completions[0]
    assert full.text == OUT and "".join(pieces) == OUT       # each piece delivered once
    assert len(inner.requests) == 2
    assert cb.generate(["Q"], p)[0].completions[0].text == OUT  # the full entry replaced the cut one
    assert len(inner.requests) == 2


def test_cache_delegates_capabilities(tmp_path):
    inner = ScriptedBackend(["x"], context_length=100, model_name="mm", chat=True)
    cb = CachingBackend(inner, tmp_path / "c.sqlite")
    assert (cb.name, cb.model_name, cb.context_length, cb.chat) == ("scripted", "mm", 100, True)
    assert cb.count_tokens("a b") == inner.count_tokens("a b")
    assert cb.apply_chat_template([{"role": "user", "content": "hi"}]).endswith("<assistant>\n")
    assert cb.requests is inner.requests  # optional capabilities of the engine stay reachable
    with pytest.raises(AttributeError):
        cb.no_such_capability


# ---------------------------------------------------------------------------------------------
# metrics


def test_wilson_interval_known_values():
    lo, hi = wilson_interval(7, 10)
    assert math.isclose(lo, 0.3968, abs_tol=1e-4) and math.isclose(hi, 0.8922, abs_tol=1e-4)
    assert wilson_interval(0, 20)[0] == 0.0 and wilson_interval(20, 20)[1] == 1.0
    assert wilson_interval(0, 0) == (0.0, 1.0)
    lo, hi = wilson_interval(500, 1000)
    assert math.isclose(hi - lo, 2 * 1.96 * math.sqrt(0.25 / 1000), rel_tol=0.01)


def test_bootstrap_interval_is_deterministic_and_brackets_the_mean():
    xs = [1, 0, 1, 1, 0, 0.5, 1, 0, 1, 1]
    a, b = bootstrap_interval(xs), bootstrap_interval(xs)
    assert a == b and a[0] < sum(xs) / len(xs) < a[1]
    assert bootstrap_interval([1, 1, 1]) == (1.0, 1.0)


def test_accuracy_breakdown_and_summary():
    rows = [
        {"correct": True, "score": 1.0, "metadata": {"level": 1, "subject": "Algebra"},
         "usage": {"completion_tokens": 10, "prompt_tokens": 100, "calls": 1}, "final_answer": "1", "latency_s": 0.1},
        {"correct": False, "score": 0.0, "metadata": {"level": 2, "subject": "Algebra"},
         "usage": {"completion_tokens": 30, "prompt_tokens": 0, "calls": 0}, "final_answer": None, "latency_s": 0.3,
         "cached": 1},
        {"correct": True, "score": 1.0, "metadata": {"level": 10}, "error": None, "final_answer": "x",
         "usage": {"completion_tokens": 20, "prompt_tokens": 50, "calls": 1}},
    ]
    assert accuracy([True, False, True])["accuracy"] == pytest.approx(2 / 3)
    b = breakdown(rows)
    assert list(b["level"]) == ["1", "2", "10"] and b["subject"]["Algebra"]["n"] == 2
    s = summarize(rows, selected=4, wall_s=2.0)
    assert s["n"] == 3 and s["correct"] == 2 and s["complete"] is False
    assert s["tokens_per_sample"]["generated"] == 20.0 and s["generated_tokens"] == 60
    assert s["no_answer"] == 1 and s["cached_completions"] == 1 and s["samples_per_s"] == 1.5
    assert s["ci95"][0] < s["accuracy"] < s["ci95"][1]
