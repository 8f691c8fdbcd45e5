"""DeepConf on the scripted backend: confidence arithmetic against hand-computed values, early
stopping that really ends generation, offline filtering, the weighted vote, fallback, budget."""

from __future__ import annotations

import math

import pytest

from nlrl import ConfigError
from nlrl.backends.scripted import ScriptedBackend, tokenize
from nlrl.gists import GistStream
from nlrl.strategies import Budget, get_strategy
from nlrl.strategies.deepconf import (
    ConfidenceGate,
    DeepConf,
    group_confidences,
    percentile,
    threshold,
    trace_confidence,
)

from helpers.strategies import math_task

SURE = "2 + 2 = 4.\nFinal Answer: 4\n"                       # every token log-prob -0.1
UNSURE = "um um um um um um um um um um Final Answer: 5\n"   # ten "um" at -3.0
LP = {"um": -3.0}


def logprob(tok: str) -> float:
    return LP.get(tok.strip(), -0.1)


def backend(outputs, **kw) -> ScriptedBackend:
    return ScriptedBackend(outputs, logprob=logprob, **kw)


def events(res, kind):
    return [e for e in res.trace if e.kind == kind]


# ---- arithmetic -------------------------------------------------------------------------------

def test_group_confidences_are_windowed_geometric_mean_probabilities():
    lps = [math.log(0.5), math.log(0.5), math.log(0.125), 0.0]
    # windows of 2: (0.5*0.5)^(1/2)=0.5, (0.5*0.125)^(1/2)=0.25, (0.125*1)^(1/2)=0.353553
    assert [round(c, 6) for c in group_confidences(lps, 2)] == [0.5, 0.25, 0.353553]
    assert trace_confidence(lps, 2) == pytest.approx(0.25)
    # a trace shorter than the window is one group: (0.5*0.5*0.125*1)^(1/4)
    assert group_confidences(lps, 10) == [pytest.approx(0.03125 ** 0.25)]
    assert trace_confidence([], 4) is None and trace_confidence(None, 4) is None


def test_threshold_is_the_100_minus_eta_percentile():
    confs = [0.2, 0.9, 0.5, 0.6]  # sorted: 0.2 0.5 0.6 0.9
    # eta=10 keeps the top 10%: 90th percentile, position 0.9*3=2.7 -> 0.6 + 0.7*0.3 = 0.81
    assert threshold(confs, 10) == pytest.approx(0.81)
    # eta=90: 10th percentile, position 0.3 -> 0.2 + 0.3*0.3 = 0.29
    assert threshold(confs, 90) == pytest.approx(0.29)
    assert threshold(confs, 100) == pytest.approx(0.2)
    assert percentile([3.0], 50) == 3.0


def test_gate_stops_once_the_window_mean_drops_and_forwards_to_the_inner_hook():
    from nlrl.backends import TokenEvent

    seen = []
    gate = ConfidenceGate(math.exp(-1.0), 2, inner=lambda ev: seen.append(ev.text) and False)
    assert not gate(TokenEvent(0, 0, "a", 1, -0.5))
    assert not gate(TokenEvent(0, 0, "b", 2, -1.0))   # mean -0.75 >= -1
    assert not gate(TokenEvent(0, 1, "x", 3, -5.0))   # another sample: its own window
    assert gate(TokenEvent(0, 0, "c", 4, -1.5))       # mean -1.25 < -1: stop
    assert gate.stopped == {0: (3, pytest.approx(math.exp(-1.25)))}
    assert seen == ["a", "b", "x", "c"]
    # a stop the inner hook asks for (the answer is complete) is not an early stop
    gate2 = ConfidenceGate(0.99, 1, inner=lambda ev: True)
    assert gate2(TokenEvent(0, 0, "a", 1, -9.0)) and gate2.stopped == {}


# ---- online -----------------------------------------------------------------------------------

