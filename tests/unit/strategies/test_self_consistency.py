from __future__ import annotations

import pytest

from nlrl import ConfigError, ScriptedBackend
from nlrl.strategies import Budget, get_strategy
from nlrl.strategies.sampling import default_temperature
from nlrl.strategies.self_consistency import AdaptiveSelfConsistency, SelfConsistency, beta_prob_greater

from helpers.strategies import TextReward, math_task


def outs(*answers: str) -> list[str]:
    return [f"Work.\nFinal Answer: {a}\n" for a in answers]


def test_majority_over_equivalent_answers():
    backend = ScriptedBackend(outs("0.5", "3", "\\frac{1}{2}", "3", "1/2"))
    res = SelfConsistency()(math_task(), backend, budget=Budget(n=5, seed=1))
    assert res.answer == "0.5"
    assert res.extra["samples"] == 5
    vote = [e for e in res.trace if e.kind == "vote"][0]
    assert vote.data["groups"][0]["count"] == 3
    assert [e.kind for e in res.trace].count("sample") == 5
    # one call drew all five samples at a sampling temperature with the run's seed
    (req,) = backend.requests
    assert req.params.n == 5 and req.params.temperature == default_temperature("math") and req.params.seed == 1


def test_usage_is_summed_across_calls():
    backend = ScriptedBackend(outs("1", "2", "2", "2"))
    # 35 tokens pay for 3 full 10-token samples; they use 8 each, so a second call gets one more
    res = SelfConsistency()(math_task(), backend, budget=Budget(n=4, max_tokens=10, max_total_tokens=35))
    assert [r.params.n for r in backend.requests] == [3, 1]
    assert res.usage.calls == 2 and res.extra["samples"] == 4
    assert res.usage.completion_tokens == 4 * backend.count_tokens(outs("1")[0]) <= 35
    assert res.usage.prompt_tokens == sum(backend.count_tokens(r.prompt) for r in backend.requests)


def test_token_cap_is_never_exceeded():
    backend = ScriptedBackend(["x " * 50], cycle=True)
    res = SelfConsistency()(math_task(), backend, budget=Budget(n=16, max_tokens=8, max_total_tokens=30))
    assert res.usage.completion_tokens <= 30
    assert res.extra["samples"] == 3  # 3 full 8-token samples fit in 30


def test_seeds_continue_across_calls():
    backend = ScriptedBackend(outs("1", "1", "2", "2"))
    SelfConsistency()(math_task(), backend, budget=Budget(n=4, max_tokens=16, max_total_tokens=40, seed=10))
    seeds = [(r.params.seed, r.params.n) for r in backend.requests]
    assert seeds[0] == (10, 2)
    assert seeds[1][0] == 12


def test_tie_broken_by_reward_scoring_only_tied_samples():
    backend = ScriptedBackend(["A\nFinal Answer: 7\n", "B score=0.9\nFinal Answer: 8\n",
                               "C\nFinal Answer: 9\n", "D score=0.2\nFinal Answer: 7\n", "E\nFinal Answer: 8\n"])
    reward = TextReward()
    res = SelfConsistency()(math_task(), backend, reward=reward, budget=Budget(n=5))
    assert res.answer == "8"
    assert len(reward.calls) == 4  # the 9 was not tied, so not scored


def test_tie_without_reward_goes_to_earliest():
    backend = ScriptedBackend(outs("7", "8", "8", "7"))
    assert SelfConsistency()(math_task(), backend, budget=Budget(n=4)).answer == "7"


def test_no_answer_anywhere_gives_none():
    backend = ScriptedBackend(["no digits here", "nor here"])
    res = SelfConsistency()(math_task(), backend, budget=Budget(n=2))
    assert res.answer is None


def test_greedy_draws_once(caplog):
    backend = ScriptedBackend(outs("4"))
    res = SelfConsistency()(math_task(), backend, budget=Budget(n=8, temperature=0.0))
    assert res.answer == "4" and len(backend.requests) == 1 and backend.requests[0].params.n == 1
    assert "temperature 0" in caplog.text


def test_bad_n():
    with pytest.raises(ConfigError):
        get_strategy("self-consistency", n=0)
    with pytest.raises(ConfigError):
        Budget(n=0)


def test_beta_posterior():
    assert beta_prob_greater(0, 0) == pytest.approx(0.5)
    assert beta_prob_greater(3, 0) == pytest.approx(1 - 0.5 ** 4)
    assert beta_prob_greater(2, 2) == pytest.approx(0.5)
    assert beta_prob_greater(5, 1) > beta_prob_greater(4, 1)


def test_adaptive_stops_when_leader_is_settled():
    backend = ScriptedBackend(outs(*["5"] * 16))
    res = AdaptiveSelfConsistency()(math_task(), backend, budget=Budget(n=16))
    # 4 agreeing samples: P(p > 1/2) = 1 - 0.5**5 >= 0.95
    assert res.answer == "5" and res.extra["samples"] == 4
    assert "posterior" in res.extra["stopped"]


def test_adaptive_stops_when_leader_cannot_be_overtaken():
    backend = ScriptedBackend(outs("5", "5", "5", "6"))
    res = AdaptiveSelfConsistency(confidence=0.999)(math_task(), backend, budget=Budget(n=4))
    assert res.extra["samples"] == 3 and res.extra["stopped"] == "leader cannot be overtaken"
    assert res.answer == "5"


def test_adaptive_keeps_sampling_on_disagreement():
    backend = ScriptedBackend(outs("1", "2", "3", "4", "5", "6"))
    res = AdaptiveSelfConsistency()(math_task(), backend, budget=Budget(n=6))
    assert res.extra["samples"] == 6 and res.extra["stopped"] == "all samples drawn"


def test_adaptive_bad_options():
    with pytest.raises(ConfigError):
        AdaptiveSelfConsistency(confidence=1.5)
    with pytest.raises(ConfigError):
        AdaptiveSelfConsistency(batch=0)
