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
    ExecutorError,
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
from .rewards import RewardModel, get_reward
from .tasks.classify import Classification, classify
from .tasks.extract import extract_answer
from .tasks.task import Task
from .verifiers import Verdict, Verifier, get_verifier

# The benchmark layer pulls in numpy, sqlite and plotting helpers: imported on first use.
_LAZY = {"BenchRunner": "nlrl.bench", "Record": "nlrl.bench", "load_dataset": "nlrl.bench"}


def __getattr__(name: str) -> object:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'nlrl' has no attribute {name!r}")

__version__ = "0.1.0"

__all__ = [
    "Backend",
    "BackendConnectionError",
    "BackendError",
    "BackendResponseError",
    "BenchRunner",
    "Budget",
    "Classification",
    "Completion",
    "ConfigError",
    "DatasetError",
    "ExecutorError",
    "Generation",
    "Gist",
    "ModelLoadError",
    "NLRLError",
    "ParseError",
    "Pipeline",
    "PromptError",
    "Record",
    "RewardModel",
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
    "Verdict",
    "Verifier",
    "VerifierError",
    "__version__",
    "classify",
    "extract_answer",
    "get_reward",
    "get_strategy",
    "get_verifier",
    "load_backend",
    "load_dataset",
]
