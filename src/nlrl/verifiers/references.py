"""The gold reference and checker of every record of the vendored benchmarks, keyed by id.

This is the minimum ``nlrl grade --dataset`` needs, not a dataset loader: ids are MATH-500's
``unique_id``, HumanEval's and MBPP's ``task_id``, and the 0-based record number elsewhere.

>>> refs = load_references("gsm8k")
>>> refs["0"].checker, refs["0"].reference
('math', '18')
"""

from __future__ import annotations

import gzip
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable

from .._exceptions import DatasetError, UnknownNameError
from .math import last_boxed

__all__ = ["DATASETS", "Reference", "data_dir", "dataset_names", "load_references"]


def data_dir(override: str | os.PathLike[str] | None = None) -> Path:
    """Benchmark data: ``override``, else ``$NLRL_DATA_DIR``, else the copy inside the package."""
    chosen = override or os.environ.get("NLRL_DATA_DIR")
    return Path(chosen) if chosen else Path(__file__).resolve().parent.parent / "_data"


@dataclass(frozen=True)
class Reference:
    id: str
    checker: str
    reference: Any


def _jsonl(path: Path) -> Iterable[tuple[int, dict[str, Any]]]:
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rt", encoding="utf-8") as f:  # type: ignore[operator]
            lines = f.read().splitlines()
    except OSError as exc:
        raise DatasetError(f"cannot read: {exc.strerror or exc}", path=str(path)) from exc
    n = 0
    for i, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            yield n, json.loads(line)
        except json.JSONDecodeError as exc:
            raise DatasetError(f"invalid JSON: {exc.msg}", path=str(path), line=i) from exc
        n += 1


def _json_list(path: Path) -> Iterable[tuple[int, dict[str, Any]]]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise DatasetError(f"cannot read: {exc.strerror or exc}", path=str(path)) from exc
    except json.JSONDecodeError as exc:
        raise DatasetError(f"invalid JSON: {exc.msg}", path=str(path), line=exc.lineno) from exc
    if not isinstance(data, list):
        raise DatasetError("expected a JSON list of records", path=str(path))
    return enumerate(data)


def _gsm8k_answer(rec: dict[str, Any]) -> str:
    return rec["answer"].split("####")[-1].strip().replace(",", "")


def _math_answer(rec: dict[str, Any]) -> str:
    ans = last_boxed(rec["solution"])
    if ans is None:
        raise KeyError("a \\boxed{} answer in 'solution'")
    return ans


# name -> (file, reader, checker, id of a record (None: its number), reference of a record)
_Spec = tuple[str, Callable[[Path], Iterable[tuple[int, dict[str, Any]]]], str,
              Callable[[dict[str, Any]], Any] | None, Callable[[dict[str, Any]], Any]]
DATASETS: dict[str, _Spec] = {
    "math500": ("math500/test.jsonl", _jsonl, "math", lambda r: r["unique_id"], lambda r: r["answer"]),
    "math": ("math/test.jsonl", _jsonl, "math", None, _math_answer),
    "gsm8k": ("gsm8k/test.jsonl", _jsonl, "math", None, _gsm8k_answer),
    "aime24": ("aime24/test.jsonl", _jsonl, "math", None, lambda r: str(r["answer"])),
    "humaneval": ("humaneval/HumanEval.jsonl.gz", _jsonl, "code", lambda r: r["task_id"], lambda r: r),
    "mbpp": ("mbpp/sanitized-mbpp.json", _json_list, "code", lambda r: r["task_id"], lambda r: r),
    "hotpotqa": ("hotpotqa/hotpot_dev_v1_simplified.ReAct.json", _json_list, "qa", None, lambda r: r["answer"]),
    "hotpotqa_distractor": ("hotpotqa/hotpot_dev_distractor_sample100.reflexion.jsonl", _jsonl, "qa", None,
                            lambda r: r["answer"]),
    "commonsenseqa": ("commonsenseqa/dev_rand_split.jsonl", _jsonl, "choice", None, lambda r: r),
    "strategyqa": ("strategyqa/dev.eladsegal.json", _json_list, "yesno", None, lambda r: r["answer"]),
    "collie": ("collie/collie_v1.converted.jsonl", _jsonl, "collie", None,
               lambda r: {"constraint": r["constraint"], "targets": r["targets"]}),
}


def dataset_names() -> list[str]:
    return sorted(DATASETS)


def _canonical(name: str) -> str:
    key = re.sub(r"[\s_-]+", "", name.lower())
    for known in DATASETS:
        if key == known.replace("_", ""):
            return known
    raise UnknownNameError("dataset", name, dataset_names())


def load_references(name: str, directory: str | os.PathLike[str] | None = None) -> dict[str, Reference]:
    """``{id: Reference}`` for every record of dataset ``name``, in file order."""
    key = _canonical(name)
    rel, reader, checker, id_of, ref_of = DATASETS[key]
    path = data_dir(directory) / rel
    out: dict[str, Reference] = {}
    for n, rec in reader(path):
        try:
            rid = str(id_of(rec)) if id_of else str(n)
            out[rid] = Reference(rid, checker, ref_of(rec))
        except (KeyError, TypeError) as exc:
            raise DatasetError(f"record {n} lacks {exc}", path=str(path)) from None
    return out
