"""The final answer of a search over reasoning paths: the best path, a vote, or a weighted vote.

Shared by ``dvts`` and ``particle-filter`` (search-and-learn's "naive", "majority" and "weighted"
best-of-N over the finished paths):

* ``best``: the answer of the highest-valued path;
* ``majority``: the most common answer (ties: the group holding the best value, then the earliest);
* ``weighted``: answers grouped by equivalence, each group scoring the sum of its paths' values.

Paths without an answer abstain. The ``vote`` trace event lists the groups with their scores and
the path indices in each.
"""

from __future__ import annotations

from typing import Any, Sequence

from .._exceptions import ConfigError
from .base import Run
from .voting import equivalence_for, majority

SELECTIONS = ("weighted", "best", "majority")


def check_selection(who: str, how: str) -> None:
    if how not in SELECTIONS:
        raise ConfigError(f"{who} select must be one of {', '.join(SELECTIONS)}, got {how!r}")


def choose(run: Run, answers: Sequence[str | None], values: Sequence[float], how: str) -> tuple[str | None, int]:
    """The selected answer and the index of the path that stands for it (the best-valued member
    of the winning group; the best-valued path overall when every path abstains)."""
    if not answers:
        return None, -1
    best_i = max(range(len(values)), key=lambda i: (values[i], -i))
    if how == "best":
        run.event("vote", answers[best_i] or "", select=how, chosen=best_i,
                  values=[round(v, 6) for v in values])
        return answers[best_i], best_i
    eq = equivalence_for(run.task.domain, run.task.question)
    vote = majority(answers, equivalent=eq, weights=list(values) if how == "weighted" else None,
                    tie_break=list(values))
    groups: list[dict[str, Any]] = [g.to_dict() for g in vote.groups]
    run.event("vote", vote.answer or "", select=how, weighted=how == "weighted", abstained=vote.abstained,
              groups=groups)
    if vote.winner is None:
        return None, best_i
    rep = max(vote.winner.members, key=lambda i: (values[i], -i))
    return vote.answer, rep
