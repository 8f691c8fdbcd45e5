"""A served PRM: a real HTTP server started here speaks vLLM's pooling API (STEP pooling over a
tiny Qwen2.5-Math-PRM-shaped checkpoint and a Math-Shepherd one), vLLM's classification API (a
tiny outcome reward model with a one-label sequence-classification head) and a plain score
endpoint."""

from __future__ import annotations

import socket
import threading
import time

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
fastapi = pytest.importorskip("fastapi")
uvicorn = pytest.importorskip("uvicorn")

from nlrl import ConfigError, VerifierError  # noqa: E402
from nlrl.rewards import get_reward  # noqa: E402
from nlrl.rewards.prm import HFProcessReward  # noqa: E402
from nlrl.strategies import Budget  # noqa: E402
from nlrl.strategies.beam import BeamSearch  # noqa: E402

from helpers.prm_models import build  # noqa: E402

Q = "What is 2 + 2?"
STEPS = ["Step 1: 2 + 2 = 4.", "Step 2: so the answer is 4."]


def step_pooling_app(qwen_dir, shepherd_dir, outcome_dir):
    """vLLM's /v1/models and /pooling, with STEP pooling as vLLM computes it: the softmax over the
    labels (Qwen PRM) or over the returned token ids (+, -) at every step-tag token; and vLLM's
    /classify for a chat request: the template rendered without a generation prompt, encoded
    without added special tokens, the head read at the last token through a sigmoid (one label)."""
    qtok = transformers.AutoTokenizer.from_pretrained(qwen_dir)
    qmodel = transformers.AutoModelForTokenClassification.from_pretrained(qwen_dir).eval()
    stok = transformers.AutoTokenizer.from_pretrained(shepherd_dir)
    smodel = transformers.AutoModelForCausalLM.from_pretrained(shepherd_dir).eval()
    otok = transformers.AutoTokenizer.from_pretrained(outcome_dir)
    omodel = transformers.AutoModelForSequenceClassification.from_pretrained(outcome_dir).eval()
    app = fastapi.FastAPI()
    seen: list[dict] = []

    @app.post("/classify")
    def classify(body: dict):
        seen.append(body)
        if body.get("model") != "tiny-prm" or "messages" not in body:
            return fastapi.responses.JSONResponse({"object": "error", "message": "bad request"}, 400)
        text = otok.apply_chat_template(body["messages"], tokenize=False, add_generation_prompt=False)
        ids = otok.encode(text, add_special_tokens=False)
        with torch.no_grad():
            logit = omodel(input_ids=torch.tensor([ids])).logits[0, -1]
        probs = torch.sigmoid(logit).reshape(1).tolist()
        return {"id": "classify-1", "object": "list", "created": 0, "model": "tiny-prm",
                "data": [{"index": 0, "label": "LABEL_0", "probs": probs, "num_classes": 1}],
                "usage": {"prompt_tokens": len(ids), "total_tokens": len(ids), "completion_tokens": 0}}

    @app.post("/two/classify")
    def two_labels(body: dict):
        seen.append(body)
        k = len(body["messages"][-1]["content"].split("\n\n"))  # the steps in this prefix
        return {"object": "list", "model": "tiny-prm",
                "data": [{"index": 0, "label": "LABEL_1", "probs": [1 - k / 10, k / 10], "num_classes": 2}]}

    @app.post("/logits/classify")
    def raw_logits(body: dict):
        return {"data": [{"index": 0, "label": "LABEL_0", "probs": [3.7], "num_classes": 1}]}

    @app.post("/empty/classify")
    def empty(body: dict):
        return {"object": "list", "data": []}

    @app.post("/many/classify")
    def many(body: dict):
        return {"data": [{"index": 0, "label": "c", "probs": [0.2, 0.3, 0.5], "num_classes": 3}]}

    @app.get("/v1/models")
    def models():
        return {"object": "list", "data": [{"id": "tiny-prm", "object": "model"}]}

    @app.post("/pooling")
    def pooling(body: dict):
        seen.append(body)
        if body.get("model") != "tiny-prm":
            return fastapi.responses.JSONResponse({"object": "error", "message": "no such model"}, 404)
        with torch.no_grad():
            if "messages" in body:
                ids = qtok.encode(qtok.apply_chat_template(body["messages"], tokenize=False), add_special_tokens=False)
                logits = qmodel(input_ids=torch.tensor([ids]))[0][0]
                rows = logits[torch.tensor(ids) == qtok.convert_tokens_to_ids("<extra_0>")].softmax(-1)
            else:
                ids = stok.encode(body["input"])
                returned = stok.encode("+ -", add_special_tokens=False)
                logits = smodel(torch.tensor([ids])).logits[0][:, returned]
                rows = logits[torch.tensor(ids) == stok.encode("ки")[-1]].softmax(-1)
        return {"id": "pool-1", "object": "list", "created": 0, "model": "tiny-prm",
                "data": [{"index": 0, "object": "pooling", "data": rows.tolist()}],
                "usage": {"prompt_tokens": len(ids), "total_tokens": len(ids)}}

    @app.post("/score")
    def score(body: dict):
        seen.append(body)
        return {"scores": [min(1.0, len(s) / 40) for s in body["steps"]]}

    @app.post("/broken/pooling")
    def broken(body: dict):
        return {"data": [{"index": 0, "data": [[0.5, 0.5]]}]}  # one row whatever the steps

    return app, seen


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    qwen_dir = build("qwen-prm", tmp_path_factory.mktemp("qwen"))
    shepherd_dir = build("math-shepherd", tmp_path_factory.mktemp("shepherd"))
    outcome_dir = build("outcome", tmp_path_factory.mktemp("outcome"))
    app, seen = step_pooling_app(qwen_dir, shepherd_dir, outcome_dir)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.time() + 30
    while not srv.started and time.time() < deadline:
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}", seen, qwen_dir, shepherd_dir, outcome_dir
    srv.should_exit = True
    thread.join(10)


