"""A backend written outside nlrl is one module: the CLI and the benchmark runner drive it by what
it declares, without naming it."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from nlrl.backends import BACKENDS, Backend, Completion, Generation, Usage, backend_class, load_backend
from nlrl.bench.runner import BenchRunner
from nlrl.cli import app
from nlrl.cli.options import backend_options, cli_settings

BUILT: list["EchoServerBackend"] = []


class EchoServerBackend(Backend):
    """Answers every prompt with the server URLs it was given (network-like: overlap requests)."""

    name = "echo-server"
    concurrent_requests = 5
    cache_completions = False
    settings_options = {"chat": "chat", "base_url": "base_url", "n_threads": "threads"}

    def __init__(self, model=None, *, base_url=None, chat=False, n_threads=None):
        self.model, self.base_url, self.chat, self.n_threads = model, base_url, chat, n_threads
        BUILT.append(self)

    def generate(self, prompts, params, *, on_token=None):
        text = f"Final Answer: {self.base_url}\n"
        return [Generation(p, tuple(Completion(i, text) for i in range(params.n)), Usage(1, 3, 1)) for p in prompts]


@pytest.fixture
def registered(monkeypatch):
    monkeypatch.setitem(BACKENDS._entries, "echo-server", f"{__name__}:EchoServerBackend")
    BUILT.clear()
    yield


def test_settings_become_the_options_it_declares(registered, monkeypatch):
    monkeypatch.delenv("NLRL_THREADS", raising=False)
    assert backend_class("echo-server") is EchoServerBackend
    settings = cli_settings("echo-server", "m", ["http://a", "http://b"], None, chat=True, threads=2)
    assert backend_options(settings, ["http://a", "http://b"]) == {
        "chat": True, "base_url": ["http://a", "http://b"], "n_threads": 2}
    # options it does not declare (the hf device, the embedded context size) are not passed
    assert backend_options(cli_settings("echo-server", None, None, None), None) == {}
    b = load_backend("echo-server", "m", **backend_options(settings, ["http://a"]))
    assert (b.model, b.base_url, b.chat, b.n_threads) == ("m", "http://a", True, 2)


def test_the_benchmark_runner_overlaps_as_many_samples_as_it_declares(registered):
    assert BenchRunner(load_backend("echo-server")).concurrency == 5
    assert BenchRunner(EchoServerBackend(), concurrency=2).concurrency == 2


def test_solve_runs_it_from_the_command_line(registered):
    r = CliRunner().invoke(app, ["solve", "--backend", "echo-server", "--base-url", "http://h:1",
                                 "--domain", "math", "--json", "What is 1 + 1?"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["final_answer"] == "http://h:1"
    assert BUILT[-1].base_url == "http://h:1"
