"""A benchmark run killed with SIGKILL at random points and started again ends exactly like an
uninterrupted run: same results.jsonl (ids, order, outputs, verdicts) and the same summary, with
no sample lost, repeated or graded twice. The runs are real subprocesses with the scripted backend."""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time

N = 30

CHILD = textwrap.dedent("""
    import sys, time, zlib
    from nlrl import ScriptedBackend
    from nlrl.bench import BenchRunner, load_dataset

    out, delay, calls = sys.argv[1], float(sys.argv[2]), sys.argv[3]
    ds = load_dataset("gsm8k").select(limit=int(sys.argv[4]))
    by_question = {r.prompt: r for r in ds}

    def answer(prompt, i):
        q = prompt.rsplit("Question:", 1)[1].strip()[: -len("Answer:")].strip()
        rec = by_question[q]
        with open(calls, "a") as fh:          # one line per model call, to count repeats
            fh.write(rec.id + "\\n")
        time.sleep(delay)
        right = zlib.crc32(q.encode()) % 3 != 0     # deterministic: about 2/3 right
        return f" Some working.\\nFinal Answer: {rec.reference if right else '0'}\\n"

    BenchRunner(ScriptedBackend(answer), progress=False, plots=False).run(ds, out)
""")

TIMING = {"wall_s", "samples_per_s", "latency_s"}


def start(tmp_path, out, delay):
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen([sys.executable, str(script), str(out), str(delay), str(tmp_path / f"{out.name}.calls"),
                             str(N)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)


def stored(out):
    try:
        db = sqlite3.connect(f"file:{out / 'run.sqlite'}?mode=ro", uri=True, timeout=5)
        try:
            return db.execute("SELECT COUNT(*) FROM samples").fetchone()[0]
        finally:
            db.close()
    except sqlite3.Error:
        return 0


def normalised_rows(out):
    rows = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    for r in rows:
        r.pop("latency_s"), r.pop("model_s")
        r["usage"].pop("wall_s")
        for g in r["gists"]:
            g.pop("t")
    return rows


def summary(out):
    s = json.loads((out / "summary.json").read_text())
    return {k: v for k, v in s.items() if k not in TIMING}


def test_sigkill_at_random_points_then_resume_equals_an_uninterrupted_run(tmp_path):
    seed = random.randrange(1 << 30)
    rng = random.Random(seed)
    whole = tmp_path / "whole"
    p = start(tmp_path, whole, 0.0)
    assert p.wait(timeout=120) == 0, p.stderr.read().decode()

    killed = tmp_path / "killed"
    kills = 0
    for target in sorted(rng.sample(range(1, N - 2), 3)):
        p = start(tmp_path, killed, 0.01)
        deadline = time.monotonic() + 120
        while stored(killed) < target and p.poll() is None and time.monotonic() < deadline:
            time.sleep(rng.uniform(0.0, 0.02))
        time.sleep(rng.uniform(0.0, 0.01))   # land anywhere: mid-generation, mid-commit, mid-write
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
            kills += 1
        p.wait(timeout=30)
        assert stored(killed) < N, f"seed {seed}: the run finished before it could be killed"
    p = start(tmp_path, killed, 0.0)
    assert p.wait(timeout=120) == 0, p.stderr.read().decode()

    assert kills == 3, f"seed {seed}"
    assert [r["id"] for r in normalised_rows(killed)] == [str(i) for i in range(N)]
    assert normalised_rows(killed) == normalised_rows(whole), f"seed {seed}"
    assert summary(killed) == summary(whole), f"seed {seed}"
    assert summary(killed)["n"] == N and summary(killed)["complete"] is True
    # nothing graded twice: the store has one row per sample ...
    db = sqlite3.connect(killed / "run.sqlite")
    assert db.execute("SELECT COUNT(*), COUNT(DISTINCT id) FROM samples").fetchone() == (N, N)
    # ... and the only repeated model calls are the samples in flight when a kill landed
    calls = (tmp_path / "killed.calls").read_text().split()
    assert set(calls) == {str(i) for i in range(N)}
    assert len(calls) - N <= kills, f"seed {seed}: {len(calls) - N} repeated calls for {kills} kills"
