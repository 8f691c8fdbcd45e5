"""The conformance matrix: every sampling strategy through the openai backend against real
OpenAI-compatible servers, streamed and not, n = 1 and n > 1, completions and chat.

Each cell asserts what the strategies rely on: every generate call got the samples it asked
for (indices 0..n-1), sample i of a seeded call was asked for with seed + i, the run's usage is
the sum of its calls' usage and counts one call per HTTP request the servers received, stop
strings are honoured, and when streaming, gists arrive while generation is still under way.
Budgets are tiny (few-word prompt, 8 tokens a completion, a total-token cap) so the matrix
stays a few minutes on two cores; the servers are shared by the whole session.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import replace
from typing import Any, Sequence

import httpx
import pytest
from helpers.http_servers import KEY_ENV

from nlrl.backends import Generation, SamplingParams, TokenCallback
from nlrl.backends.base import WrappedBackend
from nlrl.backends.openai import OpenAIBackend
from nlrl.pipeline import Pipeline
from nlrl.strategies import Budget, Strategy, get_strategy
from nlrl.strategies.beam import BeamSearch
from nlrl.strategies.divide_conquer import DivideAndConquer
from nlrl.strategies.self_refine import SelfRefine
from nlrl.tasks import Task

pytestmark = pytest.mark.integration

STRATEGIES = ["cot", "self-consistency", "adaptive-self-consistency", "best-of-n",
              "weighted-best-of-n", "self-refine", "divide-and-conquer", "beam", "auto"]
CHEAP = {"cot", "self-consistency", "adaptive-self-consistency"}
NEVER_STREAMED = {"beam", "divide-and-conquer"}
SERVERS = ["conformance", "llama-cpp-python", "litellm"]
QUESTION = "What is 2 + 3?"
PROMPT = "Question: What is 1 + 1?\nAnswer: 1 + 1 = 2.\nFinal Answer: 2\n\nQuestion: What is 2 + 3?\nAnswer:"


def small(name: str) -> Strategy:
    """The strategy with the smallest settings that still exercise it."""
    if name == "beam":  # two beams, two expansions each: a call of two prompts with n=2
        return BeamSearch(2, max_steps=1, step_tokens=8)
    if name == "divide-and-conquer":
        return DivideAndConquer(1, max_subquestions=2, subanswer_tokens=8)
    if name == "self-refine":
        return SelfRefine(1)
    return get_strategy(name)


class RecordingTransport(httpx.AsyncBaseTransport):
    """The real network transport, noting every generation request's JSON body."""

    def __init__(self) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.bodies: list[dict[str, Any]] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.method == "POST" and request.url.path.endswith("completions"):
            self.bodies.append(json.loads(request.content))
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


class Recorder(WrappedBackend):
    """Notes every generate call: its params, its generations, the HTTP bodies it sent, when it
    ended, and the token events it streamed."""

    def __init__(self, inner: OpenAIBackend, transport: RecordingTransport) -> None:
        super().__init__(inner)
        self.transport = transport
        self.calls: list[dict[str, Any]] = []
        self._lock = threading.Lock()

    def generate(self, prompts: Sequence[str], params: SamplingParams, *,
                 on_token: TokenCallback | None = None) -> list[Generation]:
        events: list[Any] = []

        def hook(e):
            events.append(e)
            return on_token(e)  # type: ignore[misc]

        first = len(self.transport.bodies)
        gens = self.inner.generate(prompts, params, on_token=hook if on_token else None)
        with self._lock:
            self.calls.append({"params": params, "gens": gens, "events": events,
                               "bodies": self.transport.bodies[first:], "end": time.perf_counter()})
        return gens


def prompt_of(body: dict[str, Any]) -> str:
    return body.get("prompt") or json.dumps(body.get("messages"))


def check_call(call: dict[str, Any], preempted: bool, native_n: bool) -> None:
    params: SamplingParams = call["params"]
    gens: list[Generation] = call["gens"]
    bodies = call["bodies"]
    for g in gens:
        assert [c.index for c in g.completions] == list(range(params.n)), "samples asked for"
        for c in g.completions:
            assert not any(s in c.text for s in params.stop), f"stop string in {c.text!r}"
    # one usage call per HTTP request sent
    assert sum(g.usage.calls for g in gens) == len(bodies)
    assert sum(g.usage.completion_tokens for g in gens) >= 1 or all(
        not c.text for g in gens for c in g.completions)
    if params.seed is not None:
        for g in gens:  # per prompt: sample i asked for with seed + i, and no seed twice
            mine = [b for b in bodies if prompt_of(b) == g.prompt or
                    (b.get("messages") and b["messages"][-1]["content"] == g.prompt)]
            # a server without native n used only the first seed of a request for n
            seeds = [b["seed"] + j for b in mine for j in range(b.get("n", 1) if native_n else 1)]
            assert {params.seed + i for i in range(params.n)} <= set(seeds), "seed + i for sample i"
            # (a chat completion the server ended early is asked for again with its own seed)
            assert len(seeds) == len(set(seeds)) or preempted, f"a sample seed asked twice: {seeds}"


