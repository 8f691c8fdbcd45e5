"""Maze rules: layouts, moves, walls and borders, the goal, the step limit, BFS optimum."""

from __future__ import annotations

import random

import pytest

from nlrl._exceptions import ConfigError, UnknownNameError
from nlrl.gpi.envs import LAYOUTS, Layout, MazeEnv, MazeState, make_env
from nlrl.gpi.policy import OptimalMazePolicy
from nlrl.gpi.loop import EpisodePlan, play

RNG = random.Random(0)


def test_double_t_is_the_official_10x13_layout():
    lay = LAYOUTS["double_t"]
    assert lay.shape == (10, 13) and lay.goal == (8, 6)
    assert len(lay.free_cells()) == 26
    env = MazeEnv()
    assert env.layout is lay and len(env.start_states()) == 25  # every free cell but the goal


@pytest.mark.parametrize("name", sorted(LAYOUTS))
def test_every_layout_is_walled_and_connected(name):
    env = MazeEnv(name)
    lay = env.layout
    h, w = lay.shape
    assert all(ch == "#" for ch in lay.rows[0] + lay.rows[-1])
    assert all(r[0] == "#" and r[-1] == "#" for r in lay.rows)
    assert set(env.shortest_distances()) == set(lay.free_cells())


def test_legal_move_costs_one_and_moves():
    env = MazeEnv()
    s = MazeState(5, 4)
    step = env.step(s, "right", RNG)
    assert step.state == MazeState(5, 5, 1) and step.reward == -1.0 and not step.done and not step.illegal
    assert env.step(s, "move left", RNG).state.cell == (5, 3)


@pytest.mark.parametrize("action,reason", [("up", "wall"), ("down", "wall"), ("jump", "not a direction")])
def test_illegal_move_costs_four_and_stays(action, reason):
    env = MazeEnv()
    s = MazeState(5, 4, 3)
    step = env.step(s, action, RNG)
    assert step.illegal and step.reward == -4.0
    assert step.state == MazeState(5, 4, 4)  # stayed, but the step counts
    assert reason in step.info["reason"]


def test_out_of_bounds_is_illegal():
    env = MazeEnv(Layout("open", ("..", ".."), goal=(1, 1)))
    step = env.step(MazeState(0, 0), "up", RNG)
    assert step.illegal and step.state.cell == (0, 0) and step.reward == -4.0
    assert env.legal_actions(MazeState(0, 0)) == ["down", "right"]


def test_reaching_goal_gives_zero_and_ends():
    env = MazeEnv()
    step = env.step(MazeState(7, 6), "down", RNG)
    assert step.done and step.reward == 0.0 and step.info["goal"]
    assert env.is_terminal(step.state) and env.legal_actions(step.state) == []
    assert env.describe_outcome(step) == "reached the goal"
    with pytest.raises(ConfigError):
        env.step(step.state, "up", RNG)


def test_step_limit_ends_the_episode():
    env = MazeEnv(max_steps=3)
    s = env.reset(RNG, MazeState(1, 1))
    rewards = []
    for _ in range(3):
        step = env.step(s, "left", RNG)  # a wall: -4 each time
        rewards.append(step.reward)
        s = step.state
    assert step.done and step.info["truncated"] and rewards == [-4.0] * 3
    assert "step limit" in env.describe_outcome(step)


def test_default_step_limit_is_100():
    env = MazeEnv()
    s = MazeState(1, 1)
    n = 0
    while not env.is_terminal(s):
        step = env.step(s, "up", RNG)
        s, n = step.state, n + 1
    assert n == 100 and step.done


def test_walls_and_description():
    env = MazeEnv()
    assert env.walls(MazeState(2, 3)) == ["left", "right"]
    assert env.legal_actions(MazeState(2, 3)) == ["up", "down"]
    assert env.describe(MazeState(2, 3)) == "Goal: row 8, column 6. You: row 2, column 3. Walls: left, right."


