"""Grid mazes with the layouts of the NLRL paper's maze experiments (from LMRL-Gym / mazelab).

The agent moves ``up``/``down``/``left``/``right``. Rewards follow the paper's "standard reward":
-1 per step, 0 on the step that reaches the goal, at most ``max_steps`` (100) steps. An illegal
move (into a wall, out of the grid, or not a direction) costs -4 and the agent stays put.

(The official code charged -4 only for answers that were not one of the four moves and -1 for
bumping into a wall; here both are illegal moves and cost -4, as the issue specifies.)

``shortest_distances`` is a BFS from the goal; it gives the optimal policy and the optimum of
the metric (average reward over start positions), the upper line of every maze plot.
"""

from __future__ import annotations

import random
from collections import deque
from dataclasses import dataclass
from typing import Any, Hashable, Sequence

from ..._exceptions import ConfigError
from .base import Episode, Step, TextEnv

MOVES = {"up": (-1, 0), "down": (1, 0), "left": (0, -1), "right": (0, 1)}
ILLEGAL_REWARD = -4.0
STEP_REWARD = -1.0
GOAL_REWARD = 0.0


@dataclass(frozen=True)
class Layout:
    """A maze: rows of '#' (wall) and '.' (free), and the goal cell (row, column)."""

    name: str
    rows: tuple[str, ...]
    goal: tuple[int, int]
    note: str = ""

    def __post_init__(self) -> None:
        if len({len(r) for r in self.rows}) != 1:
            raise ConfigError(f"maze {self.name!r} has rows of different lengths")
        if not self.free(self.goal):
            raise ConfigError(f"maze {self.name!r}: goal {self.goal} is not a free cell")

    @property
    def shape(self) -> tuple[int, int]:
        return len(self.rows), len(self.rows[0])

    def free(self, cell: tuple[int, int]) -> bool:
        r, c = cell
        h, w = self.shape
        return 0 <= r < h and 0 <= c < w and self.rows[r][c] == "."

    def free_cells(self) -> list[tuple[int, int]]:
        h, w = self.shape
        return [(r, c) for r in range(h) for c in range(w) if self.rows[r][c] == "."]


# Layouts transcribed from the official repository's maze definitions. double_t and umaze carry
# the official goals; the official code defines no goal for medium and large, so ours is noted.
LAYOUTS: dict[str, Layout] = {
    "double_t": Layout("double_t", (
        "#############",
        "#.....#.....#",
        "###.#####.###",
        "###.#####.###",
        "###.#####.###",
        "###.......###",
        "######.######",
        "######.######",
        "######.######",
        "#############",
    ), goal=(8, 6)),
    "umaze": Layout("umaze", (
        "#####",
        "#...#",
        "#.#.#",
        "#.#.#",
        "#####",
    ), goal=(3, 3)),
    "medium": Layout("medium", (
        "########",
        "#..#...#",
        "#..#.#.#",
        "##....##",
        "###.#..#",
        "#....#.#",
        "#..#...#",
        "########",
    ), goal=(6, 6), note="goal chosen by nlrl; the official code defines none"),
    "large": Layout("large", (
        "#########",
        "#.....#.#",
        "#.#.#.#.#",
        "#...#...#",
        "#.###.###",
        "#.......#",
        "###.###.#",
        "#...#...#",
        "#.#.#####",
        "#.#.#...#",
        "#.....#.#",
        "#########",
    ), goal=(10, 7), note="goal chosen by nlrl; the official code defines none"),
}


@dataclass(frozen=True)
class MazeState:
    row: int
    col: int
    steps: int = 0

    @property
    def cell(self) -> tuple[int, int]:
        return (self.row, self.col)


