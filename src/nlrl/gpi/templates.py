"""Prompt templates are data: one YAML file per environment under ``gpi/prompts/``.

Each file maps a prompt kind (``policy``, ``value``, ``mc``, ``td``, ``improve``; datasets use
``solve``, ``evaluate``, ``rewrite``) to a Jinja2 template. Templates are few-shot completions
for base models and end where the answer begins; the caller appends the opening of the JSON.
Pass ``path=`` to use your own file (same keys).
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

import jinja2

from .._exceptions import ConfigError
from ..config import read_yaml

PROMPT_DIR = Path(__file__).parent / "prompts"
_JINJA = jinja2.Environment(undefined=jinja2.StrictUndefined, keep_trailing_newline=True,
                            autoescape=False, trim_blocks=True, lstrip_blocks=True)
# JSON for few-shot answers; jinja's own tojson escapes quotes for HTML, which a model would copy
_JINJA.filters["json"] = lambda value: json.dumps(value, ensure_ascii=False)


class PromptSet:
    """Named templates of one environment."""

    def __init__(self, name: str, templates: dict[str, str], source: str = "") -> None:
        self.name = name
        self.source = source
        self._raw = dict(templates)
        try:
            self._compiled = {k: _JINJA.from_string(v) for k, v in templates.items()}
        except jinja2.TemplateSyntaxError as exc:
            raise ConfigError(f"prompt file {source or name}: bad template (line {exc.lineno}): {exc.message}") from exc

    def kinds(self) -> list[str]:
        return sorted(self._compiled)

    def require(self, *kinds: str) -> "PromptSet":
        missing = [k for k in kinds if k not in self._compiled]
        if missing:
            raise ConfigError(f"prompt file {self.source or self.name} lacks {', '.join(missing)}")
        return self

    def render(self, kind: str, **variables: Any) -> str:
        self.require(kind)
        try:
            return self._compiled[kind].render(**variables)
        except jinja2.UndefinedError as exc:
            raise ConfigError(f"prompt {self.name}/{kind}: {exc.message}") from exc


@lru_cache(maxsize=None)
def _load(path: str) -> PromptSet:
    p = Path(path)
    data = read_yaml(p, "prompt file")
    if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
        raise ConfigError(f"prompt file {p} must map prompt kinds to template strings")
    return PromptSet(p.stem, data, str(p))


def load_prompts(name: str, path: str | Path | None = None) -> PromptSet:
    """The prompt set of environment ``name`` (or the YAML file at ``path``)."""
    p = Path(path) if path else PROMPT_DIR / f"{name}.yaml"
    if not path and not p.is_file():
        known = sorted(f.stem for f in PROMPT_DIR.glob("*.yaml"))
        raise ConfigError(f"no prompts for {name!r}; known: {', '.join(known)}")
    return _load(str(p.resolve()))