def test_online_stops_low_confidence_samples_and_saves_their_tokens():
    b = backend([SURE, UNSURE], cycle=True)
    res = DeepConf(eta=10, window=4, warmup=2, consensus=None)(math_task("What is 2 + 2?"), b, budget=Budget(n=6, seed=1))
    sure_len, unsure_len = len(tokenize(SURE)), len(tokenize(UNSURE))
    # warm-up confidences: SURE exp(-0.1); UNSURE's lowest window is four "um": exp(-3)
    thr = events(res, "threshold")[0].data
    expected = math.exp(-3) + 0.9 * (math.exp(-0.1) - math.exp(-3))
    assert thr["threshold"] == pytest.approx(expected, abs=1e-6)
    assert thr["confidences"] == [pytest.approx(math.exp(-0.1), abs=1e-6), pytest.approx(math.exp(-3), abs=1e-6)]
    samples = events(res, "sample")
    assert [s.data["phase"] for s in samples] == ["warmup"] * 2 + ["online"] * 4
    stopped = [s for s in samples if s.data["stopped_early"]]
    assert [s.data["index"] for s in stopped] == [3, 5]
    for s in stopped:  # ended after the first full window of "um", not at the script's end
        assert s.data["tokens"] == 4 and s.data["stopped_at"]["token"] == 4
        assert s.data["finish_reason"] == "answer" and s.text == "um um um um"
    full = 3 * sure_len + 3 * unsure_len
    assert res.usage.completion_tokens == 3 * sure_len + unsure_len + 2 * 4 < full
    assert res.usage.completion_tokens == sum(s.data["tokens"] for s in samples)
    vote = events(res, "vote")[0].data
    assert vote["voters"] == [0, 2, 4] and vote["stopped_early"] == [3, 5]
    assert vote["groups"][0]["score"] == pytest.approx(3 * math.exp(-0.1), abs=1e-5)
    assert res.answer == "4" and res.extra["stopped_early"] == 2 and res.strategy == "deepconf"


def test_online_seeds_follow_sample_indices_and_asks_for_logprobs():
    b = backend([SURE], cycle=True)
    DeepConf(eta=10, window=4, warmup=3, consensus=None)(math_task(), b, budget=Budget(n=8, seed=10))
    assert [(r.params.n, r.params.seed, r.params.logprobs) for r in b.requests] == [(3, 10, True), (5, 13, True)]


def test_online_keeps_the_runs_own_observer_and_its_stops_are_not_early_stops():
    b = backend([SURE, UNSURE], cycle=True)
    gists = GistStream("math")
    res = DeepConf(eta=10, window=4, warmup=2, consensus=None)(math_task(), b, budget=Budget(n=4, seed=1), on_token=gists)
    gists.finish()
    assert {g.sample for g in gists.gists} == {0, 1, 2, 3}
    samples = events(res, "sample")
    assert [s.data["stopped_early"] for s in samples] == [False, False, False, True]


def test_default_warmup_is_a_quarter_of_n_at_least_two():
    b = backend([SURE], cycle=True)
    res = DeepConf()(math_task(), b, budget=Budget(n=16, seed=0))
    assert sum(s.data["phase"] == "warmup" for s in events(res, "sample")) == 4
    b = backend([SURE], cycle=True)
    res = DeepConf()(math_task(), b, budget=Budget(n=3, seed=0))
    assert sum(s.data["phase"] == "warmup" for s in events(res, "sample")) == 2


# ---- online adaptive sampling (the consensus stop) -----------------------------------------------

SURE5 = "2 + 3 = 5.\nFinal Answer: 5\n"  # as sure as SURE, another answer


def test_consensus_stops_sampling_once_the_voters_agree():
    b = backend([SURE, UNSURE], cycle=True)
    res = DeepConf(eta=10, consensus=0.95, window=4, warmup=2)(math_task(), b, budget=Budget(n=8, seed=5))
    # warm-up: SURE votes alone (one voter is no consensus); sample 2 (SURE) agrees: beta = 1 >= 0.95
    assert [(r.params.n, r.params.seed) for r in b.requests] == [(2, 5), (1, 7)]
    checks = [e.data for e in events(res, "consensus")]
    assert [(c["voters"], c["samples"], c["reached"]) for c in checks] == [([0], 2, False), ([0, 2], 3, True)]
    assert checks[1]["beta"] == 1.0 and checks[1]["tau"] == 0.95 and events(res, "consensus")[1].text == "4"
    assert res.usage.completion_tokens == 2 * len(tokenize(SURE)) + len(tokenize(UNSURE))
    assert res.answer == "4" and res.extra["samples"] == 3 and res.extra["consensus_reached"] is True


