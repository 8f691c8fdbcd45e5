from __future__ import annotations

import math
import random

import pytest

from nlrl import ConfigError, ScriptedBackend
from nlrl.strategies import Budget, get_strategy
from nlrl.strategies.beam import Beam
from nlrl.strategies.particle_filter import ParticleFilter, resample, softmax

from helpers.search import StepReward, TableReward, step_backend, wordy_script
from helpers.strategies import math_task


def test_registered():
    assert isinstance(get_strategy("particle-filter"), ParticleFilter)


def test_softmax_weights():
    assert softmax([0.0, math.log(3.0)]) == pytest.approx([0.25, 0.75])
    assert softmax([0.9, 0.1], 0.5) == pytest.approx([1 / (1 + math.exp(-1.6)), math.exp(-1.6) / (1 + math.exp(-1.6))])
    assert softmax([5.0, 5.0, 5.0]) == pytest.approx([1 / 3] * 3)
    assert softmax([1000.0, 0.0]) == pytest.approx([1.0, 0.0])  # no overflow
    with pytest.raises(ConfigError):
        softmax([1.0], 0.0)


def test_resampling_follows_the_weights():
    picks = resample([0.1, 0.6, 0.3], 20000, random.Random(0))
    shares = [picks.count(i) / len(picks) for i in range(3)]
    assert shares == pytest.approx([0.1, 0.6, 0.3], abs=0.02)
    assert resample([0.0, 1.0, 0.0], 5, random.Random(1)) == [1] * 5
    assert resample([0.2, 0.8], 10, random.Random(4)) == resample([0.2, 0.8], 10, random.Random(4))


def test_population_is_weighted_resampled_and_votes():
    b = step_backend()
    res = ParticleFilter(n=4, softmax_temperature=0.1)(math_task(), b, reward=StepReward(), budget=Budget(n=4, seed=5))
    assert res.answer == "7"
    rounds = [e for e in res.trace if e.kind == "particles"]
    first = rounds[0].data["particles"]
    assert [p["text"] for p in first] == ["good start", "bad start", "good start", "bad start"]
    # weights are softmax(score / 0.1) over the population
    w_good, w_bad = softmax([0.9, 0.1, 0.9, 0.1], 0.1)[:2]
    assert [p["weight"] for p in first] == pytest.approx([w_good, w_bad] * 2, abs=1e-6)
    rs = [e for e in res.trace if e.kind == "resample"]
    assert rs[0].data["weights"] == pytest.approx([w_good, w_bad] * 2, abs=1e-6)
    assert rs[0].data["picks"] == random.Random(5).choices(range(4), weights=[w_good, w_bad] * 2, k=4)
    # the new slots copy their parents and record them
    second = rounds[1].data["particles"]
    assert [p["parent"] for p in second] == rs[0].data["picks"]
    assert res.trace[-1].kind == "stop" and res.extra["finished"] == 4


def test_copies_of_a_particle_get_different_steps():
    # two copies of one path share one call of n=2, so they are two samples, not one repeated
    b = step_backend()
    ParticleFilter(n=2, softmax_temperature=0.01)(math_task(), b, reward=TableReward({"good start": 1.0, "bad start": 0.0}),
                                                   budget=Budget(n=2, seed=0))
    second = [r for r in b.requests if r.prompt.endswith("good start\n")]
    assert second and second[0].params.n == 2


@pytest.mark.parametrize("cap", [30, 64, 200])
def test_budget_is_never_exceeded(cap):
    res = ParticleFilter(n=4, step_tokens=8, max_steps=50)(
        math_task(), ScriptedBackend(wordy_script), reward=StepReward(),
        budget=Budget(n=4, max_tokens=8, max_total_tokens=cap, seed=1))
    assert 0 < res.usage.completion_tokens <= cap
    assert res.extra["stopped"] == "token budget spent"
    assert any(e.kind == "fallback" for e in res.trace)


def test_seeded_runs_repeat_and_seeds_differ():
    def go(seed):
        res = ParticleFilter(n=6)(math_task(), step_backend(), reward=StepReward(), budget=Budget(n=6, seed=seed))
        return [e.data["picks"] for e in res.trace if e.kind == "resample"]

    assert go(11) == go(11)
    assert any(go(s) != go(11) for s in (12, 13, 14))


@pytest.mark.parametrize("aggregation, heavier", [("last", 0), ("min", 1), ("prod", 1), ("mean", 1)])
def test_aggregation_sets_the_weights(aggregation, heavier):
    a = Beam(("a1", "Final Answer: 1"), (0.1, 0.9), True)
    b = Beam(("b1", "Final Answer: 2"), (0.6, 0.7), True)
    pf = ParticleFilter(aggregation=aggregation)
    w = pf.weights([a, b])
    assert w == pytest.approx(softmax([a.value(aggregation), b.value(aggregation)]))
    assert max(range(2), key=lambda i: w[i]) == heavier


def test_bad_options():
    with pytest.raises(ConfigError, match="softmax_temperature"):
        ParticleFilter(softmax_temperature=0)
    with pytest.raises(ConfigError, match="aggregation"):
        ParticleFilter(aggregation="max")
    with pytest.raises(ConfigError, match="select"):
        ParticleFilter(select="x")
