"""The app in-process over the scripted backend: responses, streams, limits, auth, logs."""

from __future__ import annotations

import asyncio
import json
import threading

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("prometheus_client")

from fastapi.testclient import TestClient  # noqa: E402

from nlrl.backends import ScriptedBackend  # noqa: E402
from nlrl.serve import ServeConfig, create_app, read_keys  # noqa: E402
from nlrl.serve.engine import Engine, Job, JobSpec  # noqa: E402
from nlrl.serve.errors import APIError, RunCancelled  # noqa: E402
from nlrl.serve.prompting import completion_task  # noqa: E402
from nlrl.strategies import Budget  # noqa: E402

Q = [{"role": "user", "content": "What is 2 + 2?"}]


def answers(prompt: str, i: int) -> str:
    return f" Step {i}.\nFinal Answer: {4 if i % 3 else 5}\n"


@pytest.fixture
def client(tmp_path):
    app = create_app(ScriptedBackend(answers), ServeConfig(model_names=("m",), run_dir=tmp_path))
    with TestClient(app) as c:
        yield c


def sse(text: str) -> list[dict]:
    out = []
    for line in text.splitlines():
        if line.startswith("data: ") and line != "data: [DONE]":
            out.append(json.loads(line[6:]))
    return out


def test_chat_completion_shape_and_usage(client):
    r = client.post("/v1/chat/completions", json={"model": "m", "messages": Q})
    assert r.status_code == 200 and r.headers["x-request-id"]
    body = r.json()
    assert body["object"] == "chat.completion" and body["model"] == "m"
    choice = body["choices"][0]
    assert choice["message"] == {"role": "assistant", "content": " Step 0.\nFinal Answer: 5\n"}
    assert choice["finish_reason"] == "stop"
    assert body["usage"]["completion_tokens"] > 0 and body["usage"]["prompt_tokens"] > 0
    assert body["nlrl"]["choices"][0]["final_answer"] == "5"


def test_self_consistency_votes_and_counts_every_sample(client):
    r = client.post("/v1/chat/completions", json={
        "messages": Q, "temperature": 0.7, "nlrl": {"strategy": "self-consistency", "n": 3, "return_trace": True}})
    body = r.json()
    assert body["nlrl"]["choices"][0]["final_answer"] == "4"  # two of three samples say 4
    kinds = [e["kind"] for e in body["nlrl"]["choices"][0]["trace"]]
    assert kinds.count("sample") == 3 and kinds[-1] == "vote"
    per_sample = [e["tokens"] for e in body["nlrl"]["choices"][0]["trace"] if e["kind"] == "sample"]
    assert body["usage"]["completion_tokens"] == sum(per_sample)


def test_n_gives_independent_runs(client):
    r = client.post("/v1/chat/completions", json={"messages": Q, "n": 2, "temperature": 0.7, "seed": 1,
                                                  "nlrl": {"strategy": "self-consistency", "n": 2}})
    body = r.json()
    assert [c["index"] for c in body["choices"]] == [0, 1]
    assert body["usage"]["completion_tokens"] == sum(c["usage"]["completion_tokens"] for c in body["nlrl"]["choices"])


def test_single_pass_stream_is_token_by_token(client):
    r = client.post("/v1/chat/completions", json={"messages": Q, "stream": True,
                                                  "stream_options": {"include_usage": True}})
    assert r.headers["content-type"].startswith("text/event-stream")
    chunks = sse(r.text)
    assert r.text.rstrip().endswith("data: [DONE]")
    pieces = [c["choices"][0]["delta"].get("content") for c in chunks if c["choices"]]
    assert "".join(p for p in pieces if p) == " Step 0.\nFinal Answer: 5\n"
    assert sum(1 for p in pieces if p) >= 5
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["completion_tokens"] > 0


def test_multi_sample_stream_shows_reasoning_then_content(client):
    r = client.post("/v1/chat/completions", json={"model": "self-consistency-3/m", "messages": Q,
                                                  "temperature": 0.5, "stream": True})
    chunks = sse(r.text)
    deltas = [c["choices"][0]["delta"] for c in chunks if c["choices"]]
    reasoning = "".join(d.get("reasoning_content", "") for d in deltas)
    assert "[sample 0]" in reasoning and "[sample 2]" in reasoning and "vote: '4' wins" in reasoning
    content = [d["content"] for d in deltas if d.get("content")]
    assert content == [" Step 1.\nFinal Answer: 4\n"]  # the answer, after the search
    first_content = next(i for i, d in enumerate(deltas) if d.get("content"))
    assert all(not d.get("reasoning_content") for d in deltas[first_content:])
    events = [c["nlrl"]["event"]["kind"] for c in chunks if "event" in c.get("nlrl", {})]
    assert events == ["sample", "sample", "sample", "vote"]
    assert "usage" not in chunks[-1]  # include_usage not asked


def test_completions_route(client):
    r = client.post("/v1/completions", json={"prompt": ["Q: a\nA:", "Q: b\nA:"], "n": 2, "max_tokens": 3})
    body = r.json()
    assert body["object"] == "text_completion" and [c["index"] for c in body["choices"]] == [0, 1, 2, 3]
    assert all(c["finish_reason"] == "length" for c in body["choices"])


