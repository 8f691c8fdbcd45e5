"""Natural Language RL (Feng et al., arXiv 2411.14251): policy, value and improvement in language.

* envs: TicTacToe and grid mazes, resettable to any state (``make_env``).
* :class:`LanguagePolicy` pi_L, :class:`LanguageValue` V^L, :class:`MonteCarloEstimator` and
  :class:`TDEstimator` for Q^L, :class:`ImprovementOperator` I.
* :class:`GPIRun`: decision-time or iterative language GPI with per-iteration metrics.
* :class:`DatasetGPI`: the policy is a solver instruction, improved from language evaluations
  of its failures and kept only when it scores better on held-out data.
"""

from __future__ import annotations

from .dataset import DatasetGPI, known_datasets
from .envs import ENVS, LAYOUTS, Board, MazeEnv, MazeState, TextEnv, TicTacToeEnv, known_envs, make_env
from .improvement import Improvement, ImprovementOperator
from .llm import Answer, JsonCaller, Ledger
from .loop import (
    DecisionTimeAgent,
    EpisodePlan,
    GPIConfig,
    GPIRun,
    StateImprover,
    TableEntry,
    metric_series,
    play,
    play_episode,
)
from .parsing import first_json_object, parse_json_answer
from .policy import LanguagePolicy, OptimalMazePolicy, PolicyDecision, RandomPolicy, TablePolicy
from .templates import PromptSet, load_prompts
from .value import Evaluation, LanguageValue, MonteCarloEstimator, QEstimate, TDEstimator, play_segment

__all__ = [
    "Answer",
    "Board",
    "DatasetGPI",
    "DecisionTimeAgent",
    "ENVS",
    "EpisodePlan",
    "Evaluation",
    "GPIConfig",
    "GPIRun",
    "Improvement",
    "ImprovementOperator",
    "JsonCaller",
    "LAYOUTS",
    "LanguagePolicy",
    "LanguageValue",
    "Ledger",
    "MazeEnv",
    "MazeState",
    "MonteCarloEstimator",
    "OptimalMazePolicy",
    "PolicyDecision",
    "PromptSet",
    "QEstimate",
    "RandomPolicy",
    "StateImprover",
    "TDEstimator",
    "TableEntry",
    "TablePolicy",
    "TextEnv",
    "TicTacToeEnv",
    "first_json_object",
    "known_datasets",
    "known_envs",
    "load_prompts",
    "make_env",
    "metric_series",
    "parse_json_answer",
    "play",
    "play_episode",
    "play_segment",
]
