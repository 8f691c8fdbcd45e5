"""Fixtures of the CLI tests."""

from __future__ import annotations

import pytest


@pytest.fixture
def loads(monkeypatch):
    """Every backend the CLI constructs, as (name, model, options), recorded (and built for real)."""
    import nlrl.cli.options as options

    calls = []
    real = options.load_backend

    def record(name, model=None, **kw):
        calls.append((name, model, kw))
        return real(name, model, **kw)

    monkeypatch.setattr(options, "load_backend", record)
    return calls