def test_no_consensus_samples_up_to_n_one_at_a_time():
    b = backend([SURE, UNSURE, SURE5], cycle=True)
    res = DeepConf(eta=10, consensus=0.95, window=4, warmup=2)(math_task(), b, budget=Budget(n=6, seed=0))
    assert [r.params.n for r in b.requests] == [2, 1, 1, 1, 1]
    assert [r.params.seed for r in b.requests] == [0, 2, 3, 4, 5]
    # voters: 0 (4), 2 (5), 3 (4), then 4 (UNSURE) is stopped early, 5 (5): beta 1/2, 2/3, 2/3, 1/2
    betas = [e.data["beta"] for e in events(res, "consensus")]
    assert betas == [1.0, 0.5, pytest.approx(2 / 3, abs=1e-6), pytest.approx(2 / 3, abs=1e-6), 0.5]
    assert not any(e.data["reached"] for e in events(res, "consensus"))
    sure, unsure = len(tokenize(SURE)), len(tokenize(UNSURE))
    assert res.usage.completion_tokens == 2 * sure + unsure + len(tokenize(SURE5)) * 2 + 4
    assert res.extra["samples"] == 6 and res.extra["consensus_reached"] is False


def test_a_lower_tau_stops_on_a_weaker_majority():
    b = backend([SURE, UNSURE, SURE5, SURE], cycle=True)
    res = DeepConf(eta=10, window=4, warmup=2, consensus=0.6)(math_task(), b, budget=Budget(n=8, seed=0))
    # voters 0 (4), 2 (5): beta 1/2; then 3 (4): beta 2/3 >= 0.6
    assert [e.data["reached"] for e in events(res, "consensus")] == [False, False, True]
    assert res.extra["samples"] == 4 and res.answer == "4"


def test_early_stopped_samples_do_not_count_toward_consensus():
    b = backend([SURE, UNSURE, UNSURE, SURE])
    res = DeepConf(eta=10, consensus=0.95, window=4, warmup=2)(math_task(), b, budget=Budget(n=8, seed=0))
    assert [e.data["voters"] for e in events(res, "consensus")] == [[0], [0], [0, 3]]
    assert res.usage.completion_tokens == 2 * len(tokenize(SURE)) + len(tokenize(UNSURE)) + 4
    assert res.extra["stopped_early"] == 1 and res.extra["samples"] == 4


@pytest.mark.parametrize("cap", [40, 64, 100])
def test_consensus_sampling_honours_the_token_cap(cap):
    b = backend([SURE, UNSURE, SURE5], cycle=True)
    res = DeepConf(eta=10, consensus=0.95, window=4, warmup=2)(math_task(), b,
                                         budget=Budget(n=16, max_tokens=16, max_total_tokens=cap, seed=0))
    assert res.usage.completion_tokens <= cap
    spent = 0
    for r, gen_tokens in zip(b.requests, _request_tokens(res)):
        assert spent + r.params.n * 16 <= cap  # a call never asks for more than the cap pays for
        spent += gen_tokens
    assert events(res, "budget") and res.extra["consensus_reached"] is False


def _request_tokens(res):
    """Tokens generated per backend call: the warm-up's two samples, then one a call."""
    toks = [e.data["tokens"] for e in events(res, "sample")]
    return [sum(toks[:2])] + toks[2:]


@pytest.mark.parametrize("off", [None, 1.0])
def test_consensus_off_draws_every_sample_in_one_later_call(off):
    b = backend([SURE], cycle=True)
    res = DeepConf(eta=10, window=4, warmup=2, consensus=off)(math_task(), b, budget=Budget(n=8, seed=0))
    assert [r.params.n for r in b.requests] == [2, 6]
    assert not events(res, "consensus") and res.extra["samples"] == 8 and res.extra["consensus_reached"] is None


# ---- offline ----------------------------------------------------------------------------------

