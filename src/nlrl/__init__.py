"""nlrl: test-time reasoning strategies, benchmark-faithful graders and Natural Language RL.

>>> from nlrl import Pipeline
>>> result = Pipeline().solve("What is 23 + 15?")      # embedded Gemma 3 270M  # doctest: +SKIP
>>> result.final_answer                                                     # doctest: +SKIP
'38'
"""

from __future__ import annotations

from ._exceptions import (
    BackendConnectionError,
    BackendError,
    BackendResponseError,
    ConfigError,
    DatasetError,
    ModelLoadError,
    NLRLError,
    ParseError,
    PromptError,
    RunStoreError,
    UnknownNameError,
    VerifierError,
)
from .backends import Backend, Completion, Generation, SamplingParams, ScriptedBackend, TokenEvent, Usage, load_backend
from .gists import Gist
from .pipeline import Pipeline, SolveResult
from .strategies import Budget, Strategy, StrategyResult, TraceEvent, get_strategy
from .tasks.extract import extract_answer
from .tasks.task import Task

__version__ = "0.1.0"

__all__ = [
    "Backend",
    "BackendConnectionError",
    "BackendError",
    "BackendResponseError",
    "Budget",
    "Completion",
    "ConfigError",
    "DatasetError",
    "Generation",
    "Gist",
    "ModelLoadError",
    "NLRLError",
    "ParseError",
    "Pipeline",
    "PromptError",
    "RunStoreError",
    "SamplingParams",
    "ScriptedBackend",
    "SolveResult",
    "Strategy",
    "StrategyResult",
    "Task",
    "TokenEvent",
    "TraceEvent",
    "UnknownNameError",
    "Usage",
    "VerifierError",
    "__version__",
    "extract_answer",
    "get_strategy",
    "load_backend",
]