def test_vllm_pooling_scores_equal_the_local_checkpoint(server):
    url, seen, qwen_dir, shepherd_dir, _ = server
    served = get_reward(f"prm:{url}/pooling", aggregation="min")
    local = HFProcessReward(str(qwen_dir), device="cpu", dtype="float32")
    assert served.score_steps(Q, STEPS) == pytest.approx(local.score_steps(Q, STEPS), abs=1e-5)
    body = seen[-1]
    assert body["model"] == "tiny-prm"  # read from /v1/models
    assert body["messages"][-1] == {"role": "assistant", "content": "<extra_0>".join(STEPS) + "<extra_0>"}
    assert served.score(Q, "\n\n".join(STEPS)) == pytest.approx(min(local.score_steps(Q, STEPS)), abs=1e-5)

    shepherd = get_reward(f"prm:{url}/pooling", family="math-shepherd", model="tiny-prm")
    want = HFProcessReward(str(shepherd_dir), device="cpu", dtype="float32").score_steps(Q, STEPS)
    assert shepherd.score_steps(Q, STEPS) == pytest.approx(want, abs=1e-5)
    assert seen[-1]["input"] == f"{Q} {STEPS[0]} ки\n{STEPS[1]} ки"


def test_vllm_classify_scores_equal_the_local_outcome_checkpoint(server):
    url, seen, _, _, outcome_dir = server
    served = get_reward(f"prm:{url}/classify", aggregation="min")
    assert served.name == "prm:outcome"  # auto: the outcome family on a classify URL
    local = HFProcessReward(str(outcome_dir), device="cpu", dtype="float32")
    assert local.family.name == "outcome"
    before = len(seen)
    got = served.score_steps(Q, STEPS)
    assert got == pytest.approx(local.score_steps(Q, STEPS), abs=1e-5)
    assert len(got) == 2 and len({round(x, 6) for x in got}) == 2  # one score per prefix, and they differ
    # one chat request per prefix: the question as the user, the steps so far as the assistant
    assert [b["messages"][-1] for b in seen[before:]] == [
        {"role": "assistant", "content": STEPS[0]}, {"role": "assistant", "content": "\n\n".join(STEPS)}]
    assert all(b["model"] == "tiny-prm" and b["messages"][0] == {"role": "user", "content": Q}
               for b in seen[before:])
    assert served.score(Q, "\n\n".join(STEPS)) == pytest.approx(min(got), abs=1e-6)


