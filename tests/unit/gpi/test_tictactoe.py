"""TicTacToe rules: wins on rows/columns/diagonals, draws, illegal moves, opponents, reset."""

from __future__ import annotations

import random

import pytest

from nlrl._exceptions import ConfigError
from nlrl.gpi.envs import Board, TicTacToeEnv, make_env, winner
from nlrl.gpi.envs.base import Episode


def board(text: str) -> Board:
    """'XO.X.....' style: X, O or '.' for empty, row by row."""
    return Board(tuple("" if ch == "." else ch for ch in text))  # a game still in play


@pytest.mark.parametrize("line", [(0, 1, 2), (3, 4, 5), (6, 7, 8), (0, 3, 6), (1, 4, 7), (2, 5, 8), (0, 4, 8), (2, 4, 6)])
def test_every_line_wins(line):
    cells = [""] * 9
    for i in line:
        cells[i] = "O"
    assert winner(cells) == "O"


def test_no_winner_on_broken_line():
    assert winner(["X", "X", "O", "", "", "", "", "", ""]) is None


@pytest.mark.parametrize("cell,line", [("3", "row"), ("7", "column"), ("9", "diagonal"), ("7", "anti")])
def test_agent_win_ends_game_with_reward_one(cell, line):
    env = TicTacToeEnv("first")
    starts = {
        "row": "XX.OO....",       # X completes 1-2-3
        "column": "XO.XO....",    # X completes 1-4-7
        "diagonal": "XO.OX....",  # X completes 1-5-9
        "anti": "OOX.X....",      # X completes 3-5-7
    }
    step = env.step(board(starts[line]), cell, random.Random(0))
    assert step.done and step.reward == 1.0 and not step.illegal
    assert step.state.result == "X"
    assert "opponent_action" not in step.info  # the game ended before the reply


def test_opponent_win_is_a_loss():
    env = TicTacToeEnv("first")
    # O holds 1 and 2; X plays 9; the first-legal opponent plays 3 and wins the top row
    step = env.step(board("OO..X.X.."), "9", random.Random(0))
    assert step.info["opponent_action"] == "3"
    assert step.done and step.reward == -1.0 and step.state.result == "O"


def test_draw_when_board_fills():
    env = TicTacToeEnv("first")
    # X O X / X O O / O X .  -> X plays 9: full board, no line
    step = env.step(board("XOXXOOOX."), "9", random.Random(0))
    assert step.done and step.reward == 0.0 and step.state.result == "draw"
    assert env.describe_outcome(step) == "draw"


def test_draw_after_opponent_fills_board():
    env = TicTacToeEnv("first")
    # X O X / X O O / . X .  X plays 9, O must take 7: full, no line
    step = env.step(board("XOXXOO.X."), "9", random.Random(0))
    assert step.info["opponent_action"] == "7"
    assert step.done and step.state.result == "draw" and step.reward == 0.0


@pytest.mark.parametrize("action,reason", [("1", "taken"), ("0", "not a cell"), ("ten", "not a cell")])
def test_illegal_move_forfeits(action, reason):
    env = TicTacToeEnv("random")
    step = env.step(board("X...O...."), action, random.Random(0))
    assert step.illegal and step.done and step.reward == -1.0
    assert reason in step.info["reason"]
    assert env.is_terminal(step.state)
    assert "forfeits" in env.describe_outcome(step)


def test_first_opponent_takes_first_empty_cell():
    env = TicTacToeEnv("first")
    step = env.step(Board(), "1", random.Random(0))
    assert step.info["opponent_action"] == "2"
    assert step.state.cells[:2] == ("X", "O")


def test_random_opponent_is_seeded_and_legal():
    env = TicTacToeEnv("random")
    replies = {env.step(Board(), "5", random.Random(s)).info["opponent_action"] for s in range(30)}
    assert replies <= set("12346789") and len(replies) > 3
    a = env.step(Board(), "5", random.Random(7)).info["opponent_action"]
    assert a == env.step(Board(), "5", random.Random(7)).info["opponent_action"]


def test_reset_to_any_state_and_opponent_first():
    env = TicTacToeEnv("first", agent_first=False)
    start = env.reset(random.Random(0))
    assert start.cells[0] == "O" and env.legal_actions(start) == list("23456789")
    mid = board("XO.......")
    assert env.reset(random.Random(0), mid) is mid
    with pytest.raises(ConfigError):
        env.reset(random.Random(0), "not a board")


def test_step_after_game_over_is_an_error():
    env = TicTacToeEnv("first")
    done = env.step(board("XX.OO...."), "3", random.Random(0)).state
    assert env.legal_actions(done) == []
    with pytest.raises(ConfigError):
        env.step(done, "6", random.Random(0))


def test_normalize_action_is_strict():
    env = TicTacToeEnv()
    assert env.normalize_action(5) == "5" and env.normalize_action(" 7 ") == "7"
    for bad in ("cell 5", "10", "0", True, None, 5.0, ""):
        assert env.normalize_action(bad) is None


def test_describe_shows_numbers_for_empty_cells():
    env = TicTacToeEnv()
    text = env.describe(board("X...O...."))
    assert "X | 2 | 3\n4 | O | 6\n7 | 8 | 9" in text
    assert "Empty cells: 2, 3, 4, 6, 7, 8, 9" in text


def test_summarize_counts_outcomes():
    env = make_env("tictactoe", opponent="first")
    rng = random.Random(0)
    win = env.step(board("XX.OO...."), "3", rng)
    loss = env.step(board("X...O...."), "1", rng)
    draw = env.step(board("XOXXOOOX."), "9", rng)
    eps = [Episode(None, (None,), ("3",), (s,)) for s in (win, loss, draw, win)]
    m = env.summarize(eps)
    assert (m["win"], m["draw"], m["loss"]) == (0.5, 0.25, 0.25)
    assert m["illegal_moves"] == 1


def test_unknown_opponent_lists_known():
    with pytest.raises(ConfigError, match="first, random"):
        TicTacToeEnv("minimax")
