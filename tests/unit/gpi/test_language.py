"""The language pieces: pi_L, V^L, language MC and TD estimates, the improvement operator."""

from __future__ import annotations

import random

import pytest
from helpers.gpi import ScriptedModel, answer, candidates, first_empty

from nlrl.gpi.envs import Board, MazeEnv, MazeState, TicTacToeEnv
from nlrl.gpi.improvement import ImprovementOperator
from nlrl.gpi.llm import JsonCaller
from nlrl.gpi.policy import LanguagePolicy, RandomPolicy, TablePolicy
from nlrl.gpi.value import FAILED, Evaluation, LanguageValue, MonteCarloEstimator, QEstimate, TDEstimator

RNG = random.Random(0)


def board(text: str) -> Board:
    return Board(tuple("" if ch == "." else ch for ch in text))


# ---- pi_L ----------------------------------------------------------------------------------

def test_policy_returns_the_models_action_and_thought():
    m = ScriptedModel(policy=lambda q: answer("centre is strong", action=first_empty(q)))
    pol = LanguagePolicy(JsonCaller(m.backend), TicTacToeEnv())
    d = pol.act(pol.env, board("X...O...."), RNG)
    assert (d.action, d.thought, d.source) == ("2", "centre is strong", "model")
    assert "X | 2 | 3\n4 | O | 6" in m.backend.requests[0].prompt  # the state is in the prompt


def test_greedy_policy_is_memoized_per_observation_sampled_is_not():
    m = ScriptedModel(policy=lambda q: answer("go", action="down"))
    env = MazeEnv()
    pol = LanguagePolicy(JsonCaller(m.backend), env)
    pol.act(env, MazeState(2, 3, 0), RNG)
    pol.act(env, MazeState(2, 3, 7), RNG)  # same position, later step: same observation
    assert len(m.kinds) == 1
    sampled = LanguagePolicy(JsonCaller(m.backend, temperature=0.7), env)
    sampled.act(env, MazeState(2, 3), RNG)
    sampled.act(env, MazeState(2, 3), RNG)
    assert len(m.kinds) == 3


def test_non_actions_are_retried_then_a_counted_random_fallback():
    m = ScriptedModel(policy=lambda q: answer("hmm", action="fly"))
    caller = JsonCaller(m.backend, retries=2)
    env = MazeEnv()
    d = LanguagePolicy(caller, env).act(env, MazeState(2, 3), random.Random(1))
    assert d.source == "fallback" and d.action in env.legal_actions(MazeState(2, 3))
    s = caller.ledger.role("policy")
    assert (s.calls, s.parse_failures, s.fallbacks) == (3, 3, 1)


def test_failed_answers_are_kept_and_a_remembered_failure_redraws_its_move():
    m = ScriptedModel(policy=lambda q: 'X wins", "act')  # cut off before the action
    caller = JsonCaller(m.backend, retries=0, seed=3)
    env = TicTacToeEnv()
    pol = LanguagePolicy(caller, env, legal_only=True)
    state = board(".........")
    moves = {pol.act(env, state, RNG).action for _ in range(30)}
    assert len(m.kinds) == 1  # greedy: the failed answer is remembered, the model not asked again
    assert len(moves) > 1  # ... but every visit draws its own random legal move
    assert caller.ledger.role("policy").fallbacks == 1
    [failure] = pol.failures
    assert failure["texts"] == ['X wins", "act'] and "not closed" in failure["errors"][0]
    assert "Empty cells: 1, 2" in failure["state"]


def test_illegal_but_wellformed_action_goes_to_the_environment_rules():
    m = ScriptedModel(policy=lambda q: answer("take 5", action="5"))
    env = TicTacToeEnv()
    state = board("X...O....")
    d = LanguagePolicy(JsonCaller(m.backend), env).act(env, state, RNG)
    assert d.action == "5" and d.source == "model"  # not retried: it is an action
    step = env.step(state, d.action, RNG)
    assert step.illegal and step.reward == -1.0


def test_propose_ranks_distinct_legal_samples():
    outs = iter(["5", "5", "3", "1", "3", "5"])  # 1 is taken (illegal), 5 most frequent
    m = ScriptedModel(policy=lambda q: answer("t", action=next(outs)))
    pol = LanguagePolicy(JsonCaller(m.backend), TicTacToeEnv())
    cands, failed = pol.propose(board("X...O...."), k=2, samples=6)
    # 5 is taken too (O holds it): only 3 is legal
    assert cands == ["3"] and failed == 0
    assert len(m.backend.requests) == 1 and m.backend.requests[0].params.n == 6


def test_propose_top_k_by_frequency():
    outs = iter(["7", "3", "3", "9", "7", "3"])
    m = ScriptedModel(policy=lambda q: answer("t", action=next(outs)))
    cands, _ = LanguagePolicy(JsonCaller(m.backend), TicTacToeEnv()).propose(Board(), k=2, samples=6)
    assert cands == ["3", "7"]


def test_table_and_random_policies():
    env = MazeEnv()

    class Entry:
        action, thought = "left", "from the table"

    fallback = RandomPolicy()
    pol = TablePolicy({MazeState(5, 4): Entry()}, fallback)
    assert pol.act(env, MazeState(5, 4, 9), RNG).source == "table"
    d = pol.act(env, MazeState(2, 3), RNG)
    assert d.source == "random" and d.action in ("up", "down")


# ---- V^L, MC and TD --------------------------------------------------------------------------

def test_value_of_terminal_state_needs_no_model():
    m = ScriptedModel()
    env = TicTacToeEnv("first")
    step = env.step(board("XX.OO...."), "3", RNG)
    ev = LanguageValue(JsonCaller(m.backend), env).evaluate(step.state, step)
    assert ev == Evaluation("X wins", "X wins", "terminal") and m.kinds == []


