"""The strategies' own prompts (critique, revise, decompose, ...), rendered from template files.

Each ``templates/<name>.yaml`` holds an instruction, a Jinja ``template``, its ``stop`` strings
and worked examples keyed by domain. Base models get the few-shot text as it is; a chat model
gets it as one user message rendered by its chat template.
"""

from __future__ import annotations

from typing import Any

from ..tasks.prompts import load_template, render_string


def examples_for(spec: dict[str, Any], domain: str) -> list[dict[str, Any]]:
    """The template's worked examples for ``domain`` (math's when it has none of its own)."""
    examples = spec.get("examples") or {}
    if isinstance(examples, list):
        return examples
    return list(examples.get(domain) or examples.get("math") or next(iter(examples.values()), []))


def render(name: str, domain: str, backend: Any = None, **variables: Any) -> tuple[str, tuple[str, ...]]:
    """Render template ``name`` for ``domain``: (prompt text, stop strings)."""
    spec = load_template(name)
    variables.setdefault("instruction", spec.get("instruction", ""))
    variables.setdefault("examples", examples_for(spec, domain))
    text = render_string(spec["template"], **variables)
    stop = tuple(spec.get("stop") or ())
    if backend is not None and getattr(backend, "chat", False):
        chat = backend.apply_chat_template([{"role": "user", "content": text}])
        if chat is not None:
            return chat, tuple(s for s in stop if s.strip())
    return text, stop
