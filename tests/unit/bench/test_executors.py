"""The executor hook without a cluster: Ray stays unimported unless asked for, a missing Ray is a
one-line error naming the extra, and the batch solver keeps every sample. The Ray cluster tests
are in tests/integration/test_bench_ray.py."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

from nlrl import ConfigError, NLRLError, ScriptedBackend
from nlrl.bench import BenchRunner, load_dataset
from nlrl.bench.executors import BackendRecipe, RayExecutor, solve_batch


def run_py(code, tmp_path):
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                          cwd=tmp_path, timeout=120)


def test_a_local_bench_never_imports_ray(tmp_path):
    (tmp_path / "s.json").write_text(json.dumps([" Final Answer: 72\n"]))
    p = run_py("""
        import sys
        from nlrl.cli import main
        try:
            main(["bench", "-d", "gsm8k", "--limit", "1", "-b", "scripted", "-m", "s.json", "-o", "out",
                  "--run-dir", "run", "-q", "--no-plots"])
        except SystemExit as exc:
            assert not exc.code, exc.code
        print("ray" in sys.modules)
    """, tmp_path)
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip().splitlines()[-1] == "False"


def test_without_ray_installed_the_error_names_the_extra(tmp_path):
    (tmp_path / "s.json").write_text(json.dumps([" Final Answer: 72\n"]))
    p = run_py("""
        import sys
        sys.modules["ray"] = None          # as if Ray were not installed
        from nlrl.cli import main
        main(["bench", "-d", "gsm8k", "--limit", "1", "-b", "scripted", "-m", "s.json", "-o", "out",
              "--run-dir", "run", "-q", "--executor", "ray"])
    """, tmp_path)
    assert p.returncode == 1
    assert p.stderr.strip().splitlines()[-1] == "error: --executor ray needs Ray: pip install 'nlrl[ray]'"
    assert not (tmp_path / "out" / "results.jsonl").exists()


def test_bad_executor_settings_are_config_errors():
    with pytest.raises(ConfigError, match="workers must be >= 1"):
        RayExecutor(BackendRecipe("scripted"), workers=0)
    with pytest.raises(ConfigError, match="batch_size and depth"):
        RayExecutor(BackendRecipe("scripted"), batch_size=0)
    with pytest.raises(ConfigError, match="needs a backend, or an executor"):
        BenchRunner(None)


def test_solve_batch_records_a_crashing_sample_and_stops_at_a_backend_error():
    ds = load_dataset("gsm8k").select(limit=4)
    second = ds[1].prompt

    def answer(prompt, i):
        if second in prompt:
            raise RuntimeError("boom")
        return " Final Answer: 1\n"

    runner = BenchRunner(ScriptedBackend(answer), progress=False, plots=False)
    rows, stop = solve_batch(runner, list(ds))
    assert stop is None and [i for i, _ in rows] == [0, 1, 2, 3]
    assert rows[1][1].error == "RuntimeError: boom" and rows[1][1].id == ds[1].id
    # a scripted backend that runs out of outputs fails like a dead server: the batch stops there
    runner = BenchRunner(ScriptedBackend([" Final Answer: 1\n"]), progress=False, plots=False)
    rows, stop = solve_batch(runner, list(ds))
    assert [i for i, _ in rows] == [0] and type(stop).__name__ == "BackendError"


def test_a_recipe_builds_the_backend_its_flags_describe(tmp_path):
    (tmp_path / "s.json").write_text(json.dumps([" Final Answer: 72\n"]))
    backend = BackendRecipe("scripted", str(tmp_path / "s.json")).build()
    assert backend.name == "scripted" and backend.complete("q").completions[0].text == " Final Answer: 72\n"
    with pytest.raises(NLRLError, match="unknown backend"):  # as it would on the worker
        BackendRecipe("nope").build()
