"""Reasoning strategies behind one interface, and their registry."""

from __future__ import annotations

from typing import Any

from .._registry import Registry
from .base import Budget, Run, Strategy, StrategyResult, TraceEvent
from .cot import ChainOfThought

STRATEGIES: Registry[Any] = Registry("strategy")
STRATEGIES.register("cot", ChainOfThought)


def get_strategy(name: str, **options: Any) -> Strategy:
    """Instantiate the strategy registered as ``name``."""
    return STRATEGIES.create(name, **options)


__all__ = [
    "Budget",
    "ChainOfThought",
    "Run",
    "STRATEGIES",
    "Strategy",
    "StrategyResult",
    "TraceEvent",
    "get_strategy",
]