class MazeEnv(TextEnv):
    """A maze episode from any free cell to the layout's goal."""

    name = "maze"
    metric_keys = ("avg_reward", "success")
    primary_metric = "avg_reward"
    sweep_starts = True

    def __init__(self, layout: str | Layout = "double_t", *, max_steps: int = 100) -> None:
        if isinstance(layout, str):
            if layout not in LAYOUTS:
                raise ConfigError(f"unknown maze layout {layout!r}; known: {', '.join(sorted(LAYOUTS))}")
            layout = LAYOUTS[layout]
        if not isinstance(max_steps, int) or max_steps < 1:
            raise ConfigError(f"max_steps must be an integer >= 1, got {max_steps!r}")
        self.layout = layout
        self.max_steps = max_steps
        self._dist: dict[tuple[int, int], int] | None = None

    @property
    def actions(self) -> tuple[str, ...]:
        return tuple(MOVES)

    @property
    def goal(self) -> tuple[int, int]:
        return self.layout.goal

    def start_states(self) -> list[Hashable]:
        return [MazeState(r, c) for (r, c) in self.layout.free_cells() if (r, c) != self.goal]

    def reset(self, rng: random.Random, start: Hashable | None = None) -> MazeState:
        if start is None:
            return rng.choice(self.start_states())  # type: ignore[return-value]
        if isinstance(start, tuple) and len(start) == 2:
            start = MazeState(*start)
        if not isinstance(start, MazeState) or not self.layout.free(start.cell) or start.cell == self.goal:
            raise ConfigError(f"not a start position of maze {self.layout.name!r}: {start!r}")
        return MazeState(start.row, start.col, 0)

    def state_key(self, state: Hashable) -> MazeState:
        s = _state(state)  # the step count is not observed: the position is the state
        return MazeState(s.row, s.col, 0)

    def _target(self, state: MazeState, action: str) -> tuple[int, int]:
        dr, dc = MOVES[action]
        return (state.row + dr, state.col + dc)

    def legal_actions(self, state: Hashable) -> list[str]:
        s = _state(state)
        if self.is_terminal(s):
            return []
        return [a for a in MOVES if self.layout.free(self._target(s, a))]

    def is_terminal(self, state: Hashable) -> bool:
        s = _state(state)
        return s.cell == self.goal or s.steps >= self.max_steps

    def normalize_action(self, raw: object) -> str | None:
        if not isinstance(raw, str):
            return None
        text = raw.strip().lower()
        if text.startswith("move "):
            text = text[5:].strip()
        return text if text in MOVES else None

    def step(self, state: Hashable, action: str, rng: random.Random) -> Step:
        s = _state(state)
        if self.is_terminal(s):
            raise ConfigError("the episode is over; reset before stepping")
        move = self.normalize_action(action)
        target = self._target(s, move) if move else None
        steps = s.steps + 1
        if target is None or not self.layout.free(target):
            nxt = MazeState(s.row, s.col, steps)
            why = "not a direction" if move is None else "wall"
            return Step(nxt, ILLEGAL_REWARD, steps >= self.max_steps, illegal=True,
                        info={"reason": why, "truncated": steps >= self.max_steps})
        nxt = MazeState(target[0], target[1], steps)
        if target == self.goal:
            return Step(nxt, GOAL_REWARD, True, info={"goal": True})
        return Step(nxt, STEP_REWARD, steps >= self.max_steps, info={"truncated": steps >= self.max_steps})

    # ---- optimum ----------------------------------------------------------------------------

    def shortest_distances(self) -> dict[tuple[int, int], int]:
        """Moves from every reachable free cell to the goal (BFS)."""
        if self._dist is None:
            dist = {self.goal: 0}
            queue = deque([self.goal])
            while queue:
                cell = queue.popleft()
                for dr, dc in MOVES.values():
                    nxt = (cell[0] + dr, cell[1] + dc)
                    if self.layout.free(nxt) and nxt not in dist:
                        dist[nxt] = dist[cell] + 1
                        queue.append(nxt)
            self._dist = dist
        return self._dist

    def optimal_action(self, state: Hashable) -> str:
        """A move along a shortest path (ties broken in up/down/left/right order)."""
        s = _state(state)
        dist = self.shortest_distances()
        here = dist.get(s.cell)
        if here is None:
            raise ConfigError(f"cell {s.cell} cannot reach the goal")
        for a in MOVES:
            t = self._target(s, a)
            if dist.get(t) == here - 1:
                return a
        raise ConfigError(f"no move towards the goal from {s.cell}")

    def optimal_return(self, start: Hashable) -> float:
        """The best total reward from ``start``: -(d - 1) for a goal d moves away."""
        d = self.shortest_distances().get(_state(start).cell)
        if d is None or d > self.max_steps:
            return STEP_REWARD * self.max_steps
        return STEP_REWARD * (d - 1) + GOAL_REWARD

    def optimal_avg_reward(self, starts: Sequence[Hashable] | None = None) -> float:
        starts = list(starts) if starts is not None else self.start_states()
        return round(sum(self.optimal_return(s) for s in starts) / len(starts), 4)

    # ---- text -------------------------------------------------------------------------------

    def _where(self, cell: tuple[int, int]) -> str:
        return f"row {cell[0]}, column {cell[1]}"

    def walls(self, state: Hashable) -> list[str]:
        s = _state(state)
        names = {"up": "above", "down": "below", "left": "left", "right": "right"}
        return [names[a] for a in MOVES if not self.layout.free(self._target(s, a))]

    def describe(self, state: Hashable) -> str:
        s = _state(state)
        if s.cell == self.goal:
            return f"At the goal ({self._where(self.goal)})."
        walls = ", ".join(self.walls(s)) or "none"
        return f"Goal: {self._where(self.goal)}. You: {self._where(s.cell)}. Walls: {walls}."

    def describe_step(self, state: Hashable, action: str, step: Step) -> str:
        nxt = _state(step.state)
        if step.illegal:
            return f"move {action}: illegal ({step.info.get('reason')}), stay at {self._where(nxt.cell)}"
        return f"move {action} to {self._where(nxt.cell)}"

    def describe_outcome(self, step: Step) -> str:
        s = _state(step.state)
        if s.cell == self.goal:
            return "reached the goal"
        return f"step limit of {self.max_steps} reached"

    def summarize(self, episodes: Sequence[Episode]) -> dict[str, float]:
        n = len(episodes)
        if not n:
            return {"avg_reward": 0.0, "success": 0.0, "episodes": 0, "avg_steps": 0.0, "illegal_moves": 0}
        return {
            "avg_reward": round(sum(e.total_reward for e in episodes) / n, 4),
            "success": round(sum(1 for e in episodes if e.final and e.final.info.get("goal")) / n, 4),
            "episodes": n,
            "avg_steps": round(sum(len(e.steps) for e in episodes) / n, 2),
            "illegal_moves": sum(e.illegal_moves for e in episodes),
        }

    # ---- learning GPI ---------------------------------------------------------------------------

    # Cells that look alike (the U-maze's two columns, double-T's mirror halves) differ in the
    # observation only by a number; the trained model learns them apart when the goal's direction
    # is said in words (hints), its thought restates the position before the move (restate), and
    # training keeps the epoch whose greedy moves match the targets best (select_epoch).
    learn_defaults = {"hints": True, "restate": True, "select_epoch": True}

    def goal_direction(self, state: Hashable) -> str:
        """Where the goal lies from the agent, in words: "2 rows down, 1 column left"."""
        s = _state(state)
        dr, dc = self.goal[0] - s.row, self.goal[1] - s.col
        parts = []
        if dr:
            parts.append(f"{abs(dr)} row{'s' if abs(dr) > 1 else ''} {'down' if dr > 0 else 'up'}")
        if dc:
            parts.append(f"{abs(dc)} column{'s' if abs(dc) > 1 else ''} {'right' if dc > 0 else 'left'}")
        return ", ".join(parts) or "here"

    def prompt_context(self, state: Hashable) -> dict[str, Any]:
        return {"goal_direction": self.goal_direction(state)}

    def position_words(self, state: Hashable) -> str:
        return self._where(_state(state).cell)

    def state_to_json(self, state: Hashable) -> Any:
        s = _state(state)
        return [s.row, s.col, s.steps]

    def state_from_json(self, data: Any) -> MazeState:
        try:
            row, col, steps = (int(x) for x in data)
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"not a saved maze state: {data!r}") from exc
        return MazeState(row, col, steps)

    def returns_words(self, returns: Sequence[float]) -> str:
        if not returns:
            return "no rollouts"
        return f"reward {sum(returns) / len(returns):.0f}"

    def value_words(self, value: float) -> str:
        moves = max(1, round(-value) + 1)
        return "close" if moves <= 3 else "far" if moves <= 20 else "stuck"

    def value_number(self, words: str) -> float | None:
        # the middle of each band of value_words (moves to the goal: <= 3, <= 20, more)
        return {"close": -1.0, "far": -10.0, "stuck": -30.0}.get(str(words).strip().lower())

    def action_note(self, state: Hashable, action: str) -> str:
        s = _state(state)
        if action not in self.legal_actions(s):
            return "into a wall"
        return "reaches the goal" if self._target(s, action) == self.goal else ""


def _state(state: Hashable) -> MazeState:
    if not isinstance(state, MazeState):
        raise ConfigError(f"not a maze state: {state!r}")
    return state
