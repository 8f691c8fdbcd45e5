"""Reward models on the real embedded model (Gemma 3 270M): they call it and read real numbers."""

import math

import pytest

from nlrl.backends import SamplingParams
from nlrl.rewards import LLMJudgeReward, LogprobProcessReward, checked_score
from nlrl.rewards.judge import EXAMPLES

pytestmark = pytest.mark.integration


def test_judge_reads_a_rating_from_the_model(embedded):
    judge = LLMJudgeReward(embedded, examples=EXAMPLES[:1], retries=1)
    assert 0.0 <= checked_score(judge, "What is 2 + 3?", "Final Answer: 5") <= 1.0
    assert embedded.count_tokens(judge.prompt("What is 2 + 3?", "Final Answer: 5")) < 120


def test_logprob_reward_scores_what_the_model_wrote(embedded):
    prm = LogprobProcessReward(embedded)
    comp = prm.generate(["Question: What is 2 + 3?\nAnswer:"], SamplingParams(max_tokens=8, stop=("\n",)))[0].completions[0]
    assert comp.logprobs
    expected = math.exp(sum(comp.logprobs) / len(comp.logprobs))
    assert prm.score("What is 2 + 3?", comp.text) == pytest.approx(expected)
    assert 0.0 < expected <= 1.0
