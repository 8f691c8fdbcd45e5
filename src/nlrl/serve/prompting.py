"""Requests become :class:`~nlrl.tasks.task.Task` s.

Chat messages are rendered through nlrl's own prompts: the last user turn is the question and
earlier turns (system instructions included) are context written above it. On a base model that
is the few-shot completion prompt (a base model sent through a chat template ends its turn at
once); on a chat model (``backend.chat``) the same content goes through the model's own chat
template. A ``/v1/completions`` prompt is already the text to continue: it is sent as it is.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Sequence

from .._exceptions import PromptError
from ..tasks.classify import classify
from ..tasks.task import Task, ensure_text
from .errors import APIError
from .schema import Message

_ROLE = {"system": "Instructions", "developer": "Instructions", "user": "User", "assistant": "Assistant"}


def chat_task(messages: Sequence[Message], backend: Any, *, domain: str | None = None,
              difficulty: str | None = None, stop: Sequence[str] = ()) -> Task:
    """The task a conversation asks: its last user turn, with what came before as context."""
    last = max((i for i, m in enumerate(messages) if m.role == "user"), default=None)
    if last is None:
        raise APIError(400, "messages must include a user message", param="messages", code="invalid_prompt")
    if any(m.role == "assistant" for m in messages[last + 1:]):
        raise APIError(400, "the last user message must come after every assistant message "
                       "(continuing an assistant turn is not supported)", param="messages",
                       code="invalid_prompt")
    question = _text(messages[last].text(), f"messages[{last}].content")
    context = []
    for i, m in enumerate(messages[:last]):
        text = m.text().strip()
        if text:
            context.append(f"{_ROLE[m.role]}: {ensure_text(text)}")
    if domain is None:
        domain = classify(question).domain
    shown = question if not context else (
        "Conversation so far:\n" + "\n".join(context) + f"\n\nNow answer the user: {question.strip()}")
    task = Task.build(shown, domain=domain, backend=backend, difficulty=difficulty)
    return replace(task, question=question, stop=tuple(dict.fromkeys((*task.stop, *stop))))


def completion_task(prompt: str, *, domain: str | None = None, stop: Sequence[str] = ()) -> Task:
    """A raw completion prompt: continued as it is, its answer read by the domain's rules."""
    prompt = _text(prompt, "prompt")
    if domain is None:
        domain = classify(prompt).domain
    return Task(prompt, domain, prompt, tuple(stop))


def _text(value: str, param: str) -> str:
    try:
        return ensure_text(value)
    except PromptError as exc:
        raise APIError(400, f"{param}: {exc}", param=param, code="invalid_prompt") from None
