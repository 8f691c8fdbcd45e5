"""DeepConf on the real embedded model (Gemma 3 270M): the engine's own log-probabilities drive
the confidence, and online early stopping really ends generation, so it costs fewer tokens than
self-consistency with the same budget and seeds.

(Samples are not compared text for text: the engine re-feeds a cached prompt's last token on a
second call, and those logits differ from a full prefill's in the last bits, enough to change a
sample when sampling.)"""

from __future__ import annotations

import pytest

from nlrl.strategies import Budget, get_strategy
from nlrl.tasks.task import Task

pytestmark = pytest.mark.integration

Q = "What is 23 + 8?"


def test_online_generates_fewer_tokens_than_self_consistency_on_the_same_seeds(embedded):
    task = Task.build(Q, domain="math", difficulty="easy")
    # window=1, eta=1: the bar is (nearly) the larger of the two warm-up samples' least likely
    # token probabilities, so a later sample stops at its first token less likely than that.
    # Were samples exchangeable, all six later ones would clear it with chance 2!6!/8! = 1/28 for
    # a seed; which seeds do is a property of the machine's numerics, so the first of five seeds
    # whose gate fires is taken (all five clearing: about 6e-8).
    for seed in range(11, 16):
        budget = Budget(n=8, max_tokens=16, temperature=0.7, seed=seed)
        on = get_strategy("deepconf", eta=1, window=1, warmup=2, consensus=None)(task, embedded, budget=budget)
        if any(e.data["stopped_early"] for e in on.trace if e.kind == "sample"):
            break
    sc = get_strategy("self-consistency")(task, embedded, budget=budget)

    on_samples = [e for e in on.trace if e.kind == "sample"]
    assert len(on_samples) == 8 and not [e for e in on.trace if e.kind == "fallback"]
    assert all(0.0 < e.data["confidence"] <= 1.0 for e in on_samples if e.data["tokens"])
    thr = [e for e in on.trace if e.kind == "threshold"][0].data["threshold"]
    stopped = [e for e in on_samples if e.data["stopped_early"]]
    assert stopped, "a bar at the warm-up's 99th percentile stops some later sample"
    for e in stopped:  # ended by the engine at the token the gate saw the window drop
        assert e.data["phase"] == "online" and e.data["finish_reason"] == "answer"
        assert e.data["tokens"] == e.data["stopped_at"]["token"] < 16
        assert e.data["stopped_at"]["group_confidence"] < thr
    assert on.usage.completion_tokens == sum(e.data["tokens"] for e in on_samples)
    assert on.usage.completion_tokens < sc.usage.completion_tokens
    vote = [e for e in on.trace if e.kind == "vote"][0].data
    assert set(vote["voters"]).isdisjoint(vote["stopped_early"])


def test_offline_votes_the_confident_half_with_real_logprobs(embedded):
    task = Task.build(Q, domain="math", difficulty="easy")
    res = get_strategy("deepconf", mode="offline", eta=50, window=4)(
        task, embedded, budget=Budget(n=4, max_tokens=16, max_total_tokens=48, temperature=1.0, seed=5))
    assert res.usage.completion_tokens <= 48
    samples = [e for e in res.trace if e.kind == "sample"]
    vote = [e for e in res.trace if e.kind == "vote"][0].data
    confs = {e.data["index"]: e.data["confidence"] for e in samples if e.data["tokens"]}
    assert vote["voters"] and all(confs[i] >= vote["threshold"] for i in vote["voters"])
    assert len(vote["voters"]) < len(samples) or len(set(confs.values())) == 1


def test_adaptive_sampling_stops_at_consensus_within_n_on_real_logprobs(embedded):
    task = Task.build(Q, domain="math", difficulty="easy")
    res = get_strategy("deepconf", eta=50, window=4, warmup=2, consensus=0.95, consensus_votes=2)(
        task, embedded, budget=Budget(n=8, max_tokens=16, max_total_tokens=96, temperature=0.7, seed=3))
    samples = [e for e in res.trace if e.kind == "sample"]
    checks = [e.data for e in res.trace if e.kind == "consensus"]
    assert 2 <= len(samples) <= 8 and res.usage.completion_tokens <= 96
    assert res.usage.completion_tokens == sum(e.data["tokens"] for e in samples)
    # one check after the warm-up and one after each later sample, on the samples so far
    assert [c["samples"] for c in checks] == list(range(2, len(samples) + 1))
    assert not any(c["reached"] for c in checks[:-1])  # sampling went on only while not reached
    assert res.extra["consensus_reached"] == checks[-1]["reached"]
    if checks[-1]["reached"]:  # the voters agree: the answer is theirs
        assert checks[-1]["beta"] >= 0.95 and len(checks[-1]["voters"]) >= 2
        assert res.answer == [e for e in res.trace if e.kind == "consensus"][-1].text
    else:  # no consensus: it sampled until N or the token cap
        assert len(samples) == 8 or res.usage.completion_tokens + 16 > 96


def test_defaults_and_warmup_consensus_on_real_logprobs(embedded):
    # the dev-chosen defaults (eta 90, window 1, consensus 0.6), with the warm-up drawn one at a time
    task = Task.build(Q, domain="math", difficulty="easy")
    res = get_strategy("deepconf", warmup=4, warmup_consensus=True)(
        task, embedded, budget=Budget(n=8, max_tokens=16, max_total_tokens=128, temperature=0.7, seed=3))
    samples = [e for e in res.trace if e.kind == "sample"]
    checks = [e.data for e in res.trace if e.kind == "consensus"]
    assert res.usage.completion_tokens <= 128 and not [e for e in res.trace if e.kind == "fallback"]
    assert res.usage.completion_tokens == sum(e.data["tokens"] for e in samples)
    # a check after the 2nd and 3rd warm-up samples, after the warm-up, and after each later sample
    assert [c["samples"] for c in checks] == list(range(2, len(samples) + 1))
    assert not any(c["reached"] for c in checks[:-1])
    warm = [e for e in samples if e.data["phase"] == "warmup"]
    assert len(warm) == min(4, len(samples)) and not any(e.data["stopped_early"] for e in warm)
    if checks[-1]["reached"]:
        assert checks[-1]["beta"] >= 0.6 and len(checks[-1]["voters"]) >= 2
