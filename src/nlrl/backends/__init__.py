"""Backends: one protocol (:class:`Backend`), a registry of engines, and a loader.

``load_backend("embedded")`` runs Gemma 3 270M in-process; ``"scripted"`` replays outputs (the
test double); ``"openai"`` talks to OpenAI-compatible servers; ``"hf"`` runs transformers.

A new backend is one module: a :class:`Backend` subclass that declares what it needs and can do
(``settings_options``: the settings its constructor takes; ``concurrent_requests``: how many
samples a benchmark keeps in flight; ``load``: how a model name becomes an instance), registered
by class, lazily: ``BACKENDS.register("mine", "mypkg.mine:MyBackend")`` (a plain factory
``(model, **options) -> Backend`` is accepted too, and gets the base class's defaults). The CLI, the benchmark
runner and Ray workers then build and drive it without naming it.
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
BACKENDS.register("scripted", "nlrl.backends.scripted:ScriptedBackend")
BACKENDS.register("openai", "nlrl.backends.openai:OpenAIBackend")
BACKENDS.register("hf", "nlrl.backends.hf:HFBackend")


def load_backend(name: str = "embedded", model: str | None = None, **options: Any) -> Backend:
    """Build the backend registered as ``name``; ``model`` is its model path or id."""
    entry = BACKENDS.get(name)
    if isinstance(entry, type) and issubclass(entry, Backend):
        return entry.load(model, **options)
    return entry(model, **options)


def backend_class(name: str) -> type[Backend]:
    """The class registered as ``name`` (imports its module, loads no model); for a plain factory
    function registered instead of a class, :class:`Backend`, whose defaults then describe it."""
    entry = BACKENDS.get(name)
    return entry if isinstance(entry, type) and issubclass(entry, Backend) else Backend


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
    "backend_class",
    "load_backend",
]
