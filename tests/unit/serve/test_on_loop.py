"""``nlrl serve`` as a proxy with the backend on the server's event loop: a ``cot`` request makes
its upstream call right on the loop (no worker thread); everything else still works through
the worker threads, with the backend's requests on the same loop."""

from __future__ import annotations

import asyncio
import json
import threading

import httpx
import pytest

pytest.importorskip("fastapi")
pytest.importorskip("prometheus_client")

from fastapi.testclient import TestClient  # noqa: E402

from nlrl.backends.openai import OpenAIBackend  # noqa: E402
from nlrl.serve import ServeConfig, create_app  # noqa: E402
from nlrl.serve.engine import Engine, Job, JobSpec  # noqa: E402
from nlrl.serve.errors import RunCancelled  # noqa: E402
from nlrl.serve.prompting import completion_task  # noqa: E402
from nlrl.strategies import Budget  # noqa: E402

WORDS = [" 2", " +", " 2", " =", " 4.", "\nFinal", " Answer:", " 4", "\n"]


class Upstream:
    """An OpenAI completions server in-process (httpx MockTransport), streamed or not; notes the
    thread each request came from. ``hold``: requests wait until it is set."""

    def __init__(self) -> None:
        self.threads: list[str] = []
        self.bodies: list[dict] = []
        self.hold: asyncio.Event | None = None

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        self.threads.append(threading.current_thread().name)
        if request.url.path.endswith("/models"):
            return httpx.Response(200, json={"data": [{"id": "m"}]})
        if not request.url.path.endswith("/completions"):
            return httpx.Response(404, json={"error": {"message": "no such route"}})
        body = json.loads(request.content)
        self.bodies.append(body)
        if self.hold is not None:
            await self.hold.wait()
        words = WORDS[: body.get("max_tokens", 16)]
        finish = "length" if len(words) < len(WORDS) else "stop"
        if not body.get("stream"):
            return httpx.Response(200, json={
                "choices": [{"index": 0, "text": "".join(words), "finish_reason": finish}],
                "usage": {"prompt_tokens": 5, "completion_tokens": len(words)}})
        lines = [{"choices": [{"index": 0, "text": w, "finish_reason": None}]} for w in words]
        lines.append({"choices": [{"index": 0, "text": "", "finish_reason": finish}],
                      "usage": {"prompt_tokens": 5, "completion_tokens": len(words)}})
        sse = "".join(f"data: {json.dumps(x)}\n\n" for x in lines) + "data: [DONE]\n\n"
        return httpx.Response(200, text=sse, headers={"content-type": "text/event-stream"})


@pytest.fixture
def proxy(tmp_path):
    up = Upstream()
    backend = OpenAIBackend("m", base_url="http://up.test/v1", transport=httpx.MockTransport(up))
    app = create_app(backend, ServeConfig(model_names=("m",), run_dir=tmp_path))
    with TestClient(app) as c:
        yield c, up, app
    backend.close()


def test_cot_completion_is_proxied_on_the_loop(proxy):
    c, up, app = proxy
    r = c.post("/v1/completions", json={"model": "m", "prompt": "Q: 2+2?\nA:", "max_tokens": 9})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["choices"][0]["text"] == "".join(WORDS) and body["choices"][0]["finish_reason"] == "stop"
    assert body["usage"] == {"prompt_tokens": 5, "completion_tokens": 9, "total_tokens": 14}
    assert body["nlrl"]["choices"][0]["final_answer"] == "4"
    assert up.bodies[-1]["prompt"] == "Q: 2+2?\nA:" and not up.bodies[-1].get("stream")
    # the upstream request came from the server's loop, not a worker or the backend's own thread
    assert not up.threads[-1].startswith(("nlrl-serve", "nlrl-openai"))
    engine = app.app.state.engine
    assert engine.on_loop and engine.running == 0 and not engine.jobs
    r = c.post("/v1/completions", json={"prompt": "Q: 1+1?\nA:", "max_tokens": 3})
    assert r.json()["choices"][0]["finish_reason"] == "length"
    log = [json.loads(x) for x in (app.app.state.request_log.path).read_text().splitlines()]
    assert [x["status"] for x in log] == [200, 200] and log[0]["completion_tokens"] == 9