def test_vllm_classify_two_labels_and_bad_answers(server):
    url, *_ = server
    two = get_reward(f"prm:{url}/two/classify", model="tiny-prm", aggregation="last")
    assert two.score_steps(Q, ["a", "b", "c"]) == pytest.approx([0.1, 0.2, 0.3])  # probs[1], the positive label
    with pytest.raises(VerifierError, match="not a probability"):
        get_reward(f"prm:{url}/logits/classify", model="tiny-prm").score_steps(Q, STEPS)
    with pytest.raises(VerifierError, match="3 class probabilities"):
        get_reward(f"prm:{url}/many/classify", model="tiny-prm").score_steps(Q, STEPS)
    with pytest.raises(VerifierError, match="without data\\[0\\].probs"):
        get_reward(f"prm:{url}/empty/classify", model="tiny-prm").score_steps(Q, STEPS)
    with pytest.raises(ConfigError, match="sequence-classification"):
        get_reward(f"prm:{url}/classify", family="qwen-prm")


def test_plain_score_endpoint(server):
    url, seen, *_ = server
    prm = get_reward(f"prm:{url}/score", aggregation="mean")
    assert prm.score_steps(Q, ["a" * 20, "b" * 40]) == [0.5, 1.0]
    assert seen[-1] == {"prompt": Q, "steps": ["a" * 20, "b" * 40]}
    assert prm.score(Q, "a\nbb") == pytest.approx((1 / 40 + 2 / 40) / 2)


def test_server_failures_are_verifier_errors_a_strategy_can_survive(server):
    url, *_ = server
    with pytest.raises(VerifierError, match="1 step rows for 2 steps"):
        get_reward(f"prm:{url}/broken/pooling", model="tiny-prm").score_steps(Q, STEPS)
    with pytest.raises(VerifierError, match="answered 404"):
        get_reward(f"prm:{url}/pooling", model="nope").score_steps(Q, STEPS)
    with pytest.raises(VerifierError, match="unreachable"):
        get_reward("prm:http://127.0.0.1:9/pooling", model="m", timeout_s=2).score_steps(Q, STEPS)
    with pytest.raises(ConfigError, match="step tag"):
        get_reward(f"prm:{url}/pooling", family="outcome")


def test_beam_search_is_guided_by_the_served_prm(server):
    from nlrl import ScriptedBackend
    from nlrl.tasks.task import Task

    url, seen, *_ = server
    before = len(seen)
    backend = ScriptedBackend(lambda prompt, i: "Final Answer: 4\n")
    res = BeamSearch(2, max_steps=1)(Task.build(Q, domain="math"), backend, reward=f"prm:{url}/score",
                                     budget=Budget(n=2))
    assert res.answer == "4" and len(seen) > before


def test_beam_search_is_guided_by_an_outcome_model_served_by_classify(server):
    from nlrl import ScriptedBackend
    from nlrl.tasks.task import Task

    url, seen, *_ = server
    before = len(seen)
    backend = ScriptedBackend(lambda prompt, i: "Final Answer: 4\n")
    res = BeamSearch(2, max_steps=1)(Task.build(Q, domain="math"), backend, reward=f"prm:{url}/classify",
                                     budget=Budget(n=2))
    assert res.answer == "4"
    asked = [b for b in seen[before:] if "messages" in b]
    assert asked and asked[-1]["messages"][-1] == {"role": "assistant", "content": "Final Answer: 4"}