def test_bfs_distances_and_optimal_return():
    env = MazeEnv()
    d = env.shortest_distances()
    assert d[(8, 6)] == 0 and d[(7, 6)] == 1 and d[(5, 6)] == 3
    assert d[(1, 1)] == 2 + 4 + 3 + 3  # right x2, down x4, right x3, down x3
    assert env.optimal_return(MazeState(7, 6)) == 0.0      # one move, reward 0
    assert env.optimal_return(MazeState(1, 1)) == -11.0    # 12 moves: 11 x -1 then 0
    assert env.optimal_action(MazeState(1, 1)) == "right"
    assert env.optimal_action(MazeState(5, 3)) == "right"


def test_optimal_policy_reaches_the_optimum():
    env = MazeEnv()
    plan = EpisodePlan.build(env, 25, 1, 0)
    log = play(env, OptimalMazePolicy(), plan)
    m = env.summarize(log.episodes)
    assert m["success"] == 1.0 and m["illegal_moves"] == 0
    assert m["avg_reward"] == env.optimal_avg_reward()


def test_reset_accepts_positions_and_rejects_walls():
    env = MazeEnv()
    assert env.reset(RNG, (1, 1)) == MazeState(1, 1, 0)
    assert env.state_key(MazeState(1, 1, 42)) == MazeState(1, 1, 0)
    for bad in ((0, 0), (8, 6), "x"):
        with pytest.raises(ConfigError):
            env.reset(RNG, bad)
    assert env.reset(random.Random(3)) in env.start_states()


def test_make_env_variants_and_errors():
    assert make_env("maze:umaze").layout.name == "umaze"
    with pytest.raises(UnknownNameError, match="maze:double_t"):
        make_env("tictactoe:big")
    with pytest.raises(UnknownNameError, match="tictactoe"):
        make_env("chess")
    with pytest.raises(ConfigError, match="known: double_t"):
        MazeEnv("nope")
    with pytest.raises(ConfigError):
        MazeEnv(max_steps=0)
    with pytest.raises(ConfigError):
        Layout("bad", ("#.", "##"), goal=(0, 0))


def test_normalize_action():
    env = MazeEnv()
    assert env.normalize_action("Move Up\n") == "up"
    assert env.normalize_action("right") == "right"
    assert env.normalize_action("north") is None and env.normalize_action(3) is None


def test_goal_direction_in_words_and_in_the_learned_policy_prompt_only_with_hints():
    from nlrl.backends.scripted import ScriptedBackend
    from nlrl.gpi.llm import JsonCaller
    from nlrl.gpi.policy import LanguagePolicy

    env = make_env("maze:umaze")  # goal (3, 3)
    assert env.goal_direction(MazeState(2, 1)) == "1 row down, 2 columns right"
    assert env.goal_direction(MazeState(1, 3)) == "2 rows down"
    assert env.goal_direction(MazeState(3, 1)) == "2 columns right"
    assert make_env("maze:double_t").goal_direction(MazeState(1, 8)) == "7 rows down, 2 columns left"
    assert env.position_words(MazeState(2, 1)) == "row 2, column 1"
    caller = JsonCaller(ScriptedBackend())
    hinted = LanguagePolicy(caller, env, kind="learn_policy", hints=True).prompt(MazeState(2, 1))
    plain = LanguagePolicy(caller, env, kind="learn_policy").prompt(MazeState(2, 1))
    assert "The goal is 1 row down, 2 columns right from you.\nOpen moves: up, down\n" in hinted
    assert plain == hinted.replace(" The goal is 1 row down, 2 columns right from you.", "")
    # the two U-maze cells that differ only by a column number now differ in words
    assert "2 columns right" in hinted and "The goal is 1 row down from you." in \
        LanguagePolicy(caller, env, kind="learn_policy", hints=True).prompt(MazeState(2, 3))
    # other prompts and environments are untouched
    assert LanguagePolicy(caller, env, hints=True).prompt(MazeState(2, 1)) == \
        LanguagePolicy(caller, env).prompt(MazeState(2, 1))
    ttt = make_env("tictactoe")
    assert ttt.prompt_context(ttt.reset(random.Random(0))) == {} and ttt.learn_defaults == {}
