"""Usage by kind of model call, and the live trace of a strategy ``auto`` delegates to."""

from __future__ import annotations

from nlrl import Pipeline, ScriptedBackend
from nlrl.backends import Usage
from nlrl.strategies import Budget, get_strategy
from nlrl.strategies.compute_optimal import Auto, ComputeOptimalTable
from nlrl.strategies.deepconf import DeepConf
from nlrl.strategies.self_refine import SelfRefine

from helpers.strategies import math_task

DRAFT, CRITIQUE, REVISE = "Solve each problem", "Review each answer", "Rewrite each answer"
DECOMP, SUB, COMPOSE = "Break each problem", "Answer each sub-question", "Use the answered sub-questions"


def ans(*answers: str) -> list[str]:
    return [f"Work.\nFinal Answer: {a}\n" for a in answers]


def assert_adds_up(res) -> None:
    """The kinds' usage adds up to the run's (all but the wall time)."""
    total = Usage.total(list(res.usage_by_kind.values()))
    assert (total.prompt_tokens, total.completion_tokens, total.calls) == \
        (res.usage.prompt_tokens, res.usage.completion_tokens, res.usage.calls)


def tokens(b: ScriptedBackend, texts: list[str]) -> int:
    return sum(b.count_tokens(t) for t in texts)


def test_self_refine_reports_critique_and_revision_tokens():
    draft, critiques, revision = "2 + 2 = 5.\nFinal Answer: 5\n", \
        ["2 + 2 is 4, not 5.\nVerdict: wrong\n", "Right.\nVerdict: correct\n"], "2 + 2 = 4.\nFinal Answer: 4\n"
    b = ScriptedBackend({DRAFT: [draft], CRITIQUE: critiques, REVISE: [revision]})
    res = SelfRefine()(math_task("What is 2 + 2?"), b, budget=Budget(n=3))
    by = res.usage_by_kind
    assert list(by) == ["sample", "critique", "revision"]
    assert (by["sample"].calls, by["critique"].calls, by["revision"].calls) == (1, 2, 1)
    assert by["critique"].completion_tokens == tokens(b, critiques)
    assert by["revision"].completion_tokens == tokens(b, [revision])
    assert all(u.prompt_tokens > 0 for u in by.values())
    assert_adds_up(res)


def test_divide_and_conquer_splits_decompose_subanswers_compose():
    b = ScriptedBackend({DECOMP: [" a?\n2. b?\n"], SUB: [" 12\n", " 10\n"], COMPOSE: [" 10\n"]})
    res = get_strategy("divide-and-conquer")(math_task("Ann has 12 and eats 2?"), b, budget=Budget(n=1))
    assert {k: u.calls for k, u in res.usage_by_kind.items()} == {"decompose": 1, "subanswer": 2, "compose": 1}
    assert res.usage_by_kind["subanswer"].completion_tokens == tokens(b, [" 12\n", " 10\n"])
    assert_adds_up(res)


def test_judge_calls_are_reward_calls():
    from nlrl.rewards import LLMJudgeReward

    judge = ScriptedBackend([" 3\n", " 9\n"])
    b = ScriptedBackend(ans("1", "2"))
    res = get_strategy("best-of-n", reward=LLMJudgeReward(judge))(math_task(), b, budget=Budget(n=2))
    by = res.usage_by_kind
    assert (by["sample"].calls, by["reward"].calls) == (1, 2)
    assert by["sample"].completion_tokens == tokens(b, ans("1", "2"))
    assert by["reward"].completion_tokens == 2 * 2  # " 3" / " 9" and the newline each stops at
    assert_adds_up(res)


def test_deepconf_warmup_is_its_own_kind():
    b = ScriptedBackend(ans("4") * 4, logprob=lambda tok: -0.1)
    res = DeepConf(warmup=2, consensus=None)(math_task(), b, budget=Budget(n=4, seed=0))
    by = res.usage_by_kind
    assert by["warmup"].completion_tokens == tokens(b, ans("4") * 2)
    assert "sample" in by  # the online phase
    assert_adds_up(res)


