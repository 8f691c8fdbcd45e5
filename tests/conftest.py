"""Shared fixtures. The embedded model is loaded once per test session (about a second)."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def embedded():
    """The real embedded backend (Gemma 3 270M through llama.cpp)."""
    from nlrl.backends import load_backend

    backend = load_backend("embedded", n_ctx=2048)
    yield backend
    backend.close()