def test_offline_filters_to_the_top_eta_percent_and_beats_the_plain_majority():
    # three unsure "5" and two sure "4": plain self-consistency says 5
    outs = [UNSURE, SURE, UNSURE, SURE, UNSURE]
    sc = get_strategy("self-consistency")(math_task(), backend(outs), budget=Budget(n=5, seed=0))
    assert sc.answer == "5"
    res = get_strategy("deepconf", mode="offline", eta=40, window=4)(math_task(), backend(outs),
                                                                       budget=Budget(n=5, seed=0))
    lo, hi = math.exp(-3), math.exp(-0.1)
    # confidences sorted lo lo lo hi hi; 60th percentile at position 2.4 -> lo + 0.4 * (hi - lo)
    assert events(res, "threshold")[0].data["threshold"] == pytest.approx(lo + 0.4 * (hi - lo), abs=1e-6)
    vote = events(res, "vote")[0].data
    assert vote["voters"] == [1, 3] and vote["stopped_early"] == []
    assert res.answer == "4" and not any(s.data["stopped_early"] for s in events(res, "sample"))
    assert res.usage.completion_tokens == 3 * len(tokenize(UNSURE)) + 2 * len(tokenize(SURE))


def test_offline_vote_is_weighted_by_confidence():
    outs = [UNSURE, UNSURE, SURE]
    res = DeepConf(mode="offline", eta=100, window=4)(math_task(), backend(outs), budget=Budget(n=3, seed=0))
    vote = events(res, "vote")[0].data
    assert vote["voters"] == [0, 1, 2]
    tally = {g["answer"]: g["score"] for g in vote["groups"]}
    assert tally == {"4": pytest.approx(math.exp(-0.1), abs=1e-5), "5": pytest.approx(2 * math.exp(-3), abs=1e-5)}
    assert res.answer == "4"  # one sure vote outweighs two unsure ones


# ---- fallback, budget, options ----------------------------------------------------------------

def test_falls_back_to_self_consistency_without_logprobs(caplog):
    b = ScriptedBackend(["Final Answer: 5\n", "Final Answer: 4\n", "Final Answer: 5\n"])
    with caplog.at_level("WARNING"):
        res = DeepConf(eta=10, consensus=0.95, window=4)(math_task(), b, budget=Budget(n=3, seed=0))
    fb = events(res, "fallback")
    assert len(fb) == 1 and "no log-probabilities" in fb[0].text and fb[0].data["to"] == "self-consistency"
    assert "falls back to self-consistency" in caplog.text
    assert res.answer == "5" and res.strategy == "deepconf" and "no log-probabilities" in res.extra["fallback"]
    assert len(events(res, "sample")) == 3 and not events(res, "threshold")


def test_falls_back_when_a_backend_claiming_logprobs_returns_none():
    class Liar(ScriptedBackend):
        def generate(self, prompts, params, *, on_token=None):
            return super().generate(prompts, params.replace(logprobs=False), on_token=on_token)

    res = DeepConf(mode="offline")(math_task(), Liar([SURE], cycle=True, logprob=logprob),
                                   budget=Budget(n=3, seed=0))
    assert "without log-probabilities" in events(res, "fallback")[0].text
    assert res.answer == "4" and len(events(res, "sample")) == 3


@pytest.mark.parametrize("mode", ["online", "offline"])
@pytest.mark.parametrize("cap", [16, 40, 75])
def test_token_cap_is_never_exceeded(mode, cap):
    b = backend([UNSURE, SURE, UNSURE], cycle=True)
    res = DeepConf(mode=mode, window=4, warmup=2)(math_task(), b,
                                                    budget=Budget(n=8, max_tokens=16, max_total_tokens=cap, seed=0))
    assert res.usage.completion_tokens <= cap
    assert all(r.params.n * 16 <= cap for r in b.requests[:1])


def test_early_stops_let_the_budget_pay_for_more_samples():
    cap = 16 * 4
    outs = [SURE, UNSURE]
    on = DeepConf(eta=10, window=4, warmup=2, consensus=None)(math_task(), backend(outs, cycle=True),
                                      budget=Budget(n=8, max_tokens=16, max_total_tokens=cap, seed=0))
    off = DeepConf(mode="offline", window=4)(math_task(), backend(outs, cycle=True),
                                             budget=Budget(n=8, max_tokens=16, max_total_tokens=cap, seed=0))
    assert on.usage.completion_tokens <= cap and off.usage.completion_tokens <= cap
    assert on.extra["samples"] > off.extra["samples"]


def test_greedy_draws_one_sample():
    b = backend([SURE], cycle=True)
    res = DeepConf()(math_task(), b, budget=Budget(n=8, temperature=0.0))
    assert len(events(res, "sample")) == 1 and res.answer == "4"