def test_every_cot_request_stays_on_the_loop_and_others_use_workers(proxy):
    c, up, app = proxy
    engine = app.app.state.engine
    r = c.post("/v1/completions", json={"prompt": "Q: 2+2?\nA:", "max_tokens": 9})
    loop_name = up.threads[-1]
    # a chat request stops adaptively: it watches the tokens, so its upstream call streams
    r = c.post("/v1/chat/completions", json={"messages": [{"role": "user", "content": "What is 2+2?"}]})
    assert r.status_code == 200 and "Final Answer: 4" in r.json()["choices"][0]["message"]["content"]
    assert up.bodies[-1]["stream"] is True
    # a streamed cot completion streams its tokens, a streamed chat its deltas
    r = c.post("/v1/completions", json={"prompt": "Q: 2+2?\nA:", "max_tokens": 9, "stream": True,
                                        "stream_options": {"include_usage": True}})
    events = [json.loads(x[6:]) for x in r.text.splitlines() if x.startswith("data: {")]
    assert "".join(e["choices"][0]["text"] for e in events if e["choices"]) == "".join(WORDS)
    assert events[-1]["usage"]["completion_tokens"] == 9
    r = c.post("/v1/chat/completions", json={"messages": [{"role": "user", "content": "What is 2+2?"}],
                                             "stream": True})
    deltas = [json.loads(x[6:]) for x in r.text.splitlines() if x.startswith("data: {")]
    assert "Final Answer: 4" in "".join(d["choices"][0]["delta"].get("content") or "" for d in deltas if d["choices"])
    assert not engine._pool._threads  # no worker thread was ever started
    # self-consistency: a worker thread runs it, its requests go out from the loop
    r = c.post("/v1/completions", json={"prompt": "Q: 2+2?\nA:", "max_tokens": 9, "temperature": 0.7,
                                        "nlrl": {"strategy": "self-consistency", "n": 3}})
    assert r.status_code == 200, r.text
    assert r.json()["nlrl"]["choices"][0]["final_answer"] == "4"
    assert r.json()["usage"]["completion_tokens"] == 27
    assert engine._pool._threads
    assert set(up.threads[1:]) == {loop_name}
    assert engine.running == 0 and not engine.jobs


def test_runs_on_loop_only_for_a_declared_strategy_on_a_backend_that_took_the_loop():
    def spec(strategy: str = "cot", **kw) -> JobSpec:
        return JobSpec((completion_task("Q: 1?\nA:"),), 1, strategy, Budget(max_tokens=4), **kw)

    engine = Engine(OpenAIBackend("m", base_url="http://up.test/v1"), max_concurrency=1)
    assert not engine.runs_on_loop(spec())  # the backend has not taken a loop
    engine.on_loop = True
    assert engine.runs_on_loop(spec()) and engine.runs_on_loop(spec(stream=True, logprobs=True))
    assert not engine.runs_on_loop(spec("self-consistency"))
    engine.close()


def test_a_run_on_the_loop_is_cancelled_and_frees_its_slot():
    up = Upstream()
    backend = OpenAIBackend("m", base_url="http://up.test/v1", transport=httpx.MockTransport(up))

    async def main() -> None:
        engine = Engine(backend, max_concurrency=1, max_queue=0)
        engine.on_loop = backend.attach_loop(asyncio.get_running_loop())
        up.hold = asyncio.Event()
        spec = JobSpec((completion_task("Q: 1?\nA:"),), 1, "cot", Budget(max_tokens=4))
        # cancelled before it starts: never reaches the upstream
        await engine.admit()
        job = Job(spec, "r0")
        job.cancel.set()
        with pytest.raises(RunCancelled):
            await engine.submit(job, emit=False)
        assert engine.running == 0 and not up.bodies
        # cancelled while its upstream request is in flight (the server shutting down)
        await engine.admit()
        fut = engine.submit(Job(spec, "r1"), emit=False)
        while not up.bodies:
            await asyncio.sleep(0.01)
        await asyncio.to_thread(engine.close, False)
        with pytest.raises(asyncio.CancelledError):
            await fut
        assert engine.running == 0
        await backend.detach_loop()

    asyncio.run(main())
    backend.close()
