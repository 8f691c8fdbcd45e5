"""`nlrl gpi` reads the same settings as every command: flags over NLRL_* over nlrl.toml."""

import pytest
from typer.testing import CliRunner

from nlrl import ConfigError
from nlrl.cli import app

runner = CliRunner()


@pytest.fixture
def loads(monkeypatch):
    """What gpi asks the backend registry for; the load itself is stopped there."""
    import os

    import nlrl.cli.options as options

    for name in [k for k in os.environ if k.startswith("NLRL_")]:  # only what each test sets
        monkeypatch.delenv(name)
    calls = []

    def record(name, model=None, **kw):
        calls.append((name, model, kw))
        raise ConfigError("stopped at the load")

    monkeypatch.setattr(options, "load_backend", record)
    return calls


def test_gpi_honours_nlrl_settings(tmp_path, loads, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("NLRL_THREADS", "1")
    monkeypatch.setenv("NLRL_N_CTX", "2048")
    monkeypatch.setenv("NLRL_MODEL", str(tmp_path / "m.gguf"))
    monkeypatch.setenv("NLRL_RUN_DIR", str(tmp_path / "logs"))
    r = runner.invoke(app, ["gpi", "--env", "tictactoe", "--out", str(tmp_path / "out")])
    assert r.exit_code == 1 and r.stderr == "error: stopped at the load\n"
    assert loads == [("embedded", str(tmp_path / "m.gguf"), {"n_ctx": 2048, "n_threads": 1})]
    assert (tmp_path / "logs" / "nlrl.log").is_file()  # and logs where the others do


def test_gpi_flags_beat_the_environment_and_the_config_file(tmp_path, loads, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "nlrl.toml").write_text('threads = 3\nbackend = "embedded"\n')
    r = runner.invoke(app, ["gpi", "--env", "tictactoe", "--out", str(tmp_path / "out"),
                            "--run-dir", str(tmp_path / "logs")])
    assert r.exit_code == 1 and loads[-1][2]["n_threads"] == 3
    monkeypatch.setenv("NLRL_THREADS", "2")
    runner.invoke(app, ["gpi", "--env", "tictactoe", "--out", str(tmp_path / "out"), "--run-dir", str(tmp_path)])
    assert loads[-1][2]["n_threads"] == 2
    runner.invoke(app, ["gpi", "--env", "tictactoe", "--out", str(tmp_path / "out"), "--threads", "4",
                        "--run-dir", str(tmp_path)])
    assert loads[-1][2]["n_threads"] == 4


@pytest.mark.parametrize("env, value, needle", [
    ("NLRL_THREADS", "0", "threads"),
    ("NLRL_BACKEND", "nope", "unknown backend 'nope'"),
])
def test_bad_settings_fail_before_any_model_call(tmp_path, loads, monkeypatch, env, value, needle):
    monkeypatch.setenv(env, value)
    r = runner.invoke(app, ["gpi", "--env", "tictactoe", "--out", str(tmp_path / "out"), "--run-dir", str(tmp_path)])
    assert r.exit_code == 1 and r.stderr.startswith("error: ") and r.stderr.count("\n") == 1
    assert needle in r.stderr


@pytest.mark.parametrize("args, needle", [
    (["--temperature", "-1"], "temperature=-1"),
    (["--max-tokens", "0"], "max_tokens=0"),
    (["--retries", "-1"], "--retries must be >= 0"),
])
def test_bad_sampling_flags_fail_before_loading(tmp_path, loads, args, needle):
    r = runner.invoke(app, ["gpi", "--env", "tictactoe", "--out", str(tmp_path / "out"), "--run-dir", str(tmp_path),
                            *args])
    assert r.exit_code == 1 and needle in r.stderr and loads == []