def test_errors_are_openai_objects(client):
    cases = {
        400: [client.post("/v1/chat/completions", content=b"{", headers={"content-type": "application/json"}),
              client.post("/v1/chat/completions", json={"messages": Q, "n": 100}),
              client.post("/v1/chat/completions", json={"messages": Q, "nlrl": {"reward": "nope"}}),
              client.post("/v1/chat/completions", json={"messages": Q, "logprobs": True,
                                                        "nlrl": {"strategy": "self-consistency"}}),
              client.post("/v1/chat/completions", json={"messages": Q, "nlrl": {"max_total_tokens": 10**9}})],
        404: [client.post("/v1/chat/completions", json={"model": "other", "messages": Q}),
              client.get("/v1/nothing")],
        405: [client.get("/v1/chat/completions")],
    }
    for status, rs in cases.items():
        for r in rs:
            assert r.status_code == status, r.text
            assert set(r.json()["error"]) == {"message", "type", "param", "code"}


def test_a_stream_the_run_refuses_gets_its_own_status(client):
    # beam needs log-probabilities or a process reward; the scripted backend has neither
    r = client.post("/v1/chat/completions", json={"messages": Q, "stream": True, "nlrl": {"strategy": "beam"}})
    assert r.status_code == 400 and "beam search needs" in r.json()["error"]["message"]


def test_upstream_failure_is_502_with_its_message(tmp_path):
    app = create_app(ScriptedBackend([" one\nFinal Answer: 1\n"]), ServeConfig())
    with TestClient(app) as c:
        assert c.post("/v1/chat/completions", json={"messages": Q}).status_code == 200
        r = c.post("/v1/chat/completions", json={"messages": Q})  # the script has run out
    assert r.status_code == 502 and "ran out of outputs" in r.json()["error"]["message"]


def test_body_limit_and_auth(tmp_path):
    keys = tmp_path / "keys"
    keys.write_text("# team keys\nsk-one\nsk-two\n")
    cfg = ServeConfig(api_keys=read_keys(None, keys), max_body_bytes=2000, run_dir=tmp_path)
    with TestClient(create_app(ScriptedBackend(answers), cfg)) as c:
        assert c.get("/health").status_code == 200
        assert c.get("/v1/models").status_code == 401
        assert c.get("/v1/models", headers={"Authorization": "Bearer sk-three"}).status_code == 401
        assert c.get("/v1/models", headers={"Authorization": "Bearer sk-two"}).status_code == 200
        r = c.post("/v1/chat/completions", headers={"Authorization": "Bearer sk-one"},
                   json={"messages": [{"role": "user", "content": "x" * 5000}]})
        assert r.status_code == 413 and r.json()["error"]["code"] == "body_too_large"
    log = (tmp_path / "serve-requests.jsonl").read_text()
    assert "sk-" not in log and '"status": 401' in log and '"status": 413' in log


def test_read_keys_from_env(monkeypatch):
    monkeypatch.setenv("NLRL_API_KEY", "sk-env")
    assert read_keys() == ("sk-env",)
    assert read_keys("sk-flag") == ("sk-flag",)


def test_metrics_and_request_log(client, tmp_path):
    client.post("/v1/chat/completions", json={"messages": Q})
    text = client.get("/metrics").text
    assert 'nlrl_requests_total{route="/v1/chat/completions",status="200",strategy="cot"} 1.0' in text
    assert "nlrl_completion_tokens_total" in text and "nlrl_request_latency_seconds_count" in text
    entry = json.loads((tmp_path / "serve-requests.jsonl").read_text().splitlines()[-1])
    assert entry["status"] == 200 and entry["strategy"] == "cot" and entry["completion_tokens"] > 0


# ---- the engine: bounded queue and cancellation -----------------------------------------------


class Gated(ScriptedBackend):
    """Scripted, but each generation waits for ``gate`` (so a test controls when runs finish)."""

    def __init__(self) -> None:
        super().__init__(answers)
        self.gate = threading.Event()
        self.entered = threading.Event()

    def generate(self, prompts, params, *, on_token=None):
        self.entered.set()
        self.gate.wait(10)
        return super().generate(prompts, params, on_token=on_token)


def spec() -> JobSpec:
    return JobSpec((completion_task("Q: 1?\nA:"),), 1, "cot", Budget(max_tokens=8))


def test_full_queue_is_refused_with_retry_after_and_slots_come_back():
    backend = Gated()
    engine = Engine(backend, max_concurrency=1, max_queue=1, retry_after_s=3)

    async def go() -> None:
        await engine.admit()
        first = engine.submit(Job(spec(), "a"), emit=False)
        queued = asyncio.ensure_future(engine.admit())
        await asyncio.sleep(0.01)
        assert engine.waiting == 1 and engine.running == 1
        with pytest.raises(APIError) as e:
            await engine.admit()
        assert e.value.status == 429 and e.value.headers["Retry-After"] == "3"
        backend.gate.set()
        assert (await first)[0].result.final_answer == "5"
        await queued  # the queued request got the slot
        assert engine.running == 1 and engine.waiting == 0
        second = engine.submit(Job(spec(), "b"), emit=False)
        await second
        assert engine.running == 0

    asyncio.run(go())
    engine.close()


def test_cancel_stops_the_run_at_the_next_token_and_frees_the_slot():
    backend = Gated()
    engine = Engine(backend, max_concurrency=1, max_queue=0)

    async def go() -> None:
        await engine.admit()
        job = Job(spec(), "c")
        fut = engine.submit(job, emit=True)
        while not backend.entered.is_set():
            await asyncio.sleep(0.005)
        job.cancel.set()
        backend.gate.set()
        with pytest.raises(RunCancelled):
            await fut
        assert job.tokens == 0 and engine.running == 0
        await engine.admit()  # served at once
        engine._release(Job(spec(), "d"))

    asyncio.run(go())
    engine.close()
