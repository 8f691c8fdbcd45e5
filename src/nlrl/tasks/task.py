"""The unit of work every strategy receives: a question, its domain and its prompt."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

from .._exceptions import PromptError
from .extract import extract_answer
from .prompts import build_prompt


@dataclass(frozen=True)
class Task:
    """A question ready to send to a model.

    ``prompt_text`` is the rendered chain-of-thought prompt and ``stop`` its stop strings;
    ``reference`` and ``checker`` are set when the answer is known (benchmarks, verifier rewards).
    """

    question: str
    domain: str
    prompt_text: str
    stop: tuple[str, ...] = ()
    difficulty: str | None = None
    steps: int | None = None
    reference: Any = None
    checker: str | None = None
    metadata: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def build(
        cls,
        question: str,
        *,
        domain: str | None = None,
        backend: Any = None,
        difficulty: str | None = None,
        steps: int | None = None,
        instruction: str | None = None,
        classifier_backend: Any = None,
        **extra: Any,
    ) -> "Task":
        """Classify (unless ``domain`` is given) and render the prompt for ``question``."""
        question = ensure_text(question)
        if domain is None:
            from .classify import classify

            domain = classify(question, backend=classifier_backend).domain
        spec = build_prompt(question, domain, difficulty=difficulty, steps=steps,
                            backend=backend, instruction=instruction)
        return cls(question, domain, spec.text, spec.stop, difficulty, steps, **extra)

    def extract(self, text: str) -> str | None:
        """This task's final answer in ``text``."""
        return extract_answer(text, self.domain)


def ensure_text(prompt: object) -> str:
    """Validate a user prompt: text (or UTF-8 bytes), not empty."""
    if isinstance(prompt, bytes):
        try:
            prompt = prompt.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise PromptError(f"prompt is not valid UTF-8 (byte {exc.start})") from None
    if not isinstance(prompt, str):
        raise PromptError(f"prompt must be text, got {type(prompt).__name__}")
    if any("\udc80" <= c <= "\udcff" for c in prompt):  # surrogateescape'd argv bytes
        raise PromptError("prompt is not valid UTF-8")
    if not prompt.strip():
        raise PromptError("prompt is empty")
    return prompt
