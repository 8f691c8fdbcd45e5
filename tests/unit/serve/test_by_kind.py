"""Serve's usage by kind of call, and ``auto``'s delegated strategy streamed as it runs."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("prometheus_client")

from fastapi.testclient import TestClient  # noqa: E402

from nlrl.backends import ScriptedBackend  # noqa: E402
from nlrl.serve import ServeConfig, create_app  # noqa: E402
from nlrl.strategies import compute_optimal  # noqa: E402
from nlrl.strategies.compute_optimal import ComputeOptimalTable  # noqa: E402

Q = [{"role": "user", "content": "What is 2 + 2?"}]
DRAFT, CRITIQUE, REVISE = "Solve each problem", "Review each answer", "Rewrite each answer"
SCRIPT = {DRAFT: [" 2 + 2 = 3.\nFinal Answer: 3\n", " 2 + 2 = 5.\nFinal Answer: 5\n", " 2 + 2 = 5.\nFinal Answer: 5\n"],
          CRITIQUE: [" 2 + 2 is 4.\nVerdict: wrong\n"], REVISE: [" 2 + 2 = 4.\nFinal Answer: 4\n"]}


@pytest.fixture
def client(tmp_path, monkeypatch):
    # auto's table: probe 2 samples; when they disagree, self-refine one round
    pol = {"budget": 4, "probe": 2, "temperature": 0.7, "bins": [
        {"name": "easy", "min_agreement": 1.0, "choice": {"strategy": "self-consistency", "n": 2}},
        {"name": "hard", "min_agreement": 0.0, "choice": {"strategy": "self-refine", "n": 1}}]}
    table = ComputeOptimalTable({"domains": {"default": {"learned": True, "policies": [pol]}}})
    monkeypatch.setattr(compute_optimal, "_packaged", lambda: table)
    app = create_app(ScriptedBackend(SCRIPT), ServeConfig(model_names=("m",), run_dir=tmp_path))
    with TestClient(app) as c:
        yield c


def sse(text: str) -> list[dict]:
    return [json.loads(line[6:]) for line in text.splitlines()
            if line.startswith("data: ") and line != "data: [DONE]"]


def test_usage_by_kind_names_every_kind_of_call_and_adds_up(client):
    r = client.post("/v1/chat/completions", json={"messages": Q, "nlrl": {"strategy": "auto", "n": 4}})
    body = r.json()
    assert body["choices"][0]["message"]["content"] == "2 + 2 = 4.\nFinal Answer: 4"  # the revision
    by = body["nlrl"]["usage"]["by_kind"]
    assert {k: u["calls"] for k, u in by.items()} == {"probe": 1, "sample": 1, "critique": 1, "revision": 1}
    for key in ("prompt_tokens", "completion_tokens", "calls"):
        assert sum(u[key] for u in by.values()) == body["nlrl"]["usage"][key]
    assert sum(u["completion_tokens"] for u in by.values()) == body["usage"]["completion_tokens"]


def test_auto_streams_its_choices_events_while_it_runs(client):
    r = client.post("/v1/chat/completions", json={"messages": Q, "stream": True, "nlrl": {"strategy": "auto", "n": 4}})
    chunks = sse(r.text)
    seq = []  # what the client saw, in order: gists by sample, events by kind, the answer
    for c in chunks:
        meta = c.get("nlrl", {})
        if "gist" in meta:
            seq.append(("gist", meta["gist"]["sample"]))
        elif "event" in meta:
            seq.append(("event", meta["event"]["kind"]))
        elif c["choices"] and c["choices"][0]["delta"].get("content"):
            seq.append(("content", ""))
    compact = [x for i, x in enumerate(seq) if i == 0 or x[0] != "gist" or x != seq[i - 1]]
    events = [k for kind, k in compact if kind == "event"]
    assert events == ["sample", "sample", "difficulty", "choice", "sample", "critique", "revision", "stop"]
    # each of the chosen strategy's events arrives before the next model call streams anything
    first_gist_after = {k: next((i for i in range(compact.index(("event", k)), len(compact))
                                 if compact[i][0] == "gist"), None) for k in ("choice", "critique")}
    assert first_gist_after["choice"] is not None and first_gist_after["critique"] is not None
    assert compact.index(("event", "critique")) < first_gist_after["critique"]  # the revision's gists
    assert compact[-1] == ("content", "") and compact.index(("event", "stop")) < len(compact) - 1
