"""The row of a benchmark run: one sample, its solve and its verdict, as a frozen value.

``BenchRow.to_dict()`` is the sample's line in ``results.jsonl`` and its record in the run store,
with the keys runs have always had (so runs written before this type existed resume, report and
view unchanged); :meth:`BenchRow.from_dict` reads such a record back, older ones (written before
``dynamic_prompt``, ``cached`` or ``model_s`` were kept) included.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field, fields, replace
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Mapping

from .._exceptions import RunStoreError
from .records import Record

if TYPE_CHECKING:
    from ..pipeline import SolveResult
    from ..verifiers import Verdict

__all__ = ["BenchRow", "plain"]

# copied into each row: a row holds plain values only, so it pickles (executors' workers send rows back)
_NO_USAGE: Mapping[str, Any] = {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0, "calls": 0,
                                "wall_s": 0.0}


def plain(v: Any) -> Any:
    """A JSON-friendly stand-in for an option value (objects by their name)."""
    if v is None or isinstance(v, (bool, int, float, str)):
        return v
    if isinstance(v, (list, tuple)):
        return [plain(x) for x in v]
    if isinstance(v, Mapping):
        return {str(k): plain(x) for k, x in v.items()}
    return str(getattr(v, "name", None) or type(v).__name__)


@dataclass(frozen=True)
class BenchRow:
    """One benchmark sample: the record it came from, what the strategy produced, the verdict.

    ``error`` is set when the sample could not be solved or graded (``correct`` is then false);
    ``extra`` holds what the strategy reported beyond its answer (None when nothing).
    """

    id: str
    dataset: str
    index: int
    prompt: str
    dynamic_prompt: str | None
    domain: str
    strategy: str
    output: str
    final_answer: str | None
    reference: Any
    checker: str
    correct: bool
    score: float
    verdict: Mapping[str, Any] | None
    gists: tuple[Mapping[str, Any], ...]
    trace: tuple[Mapping[str, Any], ...]
    usage: Mapping[str, Any]
    cached: int
    model_s: float
    latency_s: float
    metadata: Mapping[str, Any]
    error: str | None
    extra: Mapping[str, Any] | None = field(default=None)

    @classmethod
    def blank(cls, record: Record, strategy: str, error: str | None = None) -> "BenchRow":
        """The row of ``record`` before it is solved (with ``error``: the row of a sample that could
        not be solved at all, e.g. one whose worker died on it every time)."""
        return cls(**{**_BLANK, "usage": dict(_NO_USAGE), "id": record.id, "dataset": record.dataset, "index": record.index,
                        "prompt": record.prompt, "domain": record.domain, "strategy": strategy,
                        "reference": record.reference, "checker": record.checker,
                        "metadata": dict(record.metadata), "error": error})

    @classmethod
    def of(cls, record: Record, strategy: str, result: "SolveResult | None", verdict: "Verdict | None", *,
           prompt_text: str | None = None, gists: tuple[Mapping[str, Any], ...] = (),
           usage: Mapping[str, Any] | None = None, error: str | None = None, cached: int = 0,
           model_s: float = 0.0, latency_s: float = 0.0) -> "BenchRow":
        """The row of a solved ``record``: the solve ``result`` (None when solving failed: then
        ``prompt_text``, ``gists`` and ``usage`` say what was done before it did) plus its verdict."""
        row = cls.blank(record, strategy, error)
        if result is not None:
            return replace(row, dynamic_prompt=result.prompt_text, strategy=result.strategy,
                            output=result.output, final_answer=result.final_answer,
                            trace=tuple(e.to_dict() for e in result.trace), usage=result.usage.to_dict(),
                            gists=tuple(g.to_dict() for g in result.gists),
                            correct=verdict is not None and verdict.correct,
                            score=verdict.score if verdict is not None else 0.0,
                            verdict=verdict.to_dict() if verdict is not None else None,
                            cached=cached, model_s=round(model_s, 4), latency_s=round(latency_s, 4),
                            extra={k: plain(v) for k, v in result.extra.items()} or None)
        return replace(row, dynamic_prompt=prompt_text, gists=tuple(gists), usage=dict(usage or _NO_USAGE),
                        cached=cached, model_s=round(model_s, 4), latency_s=round(latency_s, 4))

    def to_dict(self) -> dict[str, Any]:
        """The stored record: JSON-ready, keys in their historical order (``extra`` only when set)."""
        d: dict[str, Any] = {}
        for f in _FIELDS:
            value = getattr(self, f)
            if f == "extra" and value is None:
                continue
            if f in ("gists", "trace"):
                value = [dict(x) for x in value]
            elif f in ("usage", "metadata", "extra") or (f == "verdict" and value is not None):
                value = dict(value)
            d[f] = value
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "BenchRow":
        """A row read back from a stored record; keys an older run did not write take their blank
        values, keys this version does not know are ignored."""
        missing = [f for f in _REQUIRED if f not in d]
        if missing:
            raise RunStoreError(f"a stored result row lacks {', '.join(missing)}")
        values = {f: d[f] if f in d else copy.copy(_BLANK.get(f)) for f in _FIELDS}
        values["gists"] = tuple(values["gists"] or ())
        values["trace"] = tuple(values["trace"] or ())
        return cls(**values)


_FIELDS = tuple(f.name for f in fields(BenchRow))
_REQUIRED = ("id", "dataset", "index", "prompt")
# the value of every other field before the sample is solved (and in a record that lacks it)
_BLANK: Mapping[str, Any] = MappingProxyType({
    "dynamic_prompt": None, "domain": "", "strategy": "", "output": "", "final_answer": None,
    "reference": None, "checker": "", "correct": False, "score": 0.0, "verdict": None, "gists": (),
    "trace": (), "usage": _NO_USAGE, "cached": 0, "model_s": 0.0, "latency_s": 0.0, "metadata": {},
    "error": None, "extra": None})
