"""GPI with the real embedded model (Gemma 3 270M): a couple of decisions, end to end.

What a 270M base model answers is not asserted (it is weak); what is asserted is that every
answer is either a strictly parsed, valid JSON answer or an explicit, counted fallback, and that
the usage of every call is accounted for.
"""

from __future__ import annotations

import random

import pytest

from nlrl.gpi import (
    GPIConfig,
    ImprovementOperator,
    JsonCaller,
    LanguagePolicy,
    MazeEnv,
    MazeState,
    TDEstimator,
    LanguageValue,
)
from nlrl.gpi.loop import StateImprover

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def one_thread():
    """The embedded model on one llama.cpp thread: on shared cores two threads that wait on each
    other are several times slower (measured: ~20 s vs ~70 s for one policy call under load)."""
    from nlrl.backends import load_backend

    backend = load_backend("embedded", n_ctx=2048, n_threads=1)
    yield backend
    backend.close()


def test_one_gpi_decision_in_the_maze(one_thread):
    embedded = one_thread
    env = MazeEnv()
    caller = JsonCaller(embedded, max_tokens=32, retries=1, seed=0)
    policy = LanguagePolicy(caller, env)
    state = MazeState(7, 6)  # in the goal corridor: down reaches the goal, up goes back

    decision = policy.act(env, state, random.Random(0))
    assert decision.action in env.actions
    assert decision.source in ("model", "fallback")

    # one evaluate -> improve step over two candidates, TD with one variation of depth 0
    value = LanguageValue(caller, env)
    improver = StateImprover(env, policy, TDEstimator(caller, env, value, variations=1, depth=0),
                             ImprovementOperator(caller, env), GPIConfig(mask="all"))
    entry = improver.improve(state, policy, random.Random(0), iteration=1)
    assert [q.action for q in entry.estimates] == env.legal_actions(state) == ["up", "down"]
    assert entry.action in ("up", "down")
    down = entry.estimates[1]
    assert down.returns == (0.0,) and "reached the goal" in down.trajectories[0]
    for q in entry.estimates:
        assert q.evaluation.source in ("model", "failed", "terminal")
        assert q.evaluation.final  # a text, never an empty string

    led = caller.ledger
    total = led.total()
    # policy, V^L of the non-terminal end state, one TD aggregation per candidate, the improvement
    assert total.calls >= 1 + 1 + 2 + 1
    assert total.prompt_tokens > 0 and total.completion_tokens > 0
    # every failed attempt is counted, and every request ended in an answer or a counted fallback
    for name, stats in led.roles.items():
        assert stats.parse_failures <= stats.calls, name
        assert stats.fallbacks <= stats.requests, name