@pytest.mark.parametrize("kw, msg", [
    ({"mode": "fast"}, "mode"), ({"eta": 0}, "eta"), ({"eta": 150}, "eta"), ({"window": 0}, "window"),
    ({"warmup": 0}, "warmup"), ({"n": 0}, "n must"), ({"consensus": 0.4}, "consensus"),
    ({"consensus": True}, "consensus"), ({"consensus_votes": 0}, "consensus_votes"),
])
def test_bad_options_raise_config_errors(kw, msg):
    with pytest.raises(ConfigError, match=msg):
        get_strategy("deepconf", **kw)


# ---- the shared pieces of the online rule, and the warm-up's own consensus check ----------------

def test_group_window_is_the_gates_rule():
    from nlrl.strategies.deepconf import GroupWindow

    w = GroupWindow(2, math.exp(-1.0))
    assert [w.push(x) for x in (-0.5, -1.0, -1.5)] == [False, False, True]  # means -0.75, then -1.25
    assert w.seen == 3 and w.confidence == pytest.approx(math.exp(-1.25))
    assert not GroupWindow(1, 0.0).push(-50.0)  # threshold 0: never stops


def test_voters_and_consensus_are_the_strategys():
    from nlrl.strategies.deepconf import consensus, voters

    assert voters([0.9, 0.5, None, 0.95, 0.7], [False, False, False, True, False], 0.6) == [0, 4]
    from nlrl.strategies.voting import equivalence_for

    eq = equivalence_for("math", "What is 2 + 2?")
    beta, answered, leader = consensus(["4", "5", "4.0", None], [0.5, 0.3, 0.2, 0.9], eq)
    assert (round(beta, 6), answered, leader) == (0.7, 3, "4")  # None abstains: 0.9 is not counted
    assert round(consensus(["4", "5", "4.0"], [0.5, 0.3, 0.2])[0], 6) == 0.5  # without equivalence: 3 groups
    assert consensus([], []) == (0.0, 0, None)


def test_warmup_consensus_ends_a_warmup_that_already_agrees():
    b = backend([SURE, SURE, UNSURE], cycle=True)
    res = DeepConf(window=4, warmup=4, eta=90, warmup_consensus=True)(math_task(), b, budget=Budget(n=8, seed=2))
    # one at a time; after 2 samples both vote (eta 90: the 10th percentile of two equal values) and agree
    assert [(r.params.n, r.params.seed) for r in b.requests] == [(1, 2), (1, 3)]
    checks = [e.data for e in events(res, "consensus")]
    assert [(c["samples"], c["voters"], c["reached"]) for c in checks] == [(2, [0, 1], True)]
    assert res.answer == "4" and res.extra["samples"] == 2 and res.extra["consensus_reached"] is True
    assert res.usage.completion_tokens == 2 * len(tokenize(SURE))
    assert [s.data["phase"] for s in events(res, "sample")] == ["warmup", "warmup"]


def test_warmup_consensus_goes_on_when_the_warmup_disagrees():
    b = backend([SURE, SURE5, SURE, SURE], cycle=True)
    res = DeepConf(window=4, warmup=3, eta=90, warmup_consensus=True)(math_task(), b, budget=Budget(n=8, seed=0))
    # after 2: "4" vs "5" (no consensus); the 3rd warm-up sample completes the warm-up; then the usual checks
    assert [r.params.n for r in b.requests][:3] == [1, 1, 1]
    assert [s.data["phase"] for s in events(res, "sample")][:3] == ["warmup"] * 3
    assert events(res, "consensus")[0].data["samples"] == 2 and not events(res, "consensus")[0].data["reached"]
    assert res.answer == "4"


@pytest.mark.parametrize("cap", [16, 40])
def test_warmup_consensus_honours_the_token_cap(cap):
    b = backend([SURE, SURE5, UNSURE], cycle=True)
    res = DeepConf(eta=10, window=4, warmup=4, warmup_consensus=True)(
        math_task(), b, budget=Budget(n=8, max_tokens=16, max_total_tokens=cap, seed=0))
    assert res.usage.completion_tokens <= cap


def test_warmup_consensus_must_be_a_bool():
    with pytest.raises(ConfigError, match="warmup_consensus"):
        get_strategy("deepconf", warmup_consensus="yes")
