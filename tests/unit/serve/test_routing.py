"""Strategy selection, chat rendering and request validation, without a server."""

from __future__ import annotations

import pytest

pytest.importorskip("fastapi")

from pydantic import ValidationError  # noqa: E402

from nlrl.backends import ScriptedBackend  # noqa: E402
from nlrl.serve.errors import APIError, error_for  # noqa: E402
from nlrl.serve.prompting import chat_task, completion_task  # noqa: E402
from nlrl.serve.routing import model_ids, resolve  # noqa: E402
from nlrl.serve.schema import ChatRequest, Message  # noqa: E402

SERVED = ("gemma-3-270m", "gemma.gguf")


@pytest.mark.parametrize("model, body, want", [
    (None, None, ("gemma-3-270m", "cot", None, "default")),
    ("gemma.gguf", None, ("gemma.gguf", "cot", None, "default")),
    ("self-consistency/gemma-3-270m", None, ("gemma-3-270m", "self-consistency", None, "model")),
    ("self-consistency-8/gemma-3-270m", None, ("gemma-3-270m", "self-consistency", 8, "model")),
    ("best-of-n-3/gemma-3-270m", None, ("gemma-3-270m", "best-of-n", 3, "model")),
    ("self_consistency-gemma-3-270m", None, ("gemma-3-270m", "self-consistency", None, "model")),
    ("bon-gemma-3-270m", None, ("gemma-3-270m", "best-of-n", None, "model")),
    ("none-gemma-3-270m", None, ("gemma-3-270m", "cot", None, "model")),
    ("self-consistency-8/gemma-3-270m", "beam", ("gemma-3-270m", "beam", 8, "body")),  # body wins
    (None, "auto", ("gemma-3-270m", "auto", None, "body")),
])
def test_resolve_precedence(model, body, want):
    r = resolve(model, body, SERVED, "cot")
    assert (r.model, r.strategy, r.n, r.source) == want


def test_unknown_model_is_404_and_unknown_strategy_400_listing_known():
    with pytest.raises(APIError) as e:
        resolve("gpt-4o", None, SERVED, "cot")
    assert e.value.status == 404 and e.value.code == "model_not_found" and "gemma-3-270m" in e.value.message
    with pytest.raises(APIError) as e:
        resolve("magic/gemma-3-270m", None, SERVED, "cot")
    assert e.value.status == 400 and "self-consistency" in e.value.message
    with pytest.raises(APIError) as e:
        resolve(None, "magic", SERVED, "cot")
    assert e.value.status == 400 and "known:" in e.value.message
    with pytest.raises(APIError) as e:
        resolve("mcts-gemma-3-270m", None, SERVED, "cot")
    assert e.value.status == 400 and "optillm" in e.value.message


def test_model_ids_list_prefixed_names():
    ids = dict(model_ids(SERVED[:1]))
    assert ids["gemma-3-270m"] is None and ids["beam/gemma-3-270m"] == "beam"
    assert ids["bon-gemma-3-270m"] == "best-of-n"


def test_chat_on_a_base_model_uses_the_completion_prompt_with_context():
    b = ScriptedBackend(["x"])
    msgs = [Message(role="system", content="Be brief."), Message(role="user", content="Hi"),
            Message(role="assistant", content="Hello!"),
            Message(role="user", content=[{"type": "text", "text": "What is 2 + 3?"}])]
    task = chat_task(msgs, b)
    assert task.question == "What is 2 + 3?" and task.domain == "math"
    assert "Instructions: Be brief." in task.prompt_text and "Assistant: Hello!" in task.prompt_text
    assert task.prompt_text.rstrip().endswith("Answer:")  # the few-shot completion prompt
    assert "Question:" in task.stop


def test_chat_needs_a_final_user_turn():
    b = ScriptedBackend(["x"])
    for msgs in ([Message(role="system", content="x")],
                 [Message(role="user", content="q"), Message(role="assistant", content="prefill")],
                 [Message(role="user", content="   ")]):
        with pytest.raises(APIError) as e:
            chat_task(msgs, b)
        assert e.value.status == 400 and e.value.param.startswith("messages")


def test_completion_prompt_is_sent_as_is():
    task = completion_task("Q: 1 + 1?\nA:", stop=["\n"])
    assert task.prompt_text == "Q: 1 + 1?\nA:" and task.stop == ("\n",)


def test_schema_is_strict_and_ignores_unknown_top_level_fields():
    ok = ChatRequest.model_validate({"messages": [{"role": "user", "content": "hi"}], "frequency_penalty": 1})
    assert ok.n == 1
    for bad in ({"messages": [{"role": "user", "content": "hi"}], "n": "2"},
                {"messages": [{"role": "user", "content": "hi"}], "temperature": float("nan")},
                {"messages": [{"role": "user", "content": "hi"}], "seed": 2**40},
                {"messages": [{"role": "user", "content": "hi"}], "nlrl": {"stratgy": "cot"}},
                {"messages": []}):
        with pytest.raises(ValidationError):
            ChatRequest.model_validate(bad)


def test_error_mapping():
    from nlrl._exceptions import BackendError, ConfigError, PromptError

    assert error_for(PromptError("too long"), "r").status == 400
    assert error_for(ConfigError("bad"), "r").status == 400
    up = error_for(BackendError("boom", provider="openai", retry_after=2.2), "r")
    assert up.status == 502 and "boom" in up.message and up.headers["Retry-After"] == "2"
    bug = error_for(KeyError("x"), "req-1")
    assert bug.status == 500 and "req-1" in bug.message and "KeyError" not in bug.message
    body = bug.body()["error"]
    assert set(body) == {"message", "type", "param", "code"} and body["type"] == "server_error"