def test_beam_steps():
    b = ScriptedBackend(lambda prompt, i: "Final Answer: 7\n", logprob=lambda tok: -0.1)
    res = get_strategy("beam", width=1, expansions=2)(math_task(), b, budget=Budget(n=1))
    assert set(res.usage_by_kind) == {"step"} and res.usage_by_kind["step"].calls >= 1
    assert_adds_up(res)


# ---- auto: the probe, the delegated strategy's own kinds, its events live -------------------

def table(hard: dict) -> ComputeOptimalTable:
    pol = {"budget": 4, "probe": 2, "temperature": 0.7, "bins": [
        {"name": "easy", "min_agreement": 1.0, "choice": {"strategy": "self-consistency", "n": 2}},
        {"name": "hard", "min_agreement": 0.0, "choice": hard}]}
    return ComputeOptimalTable({"domains": {"default": {"learned": True, "policies": [pol]}}})


def test_auto_splits_the_probe_from_the_samples_it_continues_with():
    b = ScriptedBackend(ans("3", "4", "4", "5"))
    res = Auto(table({"strategy": "self-consistency", "n": 4}))(math_task(), b, budget=Budget(n=4, seed=0))
    by = res.usage_by_kind
    assert list(by) == ["probe", "sample"]
    assert by["probe"].completion_tokens == tokens(b, ans("3", "4"))  # counted once, not again by the child
    assert by["sample"].completion_tokens == tokens(b, ans("4", "5")) and by["sample"].calls == 1
    assert_adds_up(res)


class Recording(ScriptedBackend):
    """Scripted; logs each model call in ``log``, the list the run's observer logs events in."""

    def __init__(self, script, log):
        super().__init__(script)
        self.log = log

    def generate(self, prompts, params, *, on_token=None):
        self.log.append(("call", next(k for k in (CRITIQUE, REVISE, DRAFT) if k in prompts[0])))
        return super().generate(prompts, params, on_token=on_token)


def test_auto_delegated_events_reach_the_observer_as_they_happen():
    log: list[tuple[str, str]] = []
    b = Recording({DRAFT: ans("3", "4", "7"), CRITIQUE: ["bad\nVerdict: wrong\n"],
                   REVISE: ans("8")}, log)
    events = []

    def on_event(ev):
        events.append(ev)
        log.append(("event", ev.kind))

    res = Auto(table({"strategy": "self-refine", "n": 1}))(math_task(), b, budget=Budget(n=4), on_event=on_event)
    assert res.answer == "8"
    assert events == list(res.trace)  # every event, once, in order
    assert log == [
        ("call", DRAFT), ("event", "sample"), ("event", "sample"), ("event", "difficulty"), ("event", "choice"),
        ("call", DRAFT), ("event", "sample"),  # self-refine's draft, told before its review is asked for
        ("call", CRITIQUE), ("event", "critique"),  # the review, told before the revision is asked for
        ("call", REVISE), ("event", "revision"), ("event", "stop")]  # one round: the choice's n
    by = res.usage_by_kind
    assert {k: u.calls for k, u in by.items()} == {"probe": 1, "sample": 1, "critique": 1, "revision": 1}
    assert_adds_up(res)


def test_solve_json_shows_usage_by_kind():
    pipe = Pipeline(ScriptedBackend(ans("3", "4", "4", "5")), strategy=Auto(table({"strategy": "self-consistency",
                                                                                  "n": 4})), n=4, seed=0)
    d = pipe.solve("What is 1 + 2?", domain="math").to_dict()
    assert set(d["usage"]["by_kind"]) == {"probe", "sample"}
    assert sum(u["completion_tokens"] for u in d["usage"]["by_kind"].values()) == d["usage"]["completion_tokens"]
