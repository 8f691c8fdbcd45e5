"""Where benchmark data lives and how its files are read: the data directory, JSONL / JSON / CSV /
TSV rows (optionally gzipped), and rows parsed into a :class:`Dataset` with malformed ones skipped
(or, ``strict``, raised) naming their file and line."""

from __future__ import annotations

import csv
import gzip
import io
import json
import logging
import os
from importlib import resources
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Mapping

from .._exceptions import DatasetError, NLRLError
from .records import Dataset, Record, Skipped

log = logging.getLogger("nlrl.bench.datasets")  # the logger users know these warnings by


def vendored_data_dir() -> Path:
    return Path(str(resources.files("nlrl").joinpath("_data")))


def resolve_data_dir(data_dir: str | os.PathLike[str] | None = None, settings: Any = None) -> Path:
    """``data_dir``, else ``$NLRL_DATA_DIR``, else ``settings.data_dir``, else the vendored copy."""
    chosen: Any = data_dir or os.environ.get("NLRL_DATA_DIR") or getattr(settings, "data_dir", None)
    if not chosen:
        return vendored_data_dir()
    path = Path(chosen).expanduser()
    if not path.is_dir():
        raise DatasetError(f"data directory {path} does not exist")
    return path


def _open_text(path: Path) -> io.TextIOBase:
    if path.suffix == ".gz":
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8")  # type: ignore[return-value]
    return open(path, encoding="utf-8")  # type: ignore[return-value]


def data_format(path: Path) -> str:
    suffixes = [s for s in path.suffixes if s != ".gz"]
    ext = suffixes[-1].lower() if suffixes else ""
    return {".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "json", ".csv": "csv", ".tsv": "tsv"}.get(ext, "")


def read_rows(path: str | os.PathLike[str]) -> Iterator[tuple[int | None, Any]]:
    """Yield ``(line, row)`` from a JSONL, JSON (a list, or ``{"data": [...]}``), CSV or TSV file.

    An unparseable JSONL line is yielded as ``(line, DatasetError)`` so the caller decides
    whether to skip it; a file that cannot be read at all raises :class:`DatasetError`.
    """
    p = Path(path)
    fmt = data_format(p)
    if not fmt:
        raise DatasetError("unknown data file type (expected .jsonl, .json, .csv or .tsv, optionally .gz)",
                           path=str(p))
    try:
        fh = _open_text(p)
    except OSError as exc:
        raise DatasetError(f"cannot read: {exc.strerror or exc}", path=str(p)) from None
    with fh:
        try:
            if fmt == "jsonl":
                for n, line in enumerate(fh, 1):
                    if not line.strip():
                        continue
                    try:
                        yield n, json.loads(line)
                    except json.JSONDecodeError as exc:
                        yield n, DatasetError(f"not valid JSON ({exc.msg}, column {exc.colno})",
                                              path=str(p), line=n)
            elif fmt == "json":
                try:
                    data = json.load(fh)
                except json.JSONDecodeError as exc:
                    raise DatasetError(f"not valid JSON ({exc.msg})", path=str(p), line=exc.lineno) from None
                if isinstance(data, Mapping):
                    data = next((data[k] for k in ("data", "rows", "examples", "records") if k in data), None)
                if not isinstance(data, list):
                    raise DatasetError("a JSON dataset must be a list of objects (or {\"data\": [...]})",
                                       path=str(p))
                for i, row in enumerate(data):
                    yield i + 1, row  # JSON items are numbered from 1, like lines
            else:
                reader = csv.DictReader(fh, delimiter="\t" if fmt == "tsv" else ",")
                for row in reader:
                    yield reader.line_num, dict(row)
        except UnicodeDecodeError as exc:
            raise DatasetError(f"not valid UTF-8 (byte {exc.start})", path=str(p)) from None
        except (OSError, EOFError, csv.Error) as exc:
            raise DatasetError(f"cannot read: {exc}", path=str(p)) from None


RowParser = Callable[[Mapping[str, Any], int], Record]


def parse_rows(name: str, path: Path, parse: RowParser, strict: bool,
               rows: Iterable[tuple[int | None, Any]] | None = None) -> Dataset:
    records: list[Record] = []
    skipped: list[Skipped] = []
    index = 0
    for line, row in (rows if rows is not None else read_rows(path)):
        try:
            if isinstance(row, DatasetError):
                raise row
            if not isinstance(row, Mapping):
                raise DatasetError(f"expected an object, got {type(row).__name__}", path=str(path), line=line)
            records.append(parse(row, index))
        except (KeyError, TypeError, ValueError, IndexError, AttributeError, NLRLError) as exc:
            reason = _reason(exc)
            if strict:
                if isinstance(exc, DatasetError) and exc.path:
                    raise
                raise DatasetError(reason, path=str(path), line=line) from None
            skip = Skipped(str(path), line, reason)
            log.warning("skipping malformed row %s", skip)
            skipped.append(skip)
        index += 1
    return Dataset(name, records, source=str(path), skipped=skipped)


def _reason(exc: BaseException) -> str:
    if isinstance(exc, DatasetError):
        msg = str(exc)
        return msg.split(": ", 1)[1] if exc.path and ": " in msg else msg
    if isinstance(exc, KeyError):
        return f"missing field {exc.args[0]!r}"
    return str(exc) or type(exc).__name__
