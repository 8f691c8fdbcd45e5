"""Benchmark datasets as lists of :class:`Record`: the vendored test sets, local files, in-memory
lists of dicts and Hugging Face ``datasets`` objects.

>>> ds = load_dataset("gsm8k")                      # the vendored copy, offline
>>> ds[0].reference, ds[0].checker, len(ds)
('18', 'math', 1000)

The data directory is, in order: the ``data_dir`` argument (``--data-dir``), ``NLRL_DATA_DIR``,
``data_dir`` of the settings file, else the copy vendored in the package (``nlrl/_data``).
A malformed row is skipped with a warning naming its file and line (``strict=True``: an error).

A JSONL of stdin/stdout programming problems in LiveCodeBench's layout (``question_content``,
``public_test_cases`` / ``private_test_cases`` as JSON strings, ``metadata`` with ``func_name``)
or APPS's (``question``, ``input_output`` with ``inputs`` / ``outputs`` and optional
``fn_name``) becomes ``stdio`` records (see :mod:`nlrl.verifiers.stdio`).

Record ids are those ``nlrl grade --dataset`` uses: MATH-500's ``unique_id``, HumanEval's and
MBPP's ``task_id``, else the 0-based record number (a set's own id is kept as
``metadata["source_id"]``), so a ``results.jsonl`` can be graded again by id.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from .._exceptions import ConfigError, DatasetError, UnknownNameError
from .builtin import ALIASES, BUILTIN, GENERATED, builtin_name, dataset_names, load_builtin
from .fields import infer_checker, mapped_parser, stdio_layout
from .files import RowParser, data_format, parse_rows, read_rows, resolve_data_dir, vendored_data_dir
from .records import Dataset, Record, Skipped

# Files (``files``), the vendored sets (``builtin``) and field mapping (``fields``) have their
# own modules; their public names stay importable from here.
__all__ = [
    "ALIASES", "BUILTIN", "GENERATED", "Dataset", "Record", "RowParser", "Skipped", "builtin_name",
    "dataset_names", "from_dicts", "from_file", "from_hf", "infer_checker", "load_builtin",
    "load_dataset", "read_rows", "resolve_data_dir", "stdio_layout", "vendored_data_dir",
]


def from_file(path: str | os.PathLike[str], *, fields: Mapping[str, str] | None = None,
              checker: str | None = None, domain: str | None = None, metadata: Sequence[str] = (),
              strict: bool = False, name: str | None = None) -> Dataset:
    """A local JSONL/JSON/CSV/TSV file; ``fields`` maps record attributes to its columns
    (``{"prompt": "question.stem", "reference": "answerKey"}``; dotted paths reach nested fields)."""
    p = Path(path)
    if not p.is_file():
        raise DatasetError("no such file", path=str(p))
    parse = mapped_parser(name or p.stem, fields, checker, domain, metadata)
    return parse_rows(name or p.stem, p, parse, strict)


def from_dicts(rows: Iterable[Mapping[str, Any]], *, name: str = "custom",
               fields: Mapping[str, str] | None = None, checker: str | None = None,
               domain: str | None = None, metadata: Sequence[str] = (), strict: bool = False) -> Dataset:
    """In-memory rows: ``{"question" or "problem", "answer", optional "test_cases", "id"}``.

    Also any iterable of mappings, such as a Hugging Face ``datasets.Dataset``.
    """
    parse = mapped_parser(name, fields, checker, domain, metadata)
    numbered = ((i + 1, dict(r) if isinstance(r, Mapping) else r) for i, r in enumerate(rows))
    return parse_rows(name, Path(f"<{name}>"), parse, strict, rows=numbered)


def from_hf(ds: Any, **kw: Any) -> Dataset:
    """A Hugging Face ``datasets.Dataset`` (or anything that iterates over row dicts)."""
    name = kw.pop("name", None) or getattr(getattr(ds, "info", None), "dataset_name", None) or "hf"
    return from_dicts(ds, name=str(name), **kw)


def load_dataset(source: Any, *, data_dir: str | os.PathLike[str] | None = None, strict: bool = False,
                 settings: Any = None, **kw: Any) -> Dataset:
    """A dataset from a vendored benchmark name, a file path, a list of dicts, or a HF dataset."""
    if isinstance(source, Dataset):
        return source
    if isinstance(source, (str, os.PathLike)):
        text = os.fspath(source)
        key = builtin_name(text)
        if key is not None and not kw:
            return load_builtin(key, data_dir=data_dir, strict=strict, settings=settings)
        if Path(text).is_file():
            return from_file(text, strict=strict, **kw)
        if key is not None:
            raise ConfigError(f"{text!r} is a built-in dataset; field options apply only to files")
        if data_format(Path(text)):
            raise DatasetError("no such file", path=text)
        raise UnknownNameError("dataset", text, dataset_names())
    if isinstance(source, Mapping):
        raise ConfigError("a dataset is a name, a path, or a list of row dicts, not one dict")
    if hasattr(source, "__iter__"):
        if hasattr(source, "column_names") or hasattr(source, "features"):
            return from_hf(source, strict=strict, **kw)
        return from_dicts(source, strict=strict, **kw)
    raise ConfigError(f"cannot load a dataset from {type(source).__name__}")
