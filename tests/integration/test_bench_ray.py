"""Benchmarks on a real local Ray cluster (started once for this module, 2 CPUs): results equal to
the local executor's, byte for byte once timings are set aside; a worker killed by PID mid-run, or
the driver killed with SIGKILL and run again, still leaves every sample in the results exactly once.

Fields that differ by nature between two runs of the same seed, and are set aside: ``latency_s``,
``model_s``, ``usage.wall_s`` and each gist's ``t`` in a row; ``wall_s``, ``samples_per_s``,
``latency_s`` and ``executor`` (which says how many workers there were) in the summary. With the
embedded engine also the prompt tokens *evaluated* (``usage.prompt_tokens``, ``total_tokens``): its
KV cache reuses the prefix shared with the sample the same worker ran before, so the count depends
on which samples a worker happened to run in a row.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import textwrap
import threading
import time

import pytest

from nlrl.bench import BenchRunner, load_dataset

ray = pytest.importorskip("ray", reason="pip install 'nlrl[ray]'")
from nlrl.bench.executors import RayExecutor, _local_token  # noqa: E402

pytestmark = pytest.mark.integration

SUMMARY_TIMING = {"wall_s", "samples_per_s", "latency_s", "executor"}


@pytest.fixture(scope="module")
def cluster():
    """One local Ray cluster for the module; its address lets subprocess drivers join it."""
    # A short private temp dir: Ray's default /tmp/ray belongs to whoever made it first, and its
    # socket paths must stay under the 107-byte limit.
    tmp = tempfile.mkdtemp(prefix="nlrl-ray-", dir="/tmp")
    _local_token()  # a user without a writable home gets its token through the environment
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, _temp_dir=tmp)
    try:
        yield ray.get_runtime_context().gcs_address
    finally:
        ray.shutdown()
        shutil.rmtree(tmp, ignore_errors=True)


def scripted(limit, *, delay=0.0, calls=None, poison=None, crash=None):
    """A factory building, on each worker, a scripted backend answering gsm8k questions: about 2/3
    right, each sample index answered its own way, ``poison`` raising, ``crash`` killing the worker
    process. Every call is logged as "PID ID" to ``calls``. Nested, so Ray pickles it by value."""

    def factory():
        import os
        import time
        import zlib

        from nlrl import ScriptedBackend
        from nlrl.bench import load_dataset

        by_question = {r.prompt: r for r in load_dataset("gsm8k").select(limit=limit)}

        def answer(prompt, i):
            q = prompt.rsplit("Question:", 1)[1].strip()[: -len("Answer:")].strip()
            rec = by_question[q]
            if calls:
                with open(calls, "a") as fh:
                    fh.write(f"{os.getpid()} {rec.id}\n")
            if rec.id == crash:
                os._exit(1)
            if rec.id == poison:
                raise ValueError("a poisoned sample")
            time.sleep(delay)
            right = zlib.crc32(f"{q}|{i}".encode()) % 3 != 0
            return f" Some working.\nFinal Answer: {rec.reference if right else 1000 + i}\n"

        return ScriptedBackend(answer)

    return factory


def rows(out, prefix_cache=False):
    """results.jsonl without timings, each line re-serialised: comparable byte for byte."""
    lines = []
    for line in (out / "results.jsonl").read_text().splitlines():
        r = json.loads(line)
        r.pop("latency_s"), r.pop("model_s"), r["usage"].pop("wall_s")
        if prefix_cache:
            r["usage"].pop("prompt_tokens"), r["usage"].pop("total_tokens")
        for g in r["gists"]:
            g.pop("t")
        lines.append(json.dumps(r, sort_keys=True, ensure_ascii=False))
    return sorted(lines)


def summary(out, prefix_cache=False):
    s = json.loads((out / "summary.json").read_text())
    if prefix_cache:
        s["tokens_per_sample"].pop("prompt_evaluated")
    return {k: v for k, v in s.items() if k not in SUMMARY_TIMING}


def stored(out):
    try:
        db = sqlite3.connect(f"file:{out / 'run.sqlite'}?mode=ro", uri=True, timeout=5)
        try:
            return db.execute("SELECT COUNT(*), COUNT(DISTINCT id) FROM samples").fetchone()
        finally:
            db.close()
    except sqlite3.Error:
        return (0, 0)


def run(factory, ds, out, executor=None, **kw):
    backend = None if executor else factory()
    return BenchRunner(backend, executor=executor, progress=False, plots=False, **kw).run(ds, out)


@pytest.mark.parametrize("strategy,n", [("cot", 1), ("self-consistency", 3)])
def test_ray_results_equal_the_local_executor(cluster, tmp_path, strategy, n):
    ds = load_dataset("gsm8k").select(limit=24)
    kw = dict(strategy=strategy, n=n, temperature=0.7 if n > 1 else None, seed=3)
    run(scripted(24), ds, tmp_path / "local", **kw)
    with RayExecutor(scripted(24), workers=2, batch_size=5) as ex:
        s = run(None, ds, tmp_path / "ray", executor=ex, **kw)
        assert len(set(ex.worker_pids())) == 2 and os.getpid() not in ex.worker_pids()
    assert rows(tmp_path / "ray") == rows(tmp_path / "local")
    assert summary(tmp_path / "ray") == summary(tmp_path / "local")
    assert s["n"] == 24 and s["executor"]["name"] == "ray" and s["executor"]["workers"] == 2
    # the final file is in dataset order, as a local run's is
    ids = [json.loads(x)["id"] for x in (tmp_path / "ray" / "results.jsonl").read_text().splitlines()]
    assert ids == [str(i) for i in range(24)]


def test_a_worker_killed_by_pid_mid_run_leaves_every_sample_exactly_once(cluster, tmp_path):
    n = 40
    ds = load_dataset("gsm8k").select(limit=n)
    run(scripted(n), ds, tmp_path / "local")
    calls = tmp_path / "calls"
    out = tmp_path / "ray"
    with RayExecutor(scripted(n, delay=0.05, calls=str(calls)), workers=2, batch_size=2) as ex:
        victim = ex.worker_pids()[0]
        result: dict = {}
        t = threading.Thread(target=lambda: result.update(s=run(None, ds, out, executor=ex)))
        t.start()
        deadline = time.monotonic() + 120
        while stored(out)[0] < 8 and time.monotonic() < deadline:
            time.sleep(0.01)
        at_kill = stored(out)[0]
        os.kill(victim, signal.SIGKILL)
        t.join(timeout=240)
        assert not t.is_alive()
        restarted = ex.worker_pids()
    assert at_kill < n, "killed mid-run"
    assert result["s"]["n"] == n and result["s"]["complete"] is True
    assert stored(out) == (n, n)
    assert rows(out) == rows(tmp_path / "local")
    log = [line.split() for line in calls.read_text().splitlines()]
    pids = {int(p) for p, _ in log}
    assert victim in pids and len(pids) == 3, "the killed worker was restarted as a new process"
    assert victim not in restarted
    # only samples the killed worker held (2 tasks of 2) were asked twice
    assert {i for _, i in log} == {str(i) for i in range(n)} and len(log) - n <= 4


CHILD = textwrap.dedent("""
    import sys
    sys.path.insert(0, sys.argv[4])
    from test_bench_ray import scripted
    from nlrl.bench import BenchRunner, load_dataset
    from nlrl.bench.executors import RayExecutor

    address, out, calls = sys.argv[1:4]
    ds = load_dataset("gsm8k").select(limit=30)
    with RayExecutor(scripted(30, delay=0.02, calls=calls), address=address, workers=2, batch_size=2) as ex:
        BenchRunner(None, executor=ex, progress=False, plots=False).run(ds, out)
