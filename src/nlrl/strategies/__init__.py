"""Reasoning strategies behind one interface, and their registry.

>>> sorted(STRATEGIES.names())[:3]
['adaptive-self-consistency', 'auto', 'beam']
"""

from __future__ import annotations

from typing import Any

from .._registry import Registry
from .base import Budget, Run, Strategy, StrategyResult, TraceEvent
from .cot import ChainOfThought
from .voting import AnswerGroup, Vote, majority

STRATEGIES: Registry[Any] = Registry("strategy")
STRATEGIES.register("cot", ChainOfThought)
STRATEGIES.register("self-consistency", "nlrl.strategies.self_consistency:SelfConsistency")
STRATEGIES.register("adaptive-self-consistency", "nlrl.strategies.self_consistency:AdaptiveSelfConsistency")
STRATEGIES.register("best-of-n", "nlrl.strategies.best_of_n:BestOfN")
STRATEGIES.register("weighted-best-of-n", "nlrl.strategies.best_of_n:WeightedBestOfN")
STRATEGIES.register("self-refine", "nlrl.strategies.self_refine:SelfRefine")
STRATEGIES.register("divide-and-conquer", "nlrl.strategies.divide_conquer:DivideAndConquer")
STRATEGIES.register("beam", "nlrl.strategies.beam:BeamSearch")
STRATEGIES.register("auto", "nlrl.strategies.compute_optimal:Auto")
STRATEGIES.register("program-aided", "nlrl.strategies.program_aided:ProgramAided")
STRATEGIES.register("deepconf", "nlrl.strategies.deepconf:DeepConf")
STRATEGIES.register("public-tests", "nlrl.strategies.public_tests:PublicTests")
STRATEGIES.register("dvts", "nlrl.strategies.dvts:DVTS")
STRATEGIES.register("mcts", "nlrl.strategies.mcts:MCTS")
STRATEGIES.register("particle-filter", "nlrl.strategies.particle_filter:ParticleFilter")


def get_strategy(name: str, **options: Any) -> Strategy:
    """Instantiate the strategy registered as ``name`` (unknown names list the known ones)."""
    return STRATEGIES.create(name, **options)


__all__ = [
    "AnswerGroup",
    "Budget",
    "ChainOfThought",
    "Run",
    "STRATEGIES",
    "Strategy",
    "StrategyResult",
    "TraceEvent",
    "Vote",
    "get_strategy",
    "majority",
]