def test_value_answer_and_failure():
    m = ScriptedModel(value=lambda q: answer("X threatens", final_evaluation="winning"))
    env = TicTacToeEnv()
    ev = LanguageValue(JsonCaller(m.backend), env).evaluate(board("X...O...."))
    assert (ev.thought, ev.final, ev.source) == ("X threatens", "winning", "model")
    bad = ScriptedModel(value=lambda q: "no json\n")
    ev = LanguageValue(JsonCaller(bad.backend, retries=1), env).evaluate(board("X...O...."))
    assert ev.source == "failed" and ev.final == FAILED and len(bad.kinds) == 2


def test_td_values_each_variation_end_and_aggregates():
    seen = {}

    def td(q):
        seen["td"] = q
        return answer("both fine", final_evaluation="good")

    m = ScriptedModel(value=lambda q: answer("near", final_evaluation="close"), td=td)
    env = MazeEnv()
    caller = JsonCaller(m.backend)
    est = TDEstimator(caller, env, LanguageValue(caller, env), variations=3, depth=1)
    q = est.estimate(MazeState(5, 4), "right", RandomPolicy(), random.Random(0))
    assert m.kinds == ["value"] * 3 + ["td"]
    assert q.action == "right" and q.evaluation.final == "good" and len(q.trajectories) == 3
    assert "Move: right" in seen["td"] and seen["td"].count("Then: close (near)") == 3
    assert all(t.startswith("move right to row 5, column 5; move ") for t in q.trajectories)


def test_td_variation_reaching_the_goal_is_valued_by_the_outcome():
    m = ScriptedModel(td=lambda q: answer("reached", final_evaluation="good"))
    env = MazeEnv()
    caller = JsonCaller(m.backend)
    q = TDEstimator(caller, env, LanguageValue(caller, env), variations=2, depth=2).estimate(
        MazeState(7, 6), "down", RandomPolicy(), RNG)
    assert m.kinds == ["td"]  # no value call: the end state is terminal
    assert q.returns == (0.0, 0.0) and "Then: reached the goal" in q.trajectories[0]


def test_mc_reads_full_rollouts_of_the_current_policy():
    seen = {}

    def mc(q):
        seen["q"] = q
        return answer("won after 3", final_evaluation="winning")

    m = ScriptedModel(policy=lambda q: answer("first", action=first_empty(q)), mc=mc)
    env = TicTacToeEnv("first")
    caller = JsonCaller(m.backend)
    est = MonteCarloEstimator(caller, env, rollouts=2, max_moves=9, first_random=False)
    q = est.estimate(Board(), "5", LanguagePolicy(caller, env), RNG)
    # both players take the first empty cell: identical rollouts ending in a draw
    assert q.trajectories[0] == ("X plays 5, O plays 1; X plays 2, O plays 3; X plays 4, O plays 6; "
                                 "X plays 7, O plays 8; X plays 9 -> draw")
    assert q.trajectories[1] == q.trajectories[0]
    assert q.returns == (0.0, 0.0) and q.evaluation.final == "winning"
    assert "1. X plays 5" in seen["q"] and "2. X plays 5" in seen["q"]
    assert m.kinds.count("mc") == 1


def test_mc_marks_unfinished_rollouts():
    m = ScriptedModel(mc=lambda q: answer("long", final_evaluation="neutral"))
    env = MazeEnv()
    q = MonteCarloEstimator(JsonCaller(m.backend), env, rollouts=1, max_moves=2).estimate(
        MazeState(1, 1), "right", RandomPolicy(), RNG)
    assert q.trajectories[0].endswith("(stopped after 2 moves)")


# ---- improvement operator ------------------------------------------------------------------

def q(action: str, final: str, source: str = "model") -> QEstimate:
    return QEstimate(action, Evaluation(f"why {action}", final, source), ("traj",), (-3.0,))


def test_improvement_chooses_among_candidates_from_evaluations_only():
    seen = {}

    def improve(text):
        seen["q"] = text
        best = [c for c in candidates(text) if f"Move {c}: good" in text][0]
        return answer("best evaluation", action=best)

    m = ScriptedModel(improve=improve)
    env = MazeEnv()
    imp = ImprovementOperator(JsonCaller(m.backend), env).choose(
        MazeState(5, 4), [q("left", "bad"), q("right", "good"), q("up", "x", "failed")])
    assert imp.action == "right" and imp.source == "model"
    assert "Move right: good (why right)" in seen["q"]
    assert "Move up: x\n" in seen["q"]           # a failed evaluation shows no thought
    assert "-3" not in seen["q"] and "traj" not in seen["q"]  # only the evaluations


def test_improvement_rejects_non_candidates_then_falls_back_counted():
    m = ScriptedModel(improve=lambda t: answer("I like down", action="down"))
    caller = JsonCaller(m.backend, retries=1)
    imp = ImprovementOperator(caller, MazeEnv()).choose(MazeState(5, 4), [q("left", "a"), q("right", "b")])
    assert imp.source == "fallback" and imp.action in ("left", "right")
    s = caller.ledger.role("improve")
    assert (s.calls, s.parse_failures, s.fallbacks) == (2, 2, 1)


def test_single_candidate_needs_no_call():
    m = ScriptedModel()
    imp = ImprovementOperator(JsonCaller(m.backend), MazeEnv()).choose(MazeState(5, 4), [q("left", "a")])
    assert imp.action == "left" and imp.source == "only" and m.kinds == []
    with pytest.raises(Exception):
        ImprovementOperator(JsonCaller(m.backend), MazeEnv()).choose(MazeState(5, 4), [])
