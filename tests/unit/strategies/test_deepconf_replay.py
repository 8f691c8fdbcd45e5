"""The dev-set replay of benchmarks/deepconf_dev.py reproduces DeepConf online exactly: on the
scripted backend, replaying recorded samples gives the real strategy's answer, generated tokens
and samples drawn, for every kind of option the parameter search varies."""

from __future__ import annotations

import importlib
import itertools
import sys
from pathlib import Path

import pytest

from nlrl.backends.scripted import ScriptedBackend
from nlrl.gists import GistStream
from nlrl.strategies import Budget
from nlrl.strategies.deepconf import DeepConf

from helpers.strategies import math_task

BENCH = Path(__file__).resolve().parents[3] / "benchmarks"

SURE = "2 + 2 = 4.\nFinal Answer: 4\n"
SURE5 = "2 + 3 = 5.\nFinal Answer: 5\n"
UNSURE = "um um um um um um um um um um Final Answer: 5\n"
SHAKY = "2 + 2 = um 4.\nFinal Answer: 4\n"
LP = {"um": -3.0, "5": -0.4}


def logprob(tok: str) -> float:
    return LP.get(tok.strip(), -0.1)


@pytest.fixture(scope="module")
def dev():
    if not (BENCH / "deepconf_dev.py").exists():
        pytest.skip("benchmarks/ is not in this checkout")
    sys.path.insert(0, str(BENCH))
    try:
        yield importlib.import_module("deepconf_dev")
    finally:
        sys.path.remove(str(BENCH))


SCRIPTS = [
    [SURE, UNSURE, SURE5, SURE],
    [UNSURE, SURE, SHAKY, SURE5, UNSURE, SURE],
    [SURE5, SURE, UNSURE, SHAKY],
    [SURE, SURE, SURE5],
]
CONFIGS = [
    dict(warmup=2, eta=10.0, window=4, consensus=0.95, consensus_votes=2, warmup_consensus=False),
    dict(warmup=3, eta=90.0, window=2, consensus=0.6, consensus_votes=2, warmup_consensus=True),
    dict(warmup=4, eta=50.0, window=4, consensus=0.8, consensus_votes=1, warmup_consensus=True),
    dict(warmup=2, eta=90.0, window=6, consensus=None, consensus_votes=1, warmup_consensus=False),
    dict(warmup=3, eta=30.0, window=2, consensus=0.7, consensus_votes=3, warmup_consensus=False),
]


@pytest.mark.parametrize("script, cfg, n", list(itertools.product(SCRIPTS, CONFIGS, [6, 8])))
def test_replay_equals_the_strategy(dev, script, cfg, n):
    task = math_task("What is 2 + 2?")
    recorded = dev.record_samples(ScriptedBackend(script, cycle=True, logprob=logprob), task, n, seed=3,
                                  max_tokens=24, temperature=0.7)
    row = {"question": task.question, "samples": recorded}
    answer, tokens, drawn = dev.replay(row, n, warmup=cfg["warmup"], eta=cfg["eta"], window=cfg["window"],
                                       tau=cfg["consensus"], votes=cfg["consensus_votes"],
                                       warmup_consensus=cfg["warmup_consensus"])
    res = DeepConf(**cfg)(task, ScriptedBackend(script, cycle=True, logprob=logprob),
                          budget=Budget(n=n, max_tokens=24, temperature=0.7, seed=3), on_token=GistStream("math"))
    assert (answer, tokens, drawn) == (res.answer, res.usage.completion_tokens, res.extra["samples"])


def test_events_are_placed_on_their_tokens(dev):
    # events carry the token they released: a token held back (no event) shifts the positions
    lps = [-0.1, -0.2, -0.3, -0.4]
    events = [(7, -0.1, False), (9, -0.3, False), (None, None, False), (10, -0.4, True)]
    assert dev.event_positions([7, 8, 9, 10], lps, events) == [[1, False], [3, False], [4, True]]
    with pytest.raises(ValueError):
        dev.event_positions([7], [-0.1], [(8, -0.1, False)])


def test_dev_problems_share_no_question_with_the_test_set(dev):
    import deepconf  # benchmarks/deepconf.py: the test problems

    test = {q for q, _ in deepconf.problems(dev.TEST_PROBLEMS)}
    qs = [q for q, _ in dev.dev_problems(120)]
    assert len(set(qs)) == 120 and not set(qs) & test
    assert dev.dev_problems(120) == dev.dev_problems(120)


def test_the_strategys_defaults_are_the_dev_set_choice():
    import json

    path = BENCH / "results" / "deepconf_dev.json"
    if not path.exists():
        pytest.skip("benchmarks/results/deepconf_dev.json is not in this checkout")
    chosen = json.loads(path.read_text())["chosen"]
    cfg, d = chosen["config"], DeepConf()
    assert (d.mode, d.eta, d.window, d.consensus, d.consensus_votes, d.warmup_consensus) == (
        "online", cfg["eta"], cfg["window"], cfg["consensus"], cfg["consensus_votes"], cfg["warmup_consensus"])
    assert {str(n): d.warmup_size(n) for n in (8, 16)} == chosen["warmup_sizes"]
