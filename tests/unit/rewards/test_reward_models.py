import math

import pytest

from nlrl import ScriptedBackend
from nlrl._exceptions import ConfigError, UnknownNameError, VerifierError
from nlrl.backends import SamplingParams
from nlrl.rewards import (
    REWARDS, AgreementReward, LLMJudgeReward, LogprobProcessReward, ProcessReward, RewardModel, VerifierReward,
    checked_score, checked_step_scores, get_reward, parse_rating,
)


def test_registry_names_and_unknown():
    assert REWARDS.names() == ["agreement", "judge", "learned", "logprob", "prm", "verifier"]
    with pytest.raises(UnknownNameError, match="known: agreement, judge, learned, logprob, prm, verifier"):
        get_reward("oracle")
    assert isinstance(get_reward("agreement", backend=None), AgreementReward)


def test_verifier_reward():
    r = VerifierReward("math", "0.5")
    assert r.score("q", "Final Answer: \\frac{1}{2}") == 1.0
    assert r.score("q", "Final Answer: 3") == 0.0
    per_prompt = VerifierReward("qa", references={"Who?": "The Beatles"})
    assert per_prompt.score("Who?", "Final Answer: big Beatles") == pytest.approx(2 / 3)
    with pytest.raises(VerifierError, match="no reference"):
        per_prompt.score("Other?", "x")
    cases = VerifierReward("code", {"test_cases": [{"input": [1, 2], "expected": 3}, {"input": [2, 2], "expected": 4}]},
                           timeout_s=5)
    assert cases.score("add", "def add(a, b):\n    return 3\n") == 0.5


@pytest.mark.parametrize("text,rating", [
    (" 8", 8.0), ("8/10", 8.0), ("Score: 7.5 because", 7.5), (" eight", 8.0), ("12", 10.0), ("0", 1.0), ("none", None),
])
def test_parse_rating(text, rating):
    assert parse_rating(text) == rating


def test_judge_few_shot_prompt_parse_and_clamp():
    backend = ScriptedBackend([" 10\n", " 1\n", " 7/10\n", " 42\n"])
    judge = LLMJudgeReward(backend)
    assert judge.score("What is 2+2?", "Final Answer: 4") == 1.0
    assert judge.score("What is 2+2?", "Final Answer: 5") == 0.0
    assert judge.score("q", "a") == pytest.approx(6 / 9)
    assert judge.score("q", "a") == 1.0  # clamped
    prompt = backend.requests[0].prompt
    assert prompt.endswith("Question: What is 2+2?\nAnswer: Final Answer: 4\nScore:")
    assert prompt.count("Score:") == 6  # five examples and the question
    assert backend.requests[0].params.max_tokens == 8 and backend.requests[0].params.temperature == 0.0


def test_judge_retries_then_fails_loudly():
    backend = ScriptedBackend([" hmm\n", " well\n", " 6\n"])
    assert LLMJudgeReward(backend, retries=2).score("q", "a") == pytest.approx(5 / 9)
    assert [r.params.temperature for r in backend.requests] == [0.0, 0.8, 0.8]
    assert len({r.params.seed for r in backend.requests}) == 3  # a retry is a new sample
    never = ScriptedBackend([" no idea\n"], cycle=True)
    with pytest.raises(VerifierError, match="no rating in 2 tries"):
        LLMJudgeReward(never, retries=1).score("q", "a")
    with pytest.raises(ConfigError):
        LLMJudgeReward(None)


def test_judge_uses_the_chat_template_for_chat_models():
    backend = ScriptedBackend(["9"], chat=True)
    assert LLMJudgeReward(backend).score("q", "a") == pytest.approx(8 / 9)
    assert backend.requests[0].prompt.startswith("<system>\n")


def _lp(tok: str) -> float:
    return -0.1 if tok.strip().isdigit() else -1.0


