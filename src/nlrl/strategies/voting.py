"""Majority voting over extracted answers, grouped by equivalence (after dspy's ``majority``).

:func:`majority` is pure: answers in, a :class:`Vote` out. Answers that mean the same thing
(``1/2``, ``0.5``, ``\\frac{1}{2}``) fall into one group through an ``equivalent`` predicate;
``None`` (no answer found) abstains. Each group scores its count, or the sum of its ``weights``
(weighted best-of-N). Ties are broken by ``tie_break`` scores (e.g. rewards: the group holding
the best-scored answer wins), then by the earliest answer, so a vote is always deterministic.

>>> majority(["4", "5", "4.0", None], equivalent=lambda a, b: float(a) == float(b)).answer
'4'
"""

from __future__ import annotations

import ast
import logging
import math
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Callable, Sequence

from .._exceptions import ConfigError
from ..verifiers.answers import normalize_short

log = logging.getLogger(__name__)

Equivalence = Callable[[str, str], bool]


@dataclass(frozen=True)
class AnswerGroup:
    """Answers judged equivalent: the first one seen names the group."""

    answer: str
    members: tuple[int, ...]
    score: float
    best: float | None = None

    @property
    def count(self) -> int:
        return len(self.members)

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"answer": self.answer, "count": self.count, "score": round(self.score, 6),
                             "members": list(self.members)}
        if self.best is not None:
            d["best"] = round(self.best, 6)
        return d


@dataclass(frozen=True)
class Vote:
    """The outcome of a vote: groups in rank order (the winner first)."""

    groups: tuple[AnswerGroup, ...]
    abstained: int = 0

    @property
    def winner(self) -> AnswerGroup | None:
        return self.groups[0] if self.groups else None

    @property
    def answer(self) -> str | None:
        return self.groups[0].answer if self.groups else None

    @property
    def agreement(self) -> float:
        """Fraction of all answers (abstentions included) in the winning group."""
        total = sum(g.count for g in self.groups) + self.abstained
        return self.groups[0].count / total if self.groups and total else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"answer": self.answer, "abstained": self.abstained,
                "groups": [g.to_dict() for g in self.groups]}


def majority(
    answers: Sequence[str | None],
    *,
    equivalent: Equivalence | None = None,
    weights: Sequence[float] | None = None,
    tie_break: Sequence[float | None] | None = None,
) -> Vote:
    """Group ``answers`` by ``equivalent`` (default: :func:`same_text`) and rank the groups.

    A group scores its size, or the sum of its members' ``weights``. Equal scores are ordered by
    the best ``tie_break`` value among members (missing values rank lowest), then by the earliest
    member.
    """
    if weights is not None and len(weights) != len(answers):
        raise ConfigError(f"majority got {len(answers)} answers but {len(weights)} weights")
    if tie_break is not None and len(tie_break) != len(answers):
        raise ConfigError(f"majority got {len(answers)} answers but {len(tie_break)} tie-break scores")
    if weights is not None:
        for w in weights:
            if not isinstance(w, (int, float)) or not math.isfinite(w):
                raise ConfigError(f"majority weights must be finite numbers, got {w!r}")
    eq = equivalent or same_text
    groups: list[list[int]] = []
    reps: list[str] = []
    abstained = 0
    for i, ans in enumerate(answers):
        if ans is None or not str(ans).strip():
            abstained += 1
            continue
        for g, rep in enumerate(reps):
            if ans == rep or _safe_equivalent(eq, rep, ans):
                groups[g].append(i)
                break
        else:
            groups.append([i])
            reps.append(ans)
    built = []
    for rep, members in zip(reps, groups):
        score = float(len(members)) if weights is None else math.fsum(weights[i] for i in members)
        best = None
        if tie_break is not None:
            vals = [tie_break[i] for i in members if tie_break[i] is not None]
            best = max(vals) if vals else None
        built.append(AnswerGroup(rep, tuple(members), score, best))
    built.sort(key=lambda g: (-g.score, -(g.best if g.best is not None else -math.inf), g.members[0]))
    return Vote(tuple(built), abstained)


def _safe_equivalent(eq: Equivalence, a: str, b: str) -> bool:
    try:
        return bool(eq(a, b))
    except Exception as exc:  # a grader crash must not decide the vote: treat as different
        log.warning("answer equivalence check failed for %r vs %r (%s: %s); treating as different",
                    a, b, type(exc).__name__, exc)
        return False


# ---- equivalence per domain -------------------------------------------------------------------

def same_text(a: str, b: str) -> bool:
    """Equal after :func:`normalize_short` (the default equivalence)."""
    return normalize_short(a) == normalize_short(b)


_CHOICE_LINE = re.compile(r"^\s*\(?([A-J])[.)]\s+(.+?)\s*$", re.MULTILINE)


def equivalence_for(domain: str, question: str | None = None) -> Equivalence:
    """The equivalence used to group answers of ``domain``: mathematical for math; for a
    multiple-choice question (lines "A. text"), the choice each answer picks; yes/no by meaning;
    programs by syntax tree (:func:`same_program`)."""
    if domain == "math":
        from ..verifiers.math import answers_equivalent

        return answers_equivalent  # memoised inside, exact for plain numbers
    if domain == "coding":
        return same_program
    choices = _CHOICE_LINE.findall(question or "")
    if len(choices) >= 2:
        from ..verifiers.qa import extract_choice

        labels = [lab for lab, _ in choices]
        texts = [text for _, text in choices]

        def key(a: str) -> str:
            return extract_choice(a, labels, texts) or normalize_short(a)

        return lambda a, b: key(a) == key(b)
    return _yes_no_or_text


@lru_cache(maxsize=4096)
def _program_key(code: str) -> str:
    try:
        return ast.dump(ast.parse(code))  # parsing runs nothing; comments and layout drop out
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return code.strip()


def same_program(a: str, b: str) -> bool:
    """Two programs are one vote when their syntax trees are equal (comments, blank lines and
    formatting aside); text that does not parse is compared stripped."""
    return a.strip() == b.strip() or _program_key(a) == _program_key(b)


def _yes_no_or_text(a: str, b: str) -> bool:
    from ..verifiers.qa import extract_yes_no

    ya, yb = extract_yes_no(a), extract_yes_no(b)
    if ya is not None and yb is not None and len(a.split()) <= 3 and len(b.split()) <= 3:
        return ya == yb
    return same_text(a, b)
