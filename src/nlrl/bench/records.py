"""The one record type every dataset loader produces, and :class:`Dataset`, their ordered list.

A :class:`Record` is a benchmark item ready to run: ``prompt`` is the question as the model should
see it (a CommonsenseQA stem with its lettered choices, a HumanEval signature and docstring, ...),
before the domain's few-shot template wraps it; ``reference`` and ``checker`` say how its answer is
graded (``get_verifier(checker).check(output, reference, **context)``).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from functools import cached_property
from types import MappingProxyType
from typing import Any, Iterable, Mapping, Sequence

from .._exceptions import ConfigError, DatasetError
from ..verifiers.answers import DOMAINS

#: Checkers (verifier names) and the prompt domain each implies when a source does not say.
CHECKER_DOMAINS: Mapping[str, str] = MappingProxyType({
    "math": "math",
    "code": "coding",
    "stdio": "coding",
    "qa": "commonsense",
    "choice": "commonsense",
    "yesno": "commonsense",
    "collie": "commonsense",
})


def _frozen(m: Mapping[str, Any] | None) -> Mapping[str, Any]:
    return MappingProxyType(dict(m or {}))


@dataclass(frozen=True)
class Record:
    """One benchmark item.

    ``id`` is unique within its dataset; ``index`` is its 0-based position in the source (what
    ``--shard`` and ordering use). ``metadata`` holds breakdown keys such as MATH's ``level``,
    ``subject`` and ``type``; ``context`` holds extra keyword arguments for the checker.
    """

    id: str
    prompt: str
    reference: Any
    domain: str
    checker: str
    dataset: str = "custom"
    index: int = 0
    metadata: Mapping[str, Any] = field(default_factory=dict)
    context: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.id, str) or not self.id:
            raise ConfigError(f"record id must be a non-empty string, got {self.id!r}")
        if not isinstance(self.prompt, str) or not self.prompt.strip():
            raise ConfigError(f"record {self.id!r} has an empty prompt")
        if self.domain not in DOMAINS:
            raise ConfigError(f"record {self.id!r}: domain must be one of {', '.join(DOMAINS)}, "
                              f"got {self.domain!r}")
        if self.checker not in CHECKER_DOMAINS:
            raise ConfigError(f"record {self.id!r}: checker must be one of "
                              f"{', '.join(CHECKER_DOMAINS)}, got {self.checker!r}")
        object.__setattr__(self, "metadata", _frozen(self.metadata))
        object.__setattr__(self, "context", _frozen(self.context))

    @cached_property
    def _digest(self) -> str:
        payload = json.dumps([self.prompt, self.reference, self.domain, self.checker, dict(self.context)],
                             sort_keys=True, ensure_ascii=False, default=str)
        return hashlib.sha256(payload.encode("utf-8")).hexdigest()[:16]

    def digest(self) -> str:
        """A short hash of what the model sees and how it is graded (changes invalidate results)."""
        return self._digest

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "dataset": self.dataset,
            "index": self.index,
            "prompt": self.prompt,
            "reference": self.reference,
            "domain": self.domain,
            "checker": self.checker,
            "metadata": dict(self.metadata),
            "context": dict(self.context),
        }


@dataclass(frozen=True)
class Skipped:
    """A source row that could not become a record."""

    path: str
    line: int | None
    reason: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.reason}" if self.line else f"{self.path}: {self.reason}"


class Dataset(Sequence[Record]):
    """An ordered, immutable list of records with its name, source and skipped rows."""

    def __init__(self, name: str, records: Iterable[Record], *, source: str | None = None,
                 skipped: Iterable[Skipped] = ()) -> None:
        self.name = name
        self.records: tuple[Record, ...] = tuple(records)
        self.source = source
        self.skipped: tuple[Skipped, ...] = tuple(skipped)
        seen: set[str] = set()
        for r in self.records:
            if r.id in seen:
                raise DatasetError(f"duplicate record id {r.id!r} in dataset {name!r}", path=source)
            seen.add(r.id)

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, i: Any) -> Any:
        return self.records[i]

    def __repr__(self) -> str:
        return f"Dataset({self.name!r}, {len(self)} records)"

    def select(self, *, limit: int | None = None, shard: tuple[int, int] | None = None) -> "Dataset":
        """The first ``limit`` records, then every k-th of them starting at i for ``shard=(i, k)``."""
        recs = list(self.records)
        if limit is not None:
            if limit < 1:
                raise ConfigError(f"limit must be >= 1, got {limit}")
            recs = recs[:limit]
        if shard is not None:
            i, k = shard
            if not (isinstance(k, int) and k >= 1 and isinstance(i, int) and 0 <= i < k):
                raise ConfigError(f"shard must be i/k with 0 <= i < k, got {i}/{k}")
            recs = recs[i::k]
        return Dataset(self.name, recs, source=self.source, skipped=self.skipped)

    def digest(self) -> str:
        """A hash of every record (what the model sees and how it is graded)."""
        h = hashlib.sha256()
        for r in self.records:
            h.update(r.id.encode("utf-8") + b"\0" + r.digest().encode("ascii") + b"\n")
        return h.hexdigest()[:16]
