"""The sampling strategies' default temperature comes from the measured per-domain table."""

from __future__ import annotations

import pytest

from nlrl import ScriptedBackend
from nlrl.strategies import Budget, get_strategy, program_aided, public_tests, sampling
from nlrl.tasks.task import Task

TABLE = {"math": 0.31, "commonsense": 0.47, "coding": 0.53}
SAMPLING = ["self-consistency", "adaptive-self-consistency", "best-of-n", "weighted-best-of-n", "beam",
            "divide-and-conquer", "program-aided", "public-tests", "deepconf"]


@pytest.fixture
def table(monkeypatch):
    monkeypatch.setattr(sampling, "DOMAIN_TEMPERATURES", TABLE)
    # nothing below needs a program run: the requests' temperatures are what is checked
    monkeypatch.setattr(program_aided, "run_many", lambda programs, limits: [_failed()] * len(programs))
    monkeypatch.setattr(public_tests, "run_public_tests", lambda outputs, tests, *a, **k: [])
    return TABLE


def _failed():
    from nlrl.verifiers.sandbox import RunResult

    return RunResult("failed", 1, "", "", 0.0, "test")


def _task(domain: str) -> Task:
    q = {"math": "What is 2 + 3?", "commonsense": "Where is milk kept?\nA. fridge\nB. oven",
         "coding": "Write inc.\nassert inc(1) == 2"}[domain]
    return Task.build(q, domain=domain)


def _backend() -> ScriptedBackend:
    return ScriptedBackend(lambda prompt, i: "Step 1: 2 + 3 = 5.\nFinal Answer: 5\n", logprob=lambda t: -0.1)


def _sampled(backend: ScriptedBackend) -> set[float]:
    return {r.params.temperature for r in backend.requests if r.params.temperature > 0}


@pytest.mark.parametrize("name", SAMPLING)
@pytest.mark.parametrize("domain", ["math", "commonsense", "coding"])
def test_without_a_temperature_every_sampling_strategy_uses_the_domain_default(table, name, domain):
    backend = _backend()
    get_strategy(name)(_task(domain), backend, budget=Budget(n=2, max_tokens=32, seed=0))
    assert _sampled(backend) == {table[domain]}


@pytest.mark.parametrize("name", SAMPLING)
def test_the_budget_and_the_strategy_option_override_the_default(table, name):
    backend = _backend()
    get_strategy(name)(_task("math"), backend, budget=Budget(n=2, max_tokens=32, seed=0, temperature=0.9))
    assert _sampled(backend) == {0.9}
    backend = _backend()
    get_strategy(name, temperature=0.65)(_task("math"), backend, budget=Budget(n=2, max_tokens=32, seed=0))
    assert _sampled(backend) == {0.65}


def test_the_table_lookup_and_its_fallback():
    assert sampling.default_temperature("commonsense") == sampling.DOMAIN_TEMPERATURES["commonsense"]
    assert sampling.default_temperature("no-such-domain") == sampling.DEFAULT_TEMPERATURE
    assert sampling.default_temperature(None) == sampling.DEFAULT_TEMPERATURE
    assert set(sampling.DOMAIN_TEMPERATURES) == {"math", "commonsense", "coding"}


def test_the_packaged_table_equals_the_measured_choice():
    """The defaults are the choices recorded in benchmarks/results/temperature.json (math,
    commonsense) and coding_temperature.json (coding)."""
    import json
    from pathlib import Path

    path = Path(__file__).resolve().parents[3] / "benchmarks" / "results" / "temperature.json"
    if not path.exists():
        pytest.skip("benchmarks/results/temperature.json is not in this checkout")
    measured = json.loads(path.read_text())["domains"]
    coding = path.with_name("coding_temperature.json")  # coding: swept on the minicode dev split
    if coding.exists() and json.loads(coding.read_text())["chosen"] is not None:
        measured["coding"] = {"chosen": json.loads(coding.read_text())["chosen"]}
    for domain, temperature in sampling.DOMAIN_TEMPERATURES.items():
        # a domain the sweep did not reach keeps the previous default
        want = measured[domain]["chosen"] if domain in measured else sampling.DEFAULT_TEMPERATURE
        assert temperature == want, domain