""")


@pytest.mark.slow
def test_the_driver_killed_with_sigkill_and_rerun_ends_like_a_whole_run(cluster, tmp_path):
    n = 30
    seed = random.randrange(1 << 30)
    rng = random.Random(seed)
    ds = load_dataset("gsm8k").select(limit=n)
    run(scripted(n), ds, tmp_path / "whole")
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    out, calls = tmp_path / "killed", tmp_path / "calls"

    def start():
        return subprocess.Popen([sys.executable, str(script), cluster, str(out), str(calls),
                                 os.path.dirname(__file__)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                start_new_session=True)

    kills = 0
    for target in sorted(rng.sample(range(2, n - 6), 2)):
        p = start()
        deadline = time.monotonic() + 180
        while stored(out)[0] < target and p.poll() is None and time.monotonic() < deadline:
            time.sleep(rng.uniform(0.0, 0.02))
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
            kills += 1
        p.wait(timeout=30)
        assert stored(out)[0] < n, f"seed {seed}: the run finished before it could be killed"
    p = start()
    _, err = p.communicate(timeout=240)
    assert p.returncode == 0, err.decode()[-2000:]
    assert kills == 2, f"seed {seed}"
    assert stored(out) == (n, n)
    assert rows(out) == rows(tmp_path / "whole"), f"seed {seed}"
    assert summary(out) == summary(tmp_path / "whole"), f"seed {seed}"
    asked = [line.split()[1] for line in calls.read_text().splitlines()]
    assert set(asked) == {str(i) for i in range(n)}


@pytest.mark.slow
def test_a_failing_sample_is_an_error_row_and_a_worker_killing_sample_is_retried_then_recorded(
        cluster, tmp_path):
    n = 6
    ds = load_dataset("gsm8k").select(limit=n)
    calls = tmp_path / "calls"
    with RayExecutor(scripted(n, poison="1", crash="4", calls=str(calls)), workers=2, batch_size=3,
                     max_task_retries=1) as ex:
        s = run(None, ds, tmp_path / "ray", executor=ex)
        assert ex.describe()["lost_samples"] == 1
    by_id = {json.loads(x)["id"]: json.loads(x) for x in (tmp_path / "ray" / "results.jsonl").read_text().splitlines()}
    assert sorted(by_id) == [str(i) for i in range(n)] and s["n"] == n and s["errors"] == 2
    assert by_id["1"]["error"] == "ValueError: a poisoned sample"
    assert by_id["4"]["error"].startswith("WorkerDied: the worker died on this sample 2 times")
    assert all(by_id[i]["error"] is None for i in "0235")
    # bounded: the crashing sample was tried twice in its batch and twice on its own, then never again
    asked = [line.split()[1] for line in calls.read_text().splitlines()]
    assert asked.count("4") == 4 and asked.count("1") == 1
    # a rerun does not try it again: it is a finished (error) row
    with RayExecutor(scripted(n, crash="4", calls=str(calls)), workers=1) as ex:
        again = run(None, ds, tmp_path / "ray", executor=ex)
    assert again["n"] == n
    assert [line.split()[1] for line in calls.read_text().splitlines()].count("4") == 4


def test_cli_bench_with_executor_ray_equals_local(cluster, tmp_path):
    from typer.testing import CliRunner

    from nlrl.cli import app

    answers = [f" Working.\nFinal Answer: {r.reference if i % 3 else 7}\n"
               for i, r in enumerate(load_dataset("gsm8k").select(limit=8))]
    script = tmp_path / "s.json"
    script.write_text(json.dumps({r.prompt: [a] for r, a in zip(load_dataset("gsm8k").select(limit=8), answers)}))
    cli = CliRunner()
    common = ["bench", "-d", "gsm8k", "--limit", "8", "-b", "scripted", "-m", str(script), "-q", "--no-plots",
              "--run-dir", str(tmp_path / "run")]
    r = cli.invoke(app, [*common, "--out", str(tmp_path / "local")])
    assert r.exit_code == 0, r.output
    r = cli.invoke(app, [*common, "--out", str(tmp_path / "ray"), "--executor", "ray", "--workers", "2",
                         "--batch-size", "3", "--ray-address", cluster])
    assert r.exit_code == 0, r.output
    assert r.stdout.startswith("gsm8k · cot · records=8 · accuracy 62.5%")
    assert rows(tmp_path / "ray") == rows(tmp_path / "local")
    assert summary(tmp_path / "ray") == summary(tmp_path / "local")


@pytest.mark.slow
def test_embedded_model_on_two_ray_workers_equals_local(cluster, tmp_path):
    from nlrl.bench.executors import BackendRecipe

    recipe = BackendRecipe("embedded", options={"n_ctx": 2048, "n_threads": 1})
    ds = load_dataset("gsm8k").select(limit=4)
    kw = dict(max_tokens=48, seed=0)
    with recipe.build() as local:
        BenchRunner(local, progress=False, plots=False, **kw).run(ds, tmp_path / "local")
    with RayExecutor(recipe, workers=2, batch_size=1) as ex:
        s = BenchRunner(None, executor=ex, progress=False, plots=False, **kw).run(ds, tmp_path / "ray")
    assert s["n"] == 4 and s["config"]["backend"] == "embedded"
    assert rows(tmp_path / "ray", prefix_cache=True) == rows(tmp_path / "local", prefix_cache=True)
    assert summary(tmp_path / "ray", prefix_cache=True) == summary(tmp_path / "local", prefix_cache=True)


def test_a_sweep_on_ray_equals_the_same_sweep_run_locally(cluster, tmp_path):
    from nlrl.bench.sweep import SweepSpec, run_sweep

    spec = SweepSpec.from_dict({"limit": 6, "temperature": 0.7, "grid": {
        "dataset": "gsm8k", "strategy": ["cot", "self-consistency"], "n": [3], "seed": [0, 1]}})
    local = run_sweep(spec, tmp_path / "local", backend=scripted(6)(), progress=False, plots=False)
    with RayExecutor(scripted(6), workers=2, batch_size=2) as ex:
        remote = run_sweep(spec, tmp_path / "ray", executor=ex, progress=False, plots=False)
        again = run_sweep(spec, tmp_path / "ray", executor=ex, progress=False, plots=False)
    assert [r.path.name for r in remote] == [r.path.name for r in local] == [c.name for c in spec.cells]
    for a, b in zip(local, remote):
        assert rows(b.path) == rows(a.path) and summary(b.path) == summary(a.path)
    assert not any(r.skipped for r in remote) and all(r.skipped for r in again)
    cells = json.loads((tmp_path / "ray" / "sweep.json").read_text())["cells"]
    assert [c["n"] for c in cells] == [6] * 4


@pytest.mark.slow
def test_ray_workers_as_http_clients_of_a_shared_llama_cpp_server_equal_local(cluster, llama_server, tmp_path):
    from helpers.servers import MODEL_ALIAS

    from nlrl.bench.executors import BackendRecipe

    recipe = BackendRecipe("openai", MODEL_ALIAS, {"base_url": llama_server.url, "timeout_s": 120})
    ds = load_dataset("gsm8k").select(limit=3)
    kw = dict(max_tokens=24, seed=0)
    served = llama_server.completions_served()
    with recipe.build() as local:
        BenchRunner(local, progress=False, plots=False, **kw).run(ds, tmp_path / "local")
    with RayExecutor(recipe, workers=2, batch_size=1) as ex:
        s = BenchRunner(None, executor=ex, progress=False, plots=False, **kw).run(ds, tmp_path / "ray")
    assert s["n"] == 3 and s["config"]["backend"] == "openai" and s["config"]["model"] == MODEL_ALIAS
    assert rows(tmp_path / "ray") == rows(tmp_path / "local")
    assert summary(tmp_path / "ray") == summary(tmp_path / "local")
    assert llama_server.completions_served() - served == 6   # the workers' requests reached the server
