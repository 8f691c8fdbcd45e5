"""A reward written outside nlrl plugs in through the declared extension points alone."""

from __future__ import annotations

import pickle

import pytest

from nlrl import ConfigError, ScriptedBackend, UnknownNameError, VerifierError
from nlrl.rewards import (REWARDS, ProcessReward, RewardModel, RewardSpec, as_reward, checked_step_scores,
                          get_reward, parse_spec)
from nlrl.strategies import Budget, Run
from nlrl.strategies.beam import BeamSearch
from nlrl.strategies.best_of_n import BestOfN
from nlrl.tasks.task import Task


class LengthReward(ProcessReward):
    """Third-party: reads log-probabilities and siblings through ``observe``, scores steps."""

    name = "length"
    needs_logprobs = True

    def __init__(self, arg=None, *, backend=None, scale=10):
        self.arg, self.backend, self.scale = arg, backend, scale
        self.seen: list[tuple[str, tuple | None]] = []

    def observe(self, prompt, samples):
        from nlrl.rewards import observed

        self.seen += observed(samples)

    def score(self, prompt, output):
        return min(1.0, len(output) / (self.scale * 10))

    def score_steps(self, prompt, steps):
        return [min(1.0, len(s) / self.scale / 10) for s in steps]


@pytest.fixture
def registered():
    REWARDS.register("length", LengthReward)
    yield
    REWARDS._entries.pop("length", None)


def test_spec_passes_the_text_after_the_first_colon_to_the_factory(registered):
    assert parse_spec("length:http://h:8000/x") == ("length", "http://h:8000/x")
    r = get_reward("length:http://h:8000/x", backend="B", scale=3)
    assert (r.arg, r.backend, r.scale) == ("http://h:8000/x", "B", 3)
    with pytest.raises(UnknownNameError, match="length"):
        parse_spec("nope:x")
    with pytest.raises(ConfigError, match="nothing after the colon"):
        parse_spec("length:")
    with pytest.raises(ConfigError, match="takes no argument"):
        get_reward("judge:x", backend=ScriptedBackend([]))
    with pytest.raises(ConfigError, match="unexpected keyword"):
        get_reward("length", wrong=1)


def test_a_reward_spec_pickles_names_the_run_and_builds_on_the_runs_backend(registered):
    spec = RewardSpec.of("length:a", {"scale": 2, "unused": None})
    assert spec.name == "length:a scale=2"
    assert pickle.loads(pickle.dumps(spec)) == spec
    backend = ScriptedBackend(["x"])
    run = Run(Task.build("q", domain="math"), backend, reward=spec)
    assert isinstance(run.reward, LengthReward) and run.reward.backend is backend and run.reward.scale == 2


def test_only_reward_models_are_accepted():
    class Duck:
        def score(self, prompt, output):
            return 1.0

    with pytest.raises(ConfigError, match="subclass nlrl.rewards.RewardModel"):
        as_reward(Duck())

    class Outcome(RewardModel):
        def score(self, prompt, output):
            return 0.5

    with pytest.raises(VerifierError, match="does not score steps"):
        checked_step_scores(Outcome(), "q", ["a"])


def test_best_of_n_feeds_the_samples_with_logprobs_a_reward_declares_it_needs():
    reward = LengthReward(scale=10)
    outs = ["a.\nFinal Answer: 1\n", "a longer one.\nFinal Answer: 2\n"]
    backend = ScriptedBackend(outs, logprob=lambda tok: -0.5)
    res = BestOfN()(Task.build("q", domain="math"), backend, reward=reward, budget=Budget(n=2))
    assert res.answer == "2"
    assert all(r.params.logprobs for r in backend.requests)
    assert [t for t, _ in reward.seen] == outs and all(lps for _, lps in reward.seen)


def test_beam_takes_a_third_party_process_reward():
    reward = LengthReward(scale=10)
    backend = ScriptedBackend(lambda prompt, i: "Final Answer: 3\n", logprob=lambda tok: -0.1)
    res = BeamSearch(2, max_steps=1)(Task.build("q", domain="math"), backend, reward=reward, budget=Budget(n=2))
    assert res.answer == "3"
    assert reward.seen  # observed the step candidates before scoring them
