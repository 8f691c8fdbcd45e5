"""Dynamic chain-of-thought prompts, rendered from the data files in ``templates/``.

Each domain has a YAML file (instruction, a harder variant, worked few-shot examples) and all
share one Jinja completion template for base models; instruct models get the same content as
chat messages rendered by the model's own chat template. ``difficulty`` picks the instruction
and how many worked examples to show; ``steps`` caps the number of reasoning steps asked for.
Other prompt kinds (critique, revise, decompose, judge, ...) are further YAML files read by
:func:`load_template`.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any, Literal

import jinja2
import yaml

from .._exceptions import ConfigError
from ..verifiers.answers import final_answer_line

Difficulty = Literal["easy", "medium", "hard"]
DIFFICULTIES: tuple[str, ...] = ("easy", "medium", "hard")
#: Completion stop: the model starting the next few-shot question. Deliberately not
#: "\nQuestion:": a stop that begins with a newline makes the engine hold every newline back,
#: and the final-answer line could not be seen to end until the next token arrived.
STOP = ("Question:",)

_ENV = jinja2.Environment(
    loader=jinja2.PackageLoader("nlrl.tasks", "templates"),
    undefined=jinja2.StrictUndefined,
    keep_trailing_newline=False,
    autoescape=False,
)


@lru_cache(maxsize=None)
def load_template(name: str) -> dict[str, Any]:
    """The parsed YAML template ``templates/<name>.yaml``."""
    try:
        text = resources.files("nlrl.tasks").joinpath("templates", f"{name}.yaml").read_text("utf-8")
    except FileNotFoundError:
        raise ConfigError(f"no prompt template named {name!r}") from None
    return yaml.safe_load(text)


def render_string(source: str, **variables: Any) -> str:
    """Render a Jinja template string taken from a YAML template (StrictUndefined)."""
    return _ENV.from_string(source).render(**variables)


@dataclass(frozen=True)
class PromptSpec:
    """What the model sees and where its completion should stop."""

    text: str
    stop: tuple[str, ...]
    messages: tuple[dict[str, str], ...] | None = None


def build_prompt(
    question: str,
    domain: str,
    *,
    difficulty: str | None = None,
    steps: int | None = None,
    shots: int | None = None,
    backend: Any = None,
    instruction: str | None = None,
) -> PromptSpec:
    """Render the chain-of-thought prompt for ``question`` in ``domain``.

    With a chat backend (``backend.chat``) the content becomes messages rendered by the model's
    own chat template; otherwise a few-shot completion prompt. ``instruction`` overrides the
    template's (dataset-level language GPI rewrites it).
    """
    if difficulty is not None and difficulty not in DIFFICULTIES:
        raise ConfigError(f"difficulty must be one of {', '.join(DIFFICULTIES)}, got {difficulty!r}")
    if steps is not None and steps < 1:
        raise ConfigError(f"steps must be >= 1, got {steps}")
    spec = load_template(domain)
    examples = list(spec["examples"])
    if shots is None:
        shots = 1 if difficulty == "easy" else len(examples)
    examples = examples[: max(0, shots)]
    if instruction is None:
        instruction = spec["hard_instruction"] if difficulty == "hard" else spec["instruction"]
    question = question.strip()
    if backend is not None and getattr(backend, "chat", False):
        messages = _chat_messages(instruction, examples, question, domain, steps)
        text = backend.apply_chat_template(list(messages))
        if text is not None:
            return PromptSpec(text, (), messages)
    text = _ENV.get_template("completion.jinja").render(
        instruction=instruction, examples=examples, question=question, steps=steps, domain=domain)
    return PromptSpec(text, STOP)


def _chat_messages(instruction: str, examples: list[dict[str, Any]], question: str, domain: str,
                   steps: int | None) -> tuple[dict[str, str], ...]:
    if steps:
        instruction += f" Use at most {steps} steps."
    msgs = [{"role": "system", "content": instruction}]
    for ex in examples:
        msgs.append({"role": "user", "content": ex["question"]})
        tail = ex["answer"] if domain == "coding" else final_answer_line(ex["answer"])
        msgs.append({"role": "assistant", "content": " ".join(ex["steps"]) + "\n" + tail})
    msgs.append({"role": "user", "content": question})
    return tuple(msgs)
