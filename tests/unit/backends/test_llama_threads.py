"""The embedded engine's thread count when none is given: NLRL_THREADS, else one per core."""

import os

import pytest

from nlrl import ConfigError
from nlrl.backends.llama import default_threads


def test_nlrl_threads_sets_the_default(monkeypatch):
    monkeypatch.setenv("NLRL_THREADS", "1")
    assert default_threads() == 1
    monkeypatch.setenv("NLRL_THREADS", " 3 ")
    assert default_threads() == 3


def test_without_it_one_thread_per_core(monkeypatch):
    monkeypatch.delenv("NLRL_THREADS", raising=False)
    assert default_threads() == max(1, os.cpu_count() or 1)
    monkeypatch.setenv("NLRL_THREADS", "")
    assert default_threads() == max(1, os.cpu_count() or 1)


@pytest.mark.parametrize("raw", ["0", "-2", "two", "1.5"])
def test_a_bad_value_is_a_config_error(monkeypatch, raw):
    monkeypatch.setenv("NLRL_THREADS", raw)
    with pytest.raises(ConfigError, match="NLRL_THREADS must be a positive integer"):
        default_threads()
