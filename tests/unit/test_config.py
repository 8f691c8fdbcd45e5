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
