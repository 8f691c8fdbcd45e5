"""Backends: one protocol (:class:`Backend`), a registry of engines, and a loader.

``load_backend("embedded")`` runs Gemma 3 270M in-process; ``"scripted"`` replays outputs (the
test double); ``"openai"`` talks to OpenAI-compatible servers; ``"hf"`` runs transformers.
"""

from __future__ import annotations

from typing import Any

from .._registry import Registry
from .base import (
    Backend,
    Completion,
    FinishReason,
    Generation,
    SamplingParams,
    TokenCallback,
    TokenEvent,
    TokenObserver,
    Usage,
    WrappedBackend,
)
from .scripted import ScriptedBackend

BACKENDS: Registry[Any] = Registry("backend")
BACKENDS.register("embedded", "nlrl.backends.llama:LlamaCppBackend")
BACKENDS.register("llama", "nlrl.backends.llama:LlamaCppBackend")
BACKENDS.register("scripted", "nlrl.backends.scripted:_scripted_from_model")
BACKENDS.register("openai", "nlrl.backends.openai:OpenAIBackend")
BACKENDS.register("hf", "nlrl.backends.hf:HFBackend")


def load_backend(name: str = "embedded", model: str | None = None, **options: Any) -> Backend:
    """Build the backend registered as ``name``; ``model`` is its model path or id."""
    factory = BACKENDS.get(name)
    return factory(model, **options)


__all__ = [
    "BACKENDS",
    "Backend",
    "Completion",
    "FinishReason",
    "Generation",
    "SamplingParams",
    "ScriptedBackend",
    "TokenCallback",
    "TokenEvent",
    "TokenObserver",
    "Usage",
    "WrappedBackend",
    "load_backend",
]