def test_logprob_reward_from_generated_completions():
    backend = ScriptedBackend(["Step one 2\nStep two 3\n", "7"], logprob=_lp)
    prm = LogprobProcessReward(backend)
    gen = prm.generate(["q"], SamplingParams(max_tokens=50))[0]
    lps = gen.completions[0].logprobs
    assert backend.requests[0].params.logprobs is True
    whole = prm.score("q", gen.completions[0].text)
    assert whole == pytest.approx(math.exp(sum(lps) / len(lps)))
    steps = prm.score_steps("q", ["Step one 2", "Step two 3"])
    assert len(steps) == 2 and all(0 < s <= 1 for s in steps)
    # steps observed one by one are scored exactly
    prm.remember("A 1", [-0.5, -0.1])
    prm.remember("B", [-2.0])
    assert prm.score_steps("q", ["A 1", "B"]) == pytest.approx([math.exp(-0.3), math.exp(-2.0)])
    assert prm.score("q", "A 1\nB") == pytest.approx(math.exp(-2.6 / 3))
    with pytest.raises(VerifierError, match="no log-probabilities for this text"):
        prm.score("q", "never generated")


def test_logprob_reward_uses_a_backend_that_scores_given_text():
    class Scoring(ScriptedBackend):
        def score_text(self, prompt, text):
            return [-0.2] * len(text.split())

    prm = LogprobProcessReward(Scoring([]))
    assert prm.score("q", "any given text") == pytest.approx(math.exp(-0.2))


def test_agreement_reward_is_equivalence_aware():
    outs = ["Final Answer: 1/2", "Final Answer: 0.5", "Final Answer: \\frac{1}{2}", "Final Answer: 3", "no idea"]
    r = AgreementReward()
    assert r.score_all("q", outs) == [0.6, 0.6, 0.6, 0.2, 0.0]
    assert AgreementReward(outs[:2]).score("anything", "Final Answer: .5") == 1.0
    with pytest.raises(VerifierError, match="no sibling samples"):
        AgreementReward().score("q", "Final Answer: 1")


class _NaN(RewardModel):
    def score(self, prompt, output):
        return float("nan")


class _Raises(ProcessReward):
    def score(self, prompt, output):
        raise ZeroDivisionError("oops")

    def score_steps(self, prompt, steps):
        return [0.5]


@pytest.mark.parametrize("reward,match", [
    (_NaN(), "nan"), (_Raises(), "ZeroDivisionError: oops"),
])
def test_failing_rewards_are_detected(reward, match):
    with pytest.raises(VerifierError, match=match):
        checked_score(reward, "q", "a")


def test_checked_scores_validate_range_type_and_length():
    class Bad(RewardModel):
        def __init__(self, v):
            self.v = v

        def score(self, prompt, output):
            return self.v

    for v in (1.5, -0.1, float("inf"), True, "high", None):
        with pytest.raises(VerifierError):
            checked_score(Bad(v), "q", "a")
    assert checked_score(Bad(1), "q", "a") == 1.0
    with pytest.raises(VerifierError, match="1 step scores for 2 steps"):
        checked_step_scores(_Raises(), "q", ["a", "b"])
    with pytest.raises(VerifierError, match="does not score steps"):
        checked_step_scores(Bad(0.5), "q", ["a"])
    with pytest.raises(VerifierError):
        checked_score(get_reward("verifier"), "q", "a")  # no reference: an error, not a number


def test_logprob_steps_from_several_completions_and_split_lines():
    prm = LogprobProcessReward(ScriptedBackend([]))  # cannot score given text: only observations
    prm.remember("Step 1: a b Step 2: c d", [-0.1, -0.1, -0.1, -0.1, -3.0, -3.0, -3.0, -3.0])
    prm.remember("Final Answer: 4", [-0.5, -0.5])
    scores = prm.score_steps("q", ["Step 1: a b", "Step 2: c d", "Final Answer: 4"])
    assert scores[0] > scores[1]  # each part gets its own share of its line's tokens
    assert scores[2] == pytest.approx(math.exp(-0.5))
    with pytest.raises(VerifierError):
        prm.score_steps("q", ["Step 1: a b", "never observed"])
