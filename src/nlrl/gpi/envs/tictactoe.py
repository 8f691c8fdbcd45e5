"""TicTacToe 3x3 against a fixed opponent, as in the NLRL paper's TicTacToe experiments.

Cells are numbered 1-9, row by row; the board shows an empty cell by its number. The agent's
action is a cell. The opponent's reply is part of the environment's dynamics, so from the
agent's point of view one ``step`` is "my move, then theirs". Opponents:

* ``random``: a uniformly random empty cell (stochastic);
* ``first``: the first empty cell in 1..9 order (deterministic).

Rewards: +1 win, 0 draw, -1 loss, given when the game ends. An illegal move (an occupied cell or
not a cell) forfeits the game: reward -1, flagged ``illegal``.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any, Hashable, Sequence

from ..._exceptions import ConfigError
from .base import Episode, Step, TextEnv

LINES = ((0, 1, 2), (3, 4, 5), (6, 7, 8),   # rows
         (0, 3, 6), (1, 4, 7), (2, 5, 8),   # columns
         (0, 4, 8), (2, 4, 6))              # diagonals
OPPONENTS = ("first", "random")
CELLS = tuple(str(i) for i in range(1, 10))


@dataclass(frozen=True)
class Board:
    """Nine cells ("", "X" or "O") and the result once decided ("X", "O", "draw")."""

    cells: tuple[str, ...] = ("",) * 9
    result: str | None = None
    forfeit: bool = False

    def empty(self) -> list[str]:
        return [str(i + 1) for i, c in enumerate(self.cells) if not c]

    def place(self, cell: str, mark: str) -> "Board":
        i = int(cell) - 1
        cells = self.cells[:i] + (mark,) + self.cells[i + 1:]
        return Board(cells, _result(cells))

    def render(self) -> str:
        shown = [c or str(i + 1) for i, c in enumerate(self.cells)]
        return "\n".join(" | ".join(shown[r * 3:r * 3 + 3]) for r in range(3))


def winner(cells: Sequence[str]) -> str | None:
    """The mark owning a full row, column or diagonal, if any."""
    for a, b, c in LINES:
        if cells[a] and cells[a] == cells[b] == cells[c]:
            return cells[a]
    return None


def _result(cells: Sequence[str]) -> str | None:
    w = winner(cells)
    if w:
        return w
    return "draw" if all(cells) else None


class TicTacToeEnv(TextEnv):
    """TicTacToe where the agent plays ``agent_mark`` against ``opponent``."""

    name = "tictactoe"
    metric_keys = ("win", "draw", "loss")
    primary_metric = "win"

    def __init__(self, opponent: str = "random", *, agent_mark: str = "X", agent_first: bool = True) -> None:
        if opponent not in OPPONENTS:
            raise ConfigError(f"unknown tictactoe opponent {opponent!r}; known: {', '.join(OPPONENTS)}")
        if agent_mark not in ("X", "O"):
            raise ConfigError(f"agent_mark must be 'X' or 'O', got {agent_mark!r}")
        self.opponent = opponent
        self.agent_mark = agent_mark
        self.opponent_mark = "O" if agent_mark == "X" else "X"
        self.agent_first = agent_first

    @property
    def actions(self) -> tuple[str, ...]:
        return CELLS

    def opponent_move(self, board: Board, rng: random.Random) -> str:
        empty = board.empty()
        return empty[0] if self.opponent == "first" else rng.choice(empty)

    def reset(self, rng: random.Random, start: Hashable | None = None) -> Board:
        if start is not None:
            if not isinstance(start, Board):
                raise ConfigError(f"a tictactoe start must be a Board, got {type(start).__name__}")
            return start
        board = Board()
        if not self.agent_first:
            board = board.place(self.opponent_move(board, rng), self.opponent_mark)
        return board

    def start_states(self) -> list[Hashable]:
        if self.agent_first:
            return [Board()]
        if self.opponent == "first":
            return [Board().place("1", self.opponent_mark)]
        return [Board().place(c, self.opponent_mark) for c in CELLS]

    def legal_actions(self, state: Hashable) -> list[str]:
        board = _board(state)
        return [] if board.result else board.empty()

    def is_terminal(self, state: Hashable) -> bool:
        return _board(state).result is not None

    def normalize_action(self, raw: object) -> str | None:
        if isinstance(raw, bool):
            return None
        if isinstance(raw, int):
            raw = str(raw)
        if isinstance(raw, str) and raw.strip() in CELLS:
            return raw.strip()
        return None

    def step(self, state: Hashable, action: str, rng: random.Random) -> Step:
        board = _board(state)
        if board.result:
            raise ConfigError("the game is over; reset before stepping")
        cell = self.normalize_action(action)
        if cell is None or cell not in board.empty():
            lost = Board(board.cells, self.opponent_mark, forfeit=True)
            why = "not a cell" if cell is None else f"cell {cell} is taken"
            return Step(lost, -1.0, True, illegal=True, info={"reason": why})
        board = board.place(cell, self.agent_mark)
        if board.result:
            return Step(board, self._reward(board), True)
        reply = self.opponent_move(board, rng)
        board = board.place(reply, self.opponent_mark)
        return Step(board, self._reward(board), board.result is not None, info={"opponent_action": reply})

    def _reward(self, board: Board) -> float:
        if board.result == self.agent_mark:
            return 1.0
        if board.result == self.opponent_mark:
            return -1.0
        return 0.0

    # ---- text -------------------------------------------------------------------------------

    def describe(self, state: Hashable) -> str:
        board = _board(state)
        if board.result:
            head = f"Board (game over: {self._result_words(board)})"
        else:
            head = f"Board (you are {self.agent_mark}, {self.agent_mark} to move)"
            return f"{head}:\n{board.render()}\nEmpty cells: {', '.join(board.empty())}"
        return f"{head}:\n{board.render()}"

    def describe_step(self, state: Hashable, action: str, step: Step) -> str:
        if step.illegal:
            return f"{self.agent_mark} plays {action}: illegal ({step.info.get('reason')}), {self.agent_mark} forfeits"
        text = f"{self.agent_mark} plays {action}"
        reply = step.info.get("opponent_action")
        if reply:
            text += f", {self.opponent_mark} plays {reply}"
        return text

    def describe_outcome(self, step: Step) -> str:
        return self._result_words(_board(step.state))

    def _result_words(self, board: Board) -> str:
        if board.forfeit:
            return f"{self.agent_mark} forfeits with an illegal move, {self.opponent_mark} wins"
        if board.result == "draw":
            return "draw"
        return f"{board.result} wins"

    def summarize(self, episodes: Sequence[Episode]) -> dict[str, float]:
        n = len(episodes)
        wins = sum(1 for e in episodes if e.final and e.final.done and e.total_reward > 0)
        losses = sum(1 for e in episodes if e.final and e.final.done and e.total_reward < 0)
        draws = n - wins - losses
        frac = (lambda k: round(k / n, 4)) if n else (lambda k: 0.0)
        return {"win": frac(wins), "draw": frac(draws), "loss": frac(losses), "episodes": n,
                "illegal_moves": sum(e.illegal_moves for e in episodes)}

    # ---- learning GPI ---------------------------------------------------------------------------

    def state_to_json(self, state: Hashable) -> Any:
        board = _board(state)
        return {"cells": "".join(c or "." for c in board.cells), "result": board.result, "forfeit": board.forfeit}

    def state_from_json(self, data: Any) -> Board:
        try:
            cells = tuple("" if c == "." else c for c in data["cells"])
            if len(cells) != 9 or any(c not in ("", "X", "O") for c in cells):
                raise ValueError(data["cells"])
            return Board(cells, data.get("result"), bool(data.get("forfeit", False)))
        except (KeyError, TypeError, ValueError) as exc:
            raise ConfigError(f"not a saved tictactoe state: {data!r}") from exc

    def returns_words(self, returns: Sequence[float]) -> str:
        n = len(returns)
        if not n:
            return "no games"
        wins = round(100 * sum(1 for r in returns if r > 0) / n)
        losses = round(100 * sum(1 for r in returns if r < 0) / n)
        return f"wins {wins}%, loses {losses}%"

    def value_words(self, value: float) -> str:
        return "winning" if value > 0.5 else "losing" if value < -0.5 else "even"

    def value_number(self, words: str) -> float | None:
        return {"winning": 1.0, "even": 0.0, "losing": -1.0}.get(str(words).strip().lower())

    def action_note(self, state: Hashable, action: str) -> str:
        board = _board(state)
        if action not in board.empty():
            return "illegal"
        if board.place(action, self.agent_mark).result == self.agent_mark:
            return "wins at once"
        if board.place(action, self.opponent_mark).result == self.opponent_mark:
            return f"blocks {self.opponent_mark}"
        return ""


def _board(state: Hashable) -> Board:
    if not isinstance(state, Board):
        raise ConfigError(f"not a tictactoe state: {state!r}")
    return state