def cells() -> list[Any]:
    """Every cell on the conformance server. On the model-backed servers, every cell of the
    strategies whose calls are one sampling request each (cot, the two self-consistencies);
    the strategies that chain many calls (rewards, critiques, steps) once, streamed with n=3
    on the completions endpoint, as the CLI runs them (through the proxy, beam only): their
    requests are of the same kinds."""
    out = []
    for server in SERVERS:
        for strategy in STRATEGIES:
            for stream in (True, False):
                for n in (1, 3):
                    for endpoint in ("completions", "chat"):
                        light = server == "conformance" or strategy in CHEAP
                        once = stream and n == 3 and endpoint == "completions"
                        # through the proxy, beam stands for the chained strategies: its calls
                        # are the most varied (two prompts, n=2, stop at a newline, logprobs)
                        if not light and not (once and (server != "litellm" or strategy == "beam")):
                            continue
                        marks = [] if light else [pytest.mark.slow, pytest.mark.timeout(900)]
                        out.append(pytest.param(
                            server, strategy, stream, n, endpoint, marks=marks,
                            id=f"{server}-{strategy}-{'stream' if stream else 'no-stream'}-n{n}-{endpoint}"))
    return out


@pytest.mark.parametrize("target, strategy, stream, n, endpoint", cells(), indirect=["target"])
def test_matrix(target, endpoint, n, stream, strategy, findings):
    transport = RecordingTransport()
    inner = OpenAIBackend(target.models[endpoint], base_url=target.url, endpoint=endpoint,
                          api_key_env=KEY_ENV, transport=transport, timeout_s=120,
                          max_concurrency=4)
    backend = Recorder(inner, transport)
    # "easy": one worked example in the prompts strategies build themselves (beam, critiques)
    task = Task.build(QUESTION, domain="math", difficulty="easy")
    task = replace(task, prompt_text=PROMPT)
    budget = Budget(n=n, max_tokens=8, seed=7, temperature=0.8)
    t0 = time.perf_counter()
    try:
        if stream:
            gists: list[tuple[float, Any]] = []
            pipe = Pipeline(backend, strategy=small(strategy), n=n, max_tokens=8,
                            temperature=0.8, seed=7)
            result = pipe.solve(task, on_gist=lambda g: gists.append((time.perf_counter(), g)))
        else:
            result = small(strategy)(task, backend, budget=budget)
    finally:
        inner.close()
    calls = backend.calls
    assert calls, "the strategy made no model call"
    preempted = any(s.preempts for s in inner._pool.servers)
    native_n = all(s.native_n is not False for s in inner._pool.servers)
    for call in calls:
        check_call(call, preempted, native_n)
    # the run's usage is the sum of its calls, one per HTTP request
    total_calls = sum(g.usage.calls for c in calls for g in c["gens"])
    assert result.usage.calls == total_calls == len(transport.bodies)
    assert result.usage.completion_tokens == sum(g.usage.completion_tokens
                                                 for c in calls for g in c["gens"])
    assert result.usage.prompt_tokens == sum(g.usage.prompt_tokens for c in calls for g in c["gens"])
    # Beam's steps and divide-and-conquer's sub-answers are never streamed (no gists to show);
    # every other strategy streams its samples when asked to.
    streamed = any(b.get("stream", False) for b in transport.bodies)
    assert streamed == (stream and strategy not in NEVER_STREAMED)
    # The embedded base model may end a chat turn at once (it has no chat training; whether the
    # first sampled token is the end of turn depends on the CPU kernels' rounding): an empty reply
    # streams nothing, so gists are asserted only where some text was generated.
    generated = any(c.text for call in calls for g in call["gens"] for c in g.completions)
    if streamed and generated:
        assert gists, "no gist arrived"
        assert gists[0][0] < calls[-1]["end"], "the first gist came after generation ended"
        assert any(c["events"] for c in calls)
    elif streamed:
        assert endpoint == "chat" and target.name != "conformance", "only a model's chat turn may be empty"
    else:
        assert not any(c["events"] for c in calls)
    findings.cells.append({"server": target.name, "strategy": strategy, "stream": stream, "n": n,
                           "endpoint": endpoint, "http_requests": len(transport.bodies),
                           "generate_calls": len(calls), "streamed": streamed, "generated": generated,
                           "seconds": round(time.perf_counter() - t0, 2)})
