import logging

import pytest

from nlrl import ConfigError
from nlrl.config import load_settings, setup_logging


def test_precedence_defaults_file_env_args(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert load_settings().backend == "embedded"
    (tmp_path / "nlrl.toml").write_text('backend = "openai"\nmax_tokens = 99\n')
    s = load_settings()
    assert (s.backend, s.max_tokens) == ("openai", 99)
    monkeypatch.setenv("NLRL_MAX_TOKENS", "77")
    assert load_settings().max_tokens == 77
    assert load_settings(max_tokens=5, backend=None).max_tokens == 5


def test_explicit_config_file_and_errors(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("NLRL_CONFIG", str(tmp_path / "missing.toml"))
    with pytest.raises(ConfigError, match="NLRL_CONFIG"):
        load_settings()
    cfg = tmp_path / "c.toml"
    cfg.write_text("n = 'many'\n")
    monkeypatch.setenv("NLRL_CONFIG", str(cfg))
    with pytest.raises(ConfigError, match="n"):
        load_settings()
    monkeypatch.delenv("NLRL_CONFIG")
    monkeypatch.setenv("NLRL_LOG_LEVEL", "chatty")
    with pytest.raises(ConfigError, match="log_level"):
        load_settings()


def test_logging_goes_to_run_dir(tmp_path):
    path = setup_logging(tmp_path / "run", "INFO")
    logging.getLogger("nlrl.test").info("hello run dir")
    for h in logging.getLogger("nlrl").handlers:
        h.flush()
    assert "hello run dir" in path.read_text()


def test_the_default_run_dir_is_the_user_cache_dir_not_the_cwd(tmp_path, monkeypatch):
    from nlrl.config import default_run_dir

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("NLRL_RUN_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))  # platformdirs' Linux rule
    assert default_run_dir() == tmp_path / "xdg" / "nlrl"
    assert load_settings().run_dir == tmp_path / "xdg" / "nlrl"
    monkeypatch.setenv("NLRL_RUN_DIR", str(tmp_path / "mine"))
    assert load_settings().run_dir == tmp_path / "mine"
    assert load_settings(run_dir=tmp_path / "flag").run_dir == tmp_path / "flag"


def test_a_command_run_anywhere_leaves_no_log_behind(tmp_path, monkeypatch):
    import json

    from typer.testing import CliRunner

    from nlrl.cli import app

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("NLRL_RUN_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    script = tmp_path / "s.json"
    script.write_text(json.dumps(["Final Answer: 4\n"]))
    r = CliRunner().invoke(app, ["solve", "What is 2 + 2?", "--json", "-b", "scripted", "-m", str(script)])
    assert r.exit_code == 0, r.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.json", "xdg"]
    assert "solved domain=math" in (tmp_path / "xdg" / "nlrl" / "nlrl.log").read_text()


def test_stop_logging_detaches_the_file(tmp_path):
    from nlrl.config import stop_logging

    path = setup_logging(tmp_path / "run", "INFO")
    stop_logging(path)
    logging.getLogger("nlrl.test").info("after stop")
    assert "after stop" not in path.read_text()
    stop_logging(path)  # twice is harmless


def test_threads_must_be_positive(monkeypatch):
    monkeypatch.setenv("NLRL_THREADS", "0")
    with pytest.raises(ConfigError, match="threads"):
        load_settings()
    monkeypatch.setenv("NLRL_THREADS", "2")
    assert load_settings().threads == 2


def test_an_unwritable_default_log_dir_is_no_log_but_a_chosen_one_is_an_error(tmp_path, monkeypatch):
    from nlrl.config import start_logging

    blocker = tmp_path / "file"
    blocker.write_text("")
    monkeypatch.delenv("NLRL_RUN_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocker))  # cannot hold a directory, for root too
    assert start_logging(load_settings()) is None
    with pytest.raises(ConfigError, match="cannot create run directory"):
        start_logging(load_settings(run_dir=blocker / "run"))
    monkeypatch.setenv("NLRL_RUN_DIR", str(blocker / "run"))
    with pytest.raises(ConfigError, match="cannot create run directory"):
        start_logging(load_settings())
