"""Tasks: classify a prompt's domain, render its chain-of-thought prompt, extract its answer."""

from __future__ import annotations

from .classify import DOMAINS, Classification, classify
from .extract import AnswerWatcher, extract_answer, extract_code, extract_math, extract_short, last_boxed
from .prompts import PromptSpec, build_prompt, load_template
from .task import Task

__all__ = [
    "AnswerWatcher",
    "Classification",
    "DOMAINS",
    "PromptSpec",
    "Task",
    "build_prompt",
    "classify",
    "extract_answer",
    "extract_code",
    "extract_math",
    "extract_short",
    "last_boxed",
    "load_template",
]
