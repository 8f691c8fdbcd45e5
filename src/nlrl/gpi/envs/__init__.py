"""Text environments for GPI, in a registry keyed by name.

``make_env("tictactoe", opponent="first")``, ``make_env("maze")`` (the 10x13 double-T maze) or
``make_env("maze:umaze")``: the part after ``:`` picks a maze layout.
"""

from __future__ import annotations

from typing import Any

from ..._exceptions import UnknownNameError
from ..._registry import Registry
from .base import Episode, Step, TextEnv
from .maze import LAYOUTS, Layout, MazeEnv, MazeState
from .tictactoe import OPPONENTS, Board, TicTacToeEnv, winner

ENVS: Registry[Any] = Registry("environment")
ENVS.register("tictactoe", TicTacToeEnv)
ENVS.register("maze", MazeEnv)


def make_env(spec: str, **options: Any) -> TextEnv:
    """Build the environment named by ``spec`` ("maze:LAYOUT" selects a maze layout)."""
    name, _, variant = spec.partition(":")
    if variant and name != "maze":
        raise UnknownNameError("environment", spec, known_envs())
    factory = ENVS.get(name)
    if variant:
        options = {**options, "layout": variant}
    return factory(**options)


def known_envs() -> list[str]:
    """Every environment spec ``make_env`` accepts."""
    return ENVS.names() + [f"maze:{name}" for name in sorted(LAYOUTS)]


__all__ = [
    "ENVS",
    "LAYOUTS",
    "OPPONENTS",
    "Board",
    "Episode",
    "Layout",
    "MazeEnv",
    "MazeState",
    "Step",
    "TextEnv",
    "TicTacToeEnv",
    "known_envs",
    "make_env",
    "winner",
]
