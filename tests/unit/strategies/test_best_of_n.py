from __future__ import annotations

import math

import pytest

from nlrl import ConfigError, ScriptedBackend, VerifierError
from nlrl.strategies import Budget, get_strategy
from nlrl.rewards import RewardModel
from nlrl.strategies.best_of_n import BestOfN

from helpers.strategies import TextReward, math_task


def sample(answer: str, score: float | str | None = None) -> str:
    tag = "" if score is None else f" score={score}"
    return f"Work{tag}.\nFinal Answer: {answer}\n"


def run(strategy, outputs, reward, n, **budget):
    backend = ScriptedBackend(outputs)
    return strategy(math_task(), backend, reward=reward, budget=Budget(n=n, **budget)), backend


def test_plain_picks_highest_reward_earliest_on_ties():
    outs = [sample("1", 0.2), sample("2", 0.9), sample("3", 0.9), sample("1", 0.5)]
    res, _ = run(BestOfN(), outs, TextReward(), 4)
    assert res.answer == "2" and res.score == pytest.approx(0.9)
    assert [e.kind for e in res.trace].count("score") == 4


def test_weighted_sums_rewards_per_equivalent_answer():
    outs = [sample("0.5", 0.4), sample("7", 0.9), sample("1/2", 0.4), sample("\\frac{1}{2}", 0.3)]
    res, _ = run(get_strategy("weighted-best-of-n"), outs, TextReward(), 4)
    assert res.strategy == "weighted-best-of-n"
    assert res.answer == "0.5"  # 0.4 + 0.4 + 0.3 = 1.1 > 0.9
    assert res.extra["weight"] == pytest.approx(1.1)
    plain, _ = run(BestOfN(), outs, TextReward(), 4)
    assert plain.answer == "7"


def test_threshold_stops_sampling_early():
    outs = [sample("1", 0.1), sample("2", 0.8), sample("3", 0.95)]
    res, backend = run(BestOfN(threshold=0.7), outs, TextReward(), 3)
    assert res.answer == "2"
    assert len(backend.requests) == 2 and all(r.params.n == 1 for r in backend.requests)
    assert any(e.kind == "stop" for e in res.trace)


def test_failing_reward_on_some_samples_is_logged_and_left_out(caplog):
    outs = [sample("1", "boom"), sample("2", 0.3), sample("3", "nan")]
    res, _ = run(BestOfN(), outs, TextReward(), 3)
    assert res.answer == "2"
    assert res.extra["scored"] == 1
    assert "reward model text failed on sample 0" in caplog.text
    assert "failed on sample 2" in caplog.text
    errors = [e for e in res.trace if e.kind == "score" and e.data.get("error")]
    assert len(errors) == 2


def test_reward_failing_everywhere_falls_back_to_majority(caplog):
    outs = [sample("4", "boom"), sample("5", "boom"), sample("5", "boom")]
    res, _ = run(BestOfN(), outs, TextReward(), 3)
    assert res.answer == "5" and res.extra["fallback"] == "majority"
    assert "falling back to a majority vote" in caplog.text
    assert any(e.kind == "fallback" for e in res.trace)


def test_strict_reward_failure_is_an_error():
    with pytest.raises(VerifierError, match="nan"):
        run(BestOfN(strict=True), [sample("1", "nan")], TextReward(), 1)
    with pytest.raises(VerifierError, match="RuntimeError"):
        run(BestOfN(strict=True), [sample("1", "boom")], TextReward(), 1)


class OutOfRange(RewardModel):
    name = "oor"

    def score(self, prompt, output):
        return 1.5


def test_out_of_range_score_is_rejected():
    with pytest.raises(VerifierError, match=r"\[0, 1\]"):
        run(BestOfN(strict=True), [sample("1")], OutOfRange(), 1)


def test_bad_options():
    with pytest.raises(ConfigError):
        BestOfN(threshold=2)
    with pytest.raises(ConfigError):
        BestOfN(n=0)
    with pytest.raises(ConfigError, match="score"):
        run(BestOfN(reward=object()), [sample("1")], None, 1)


def test_token_budget_respected():
    outs = [sample(str(i), 0.1 * i) for i in range(8)]
    res, _ = run(BestOfN(), outs, TextReward(), 8, max_tokens=12, max_total_tokens=30)
    assert res.usage.completion_tokens <= 30
    assert res.extra["samples"] < 8
    assert not math.isnan(res.score)


def test_default_reward_is_the_models_own_logprobs():
    # "sure" tokens are likely, "maybe" ones are not: the confident sample wins
    backend = ScriptedBackend([sample("1") + "maybe maybe", sample("2") + "sure sure", sample("3") + "maybe"],
                              logprob=lambda tok: -3.0 if "maybe" in tok else -0.05)
    res = BestOfN()(math_task(), backend, budget=Budget(n=3))
    assert res.answer == "2"
    assert backend.requests[0].params.logprobs is True


def test_default_reward_without_logprobs_is_agreement():
    backend = ScriptedBackend([sample("1"), sample("2"), sample("2.0")])
    res = BestOfN()(math_task(), backend, budget=Budget(n=3))
    assert res.answer == "2" and res.score == pytest.approx(2 / 3)


def test_judge_calls_are_charged_to_the_run():
    from nlrl.rewards import LLMJudgeReward

    judge_backend = ScriptedBackend([" 3\n", " 9\n"])
    backend = ScriptedBackend([sample("1"), sample("2")])
    res = BestOfN(reward=LLMJudgeReward(judge_backend))(math_task(), backend, budget=Budget(n=2))
    assert res.answer == "2"
    assert res.usage.calls == 1 + 2  # one sampling call, two judge calls
    # each judge reply (" 3" then the "\n" it stops at) is 2 generated tokens
    assert res.usage.completion_tokens == sum(backend.count_tokens(sample(a)) for a in "12") + 2 * 2


def test_a_shared_judge_is_never_rewired_and_bills_only_its_own_run():
    from nlrl.rewards import LLMJudgeReward

    judge_backend = ScriptedBackend([" 3\n", " 9\n"], cycle=True)
    judge = LLMJudgeReward(judge_backend)
    first = BestOfN(reward=judge)(math_task(), ScriptedBackend([sample("1"), sample("2")]), budget=Budget(n=2))
    second = BestOfN(reward=judge)(math_task(), ScriptedBackend([sample("1"), sample("2")]), budget=Budget(n=2))
    assert judge.backend is judge_backend  # scoring worked on a per-run copy
    assert first.usage.calls == second.usage.calls == 1 + 2


def test_threshold_with_agreement_is_refused():
    from nlrl.rewards import AgreementReward

    with pytest.raises(ConfigError, match="agreement"):
        run(BestOfN(threshold=0.9), [sample("4"), sample("5")], AgreementReward(), 2)


def test_reward_given_by_name_is_built_for_the_run():
    from nlrl.rewards import AgreementReward
    from nlrl.strategies import Run

    r = Run(math_task(), ScriptedBackend([]), reward="agreement")
    assert isinstance(r.reward, AgreementReward)
