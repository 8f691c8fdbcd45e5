"""Which strategy answers a request, and with how many samples: most specific wins.

1. the request body's ``nlrl`` object (``{"strategy": "self-consistency", "n": 8}``);
2. a prefix on the model name: ``self-consistency/gemma-3-270m``, ``self-consistency-8/gemma-3-270m``,
   or one of optillm's prefixes for the techniques both tools have (``self_consistency-``,
   ``bon-``, ``none-``; see :data:`OPTILLM`);
3. the server's ``--strategy``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from ..strategies import STRATEGIES
from .errors import APIError

#: optillm approach slug → nlrl strategy, for the techniques both implement.
OPTILLM: dict[str, str] = {
    "none": "cot",                       # optillm passes the request through; cot is one pass
    "self_consistency": "self-consistency",
    "bon": "best-of-n",
}
#: optillm approaches with no nlrl counterpart: named in the error instead of "unknown model".
OPTILLM_OTHERS: tuple[str, ...] = (
    "autothink", "cepo", "cot_reflection", "deepthink", "leap", "mars", "mcts", "moa", "plansearch",
    "pvg", "re2", "rstar", "rto", "thinkdeeper", "z3",
)

SINGLE_PASS = frozenset({"cot"})  # strategies whose one sample is the answer: stream its tokens


@dataclass(frozen=True)
class Route:
    model: str
    strategy: str
    n: int | None
    source: str  # "body", "model" or "default"


def _parse_strategy(prefix: str) -> tuple[str, int | None] | None:
    if prefix in STRATEGIES:
        return prefix, None
    name, _, count = prefix.rpartition("-")
    if name in STRATEGIES and count.isdigit() and len(count) <= 6:
        return name, int(count)
    return None


def _unknown_strategy(name: str) -> APIError:
    return APIError(400, f"unknown strategy {name!r}; known: {', '.join(STRATEGIES.names())}",
                    param="strategy", code="unknown_strategy")


def resolve(model: str | None, body_strategy: str | None, served: Sequence[str], default: str) -> Route:
    """Split ``model`` into a served model and a strategy prefix; apply the precedence."""
    served_model: str | None = None
    prefix: tuple[str, int | None] | None = None
    if not model:
        served_model = served[0]
    elif model in served:
        served_model = model
    else:
        head, sep, rest = model.partition("/")
        if sep and rest in served:
            prefix = _parse_strategy(head)
            if prefix is None:
                raise _unknown_strategy(head)
            served_model = rest
        else:
            for slug in sorted((*OPTILLM, *OPTILLM_OTHERS), key=len, reverse=True):
                if model.startswith(slug + "-") and model[len(slug) + 1:] in served:
                    if slug not in OPTILLM:
                        raise APIError(400, f"optillm approach {slug!r} has no nlrl counterpart; "
                                       f"supported optillm prefixes: {', '.join(sorted(OPTILLM))}",
                                       param="model", code="unknown_strategy")
                    prefix, served_model = (OPTILLM[slug], None), model[len(slug) + 1:]
                    break
    if served_model is None:
        raise APIError(404, f"model {model!r} is not served here; served: {', '.join(served)} "
                       f"(optionally prefixed by a strategy: cot/{served[0]})",
                       param="model", code="model_not_found")
    if body_strategy is not None:
        if body_strategy not in STRATEGIES:
            raise _unknown_strategy(body_strategy)
        return Route(served_model, body_strategy, prefix[1] if prefix else None, "body")
    if prefix is not None:
        return Route(served_model, prefix[0], prefix[1], "model")
    return Route(served_model, default, None, "default")


def model_ids(served: Sequence[str]) -> list[tuple[str, str | None]]:
    """Every model id accepted, with the strategy it selects (None: the server default)."""
    out: list[tuple[str, str | None]] = [(m, None) for m in served]
    for m in served:
        out += [(f"{s}/{m}", s) for s in STRATEGIES.names()]
        out += [(f"{slug}-{m}", s) for slug, s in OPTILLM.items()]
    return out
