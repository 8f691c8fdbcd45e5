"""Optional capabilities of token observers and strategies are declared on their base classes."""

from __future__ import annotations

import pytest

from nlrl import ConfigError, ScriptedBackend
from nlrl.backends import TokenObserver
from nlrl.strategies import Budget, Run, Strategy, get_strategy

from helpers.strategies import math_task


class Counting(TokenObserver):
    def __init__(self):
        self.calls, self.events = 0, []

    def __call__(self, event):
        self.events.append((self.calls, event.index))

    def next_call(self):
        self.calls += 1


def test_run_tells_an_observer_of_every_backend_call_and_takes_plain_functions():
    obs = Counting()
    run = Run(math_task(), ScriptedBackend(["a b\n", "c\n"]), on_token=obs)
    run.sample()
    run.sample()
    assert obs.calls == 2 and {c for c, _ in obs.events} == {1, 2}
    seen = []
    Run(math_task(), ScriptedBackend(["a\n"]), on_token=seen.append).sample()
    assert seen


def test_strategies_declare_whether_they_continue_from_samples():
    assert get_strategy("self-consistency").reuses_samples and get_strategy("best-of-n").reuses_samples
    cot = get_strategy("cot")
    assert not cot.reuses_samples
    run = Run(math_task(), ScriptedBackend(["Final Answer: 1\n"]), budget=Budget(n=1))
    assert cot.run_with(run, ()).answer == "1"  # nothing given: a plain run
    with pytest.raises(ConfigError, match="does not continue"):
        cot.run_with(run, ["a sample"])
    assert issubclass(type(cot), Strategy)
