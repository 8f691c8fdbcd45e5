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

import csv
import gzip
import hashlib
import io
import json
import logging
import os
import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Mapping, Sequence

from .._exceptions import ConfigError, DatasetError, NLRLError, UnknownNameError
from .records import CHECKER_DOMAINS, DOMAINS, Record

log = logging.getLogger(__name__)


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


# ---------------------------------------------------------------------------------------------
# where the data lives

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


# ---------------------------------------------------------------------------------------------
# reading rows

def _open_text(path: Path) -> io.TextIOBase:
    if path.suffix == ".gz":
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8")  # type: ignore[return-value]
    return open(path, encoding="utf-8")  # type: ignore[return-value]


def _format(path: Path) -> str:
    suffixes = [s for s in path.suffixes if s != ".gz"]
    ext = suffixes[-1].lower() if suffixes else ""
    return {".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "json", ".csv": "csv", ".tsv": "tsv"}.get(ext, "")


def read_rows(path: str | os.PathLike[str]) -> Iterator[tuple[int | None, Any]]:
    """Yield ``(line, row)`` from a JSONL, JSON (a list, or ``{"data": [...]}``), CSV or TSV file.

    An unparseable JSONL line is yielded as ``(line, DatasetError)`` so the caller decides
    whether to skip it; a file that cannot be read at all raises :class:`DatasetError`.
    """
    p = Path(path)
    fmt = _format(p)
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


def _parse_all(name: str, path: Path, parse: RowParser, strict: bool,
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


# ---------------------------------------------------------------------------------------------
# the vendored benchmarks

def _gsm8k(row: Mapping[str, Any], i: int) -> Record:
    answer = row["answer"]
    if "####" not in answer:
        raise ValueError("answer has no '#### <number>' line")
    ref = answer.rsplit("####", 1)[1].strip().replace(",", "")
    return Record(str(i), row["question"], ref, "math", "math", "gsm8k", i)


def _math500(row: Mapping[str, Any], i: int) -> Record:
    return Record(row["unique_id"], row["problem"], row["answer"], "math", "math", "math500", i,
                  metadata={"level": int(row["level"]), "subject": row["subject"]})


def _math(row: Mapping[str, Any], i: int) -> Record:
    from ..verifiers.math import last_boxed

    ref = last_boxed(row["solution"])
    if ref is None:
        raise ValueError("solution has no \\boxed{} answer")
    level = str(row["level"]).replace("Level", "").strip()
    return Record(str(row.get("idx", i)), row["problem"], ref, "math", "math", "math", i,
                  metadata={"level": int(level) if level.isdigit() else level, "type": row["type"]})


def _aime24(row: Mapping[str, Any], i: int) -> Record:
    return Record(str(i), row["problem"], str(row["answer"]), "math", "math", "aime24", i,
                  metadata={"source_id": row.get("id"), "url": row.get("url", "")})


def _humaneval(row: Mapping[str, Any], i: int) -> Record:
    ref = {"prompt": row["prompt"], "test": row["test"], "entry_point": row["entry_point"]}
    return Record(row["task_id"], row["prompt"], ref, "coding", "code", "humaneval", i)


def _mbpp(row: Mapping[str, Any], i: int) -> Record:
    tests = list(row["test_list"])
    if not tests:
        raise ValueError("test_list is empty")
    text = row.get("prompt") or row["text"]
    # One assert shows the function's name and signature, as the MBPP paper's prompt does.
    prompt = f"{text.strip()}\nYour code should pass this test:\n{tests[0]}"
    ref = {"test_list": tests, "test_imports": list(row.get("test_imports") or [])}
    return Record(str(row["task_id"]), prompt, ref, "coding", "code", "mbpp", i)


def _hotpotqa(row: Mapping[str, Any], i: int) -> Record:
    return Record(str(row.get("id", i)), row["question"], row["answer"], "commonsense", "qa", "hotpotqa", i,
                  metadata={"type": row.get("type", "")})


def _hotpotqa_distractor(row: Mapping[str, Any], i: int) -> Record:
    ctx = row["context"]
    paragraphs = [f"{title}: {''.join(sents).strip()}" for title, sents in zip(ctx["title"], ctx["sentences"])]
    prompt = "Context:\n" + "\n".join(paragraphs) + "\n\n" + row["question"]
    return Record(str(i), prompt, row["answer"], "commonsense", "qa", "hotpotqa-distractor", i,
                  metadata={"type": row["type"], "level": row["level"], "source_id": row["id"]})


def _commonsenseqa(row: Mapping[str, Any], i: int) -> Record:
    q = row["question"]
    choices = "\n".join(f"{c['label']}. {c['text']}" for c in q["choices"])
    # The choice texts let the checker accept "Final Answer: refrigerator" for "B".
    context = {"labels": [c["label"] for c in q["choices"]], "choices": [c["text"] for c in q["choices"]]}
    return Record(str(i), f"{q['stem'].strip()}\n{choices}", row["answerKey"], "commonsense", "choice",
                  "commonsenseqa", i, metadata={"concept": q.get("question_concept", ""), "source_id": row["id"]},
                  context=context)


def _strategyqa(name: str) -> RowParser:
    def parse(row: Mapping[str, Any], i: int) -> Record:
        ans = row["answer"]
        if not isinstance(ans, bool):
            raise ValueError(f"answer must be true or false, got {ans!r}")
        return Record(str(i), row["question"], "yes" if ans else "no", "commonsense", "yesno", name, i,
                      metadata={"source_id": row["qid"]})
    return parse


def _collie(row: Mapping[str, Any], i: int) -> Record:
    key = row["key"]
    source, _, constraint = key.partition("_")
    ref = {"constraint": row["constraint"], "targets": row["targets"]}
    return Record(str(i), row["prompt"], ref, "commonsense", "collie", "collie", i,
                  metadata={"type": constraint, "source": source, "source_id": f"{key}/{row['index']}"})


@dataclass(frozen=True)
class _Builtin:
    path: str
    parse: RowParser
    about: str


BUILTIN: dict[str, _Builtin] = {
    "gsm8k": _Builtin("gsm8k/test.jsonl", _gsm8k, "GSM8K test, first 1000 (math)"),
    "math500": _Builtin("math500/test.jsonl", _math500, "MATH-500 (math; level, subject)"),
    "math": _Builtin("math/test.jsonl", _math, "MATH test, 5000 (math; level, type)"),
    "aime24": _Builtin("aime24/test.jsonl", _aime24, "AIME 2024 I+II (math)"),
    "humaneval": _Builtin("humaneval/HumanEval.jsonl.gz", _humaneval, "HumanEval (code)"),
    "mbpp": _Builtin("mbpp/sanitized-mbpp.json", _mbpp, "MBPP sanitized (code)"),
    "hotpotqa": _Builtin("hotpotqa/hotpot_dev_v1_simplified.ReAct.json", _hotpotqa,
                         "HotpotQA dev questions, closed book (qa; type)"),
    "hotpotqa-distractor": _Builtin("hotpotqa/hotpot_dev_distractor_sample100.reflexion.jsonl",
                                    _hotpotqa_distractor, "HotpotQA dev distractor sample with context (qa; level, type)"),
    "commonsenseqa": _Builtin("commonsenseqa/dev_rand_split.jsonl", _commonsenseqa, "CommonsenseQA dev (choice)"),
    "strategyqa": _Builtin("strategyqa/dev.eladsegal.json", _strategyqa("strategyqa"), "StrategyQA dev (yes/no)"),
    "strategyqa-train": _Builtin("strategyqa/train.eladsegal.json", _strategyqa("strategyqa-train"),
                                 "StrategyQA train (yes/no)"),
    "collie": _Builtin("collie/collie_v1.converted.jsonl", _collie, "COLLIE v1 constrained generation (collie; type)"),
}
ALIASES: dict[str, str] = {
    "math-500": "math500", "aime": "aime24", "aime-2024": "aime24", "aime2024": "aime24",
    "human-eval": "humaneval", "csqa": "commonsenseqa", "commonsense-qa": "commonsenseqa",
    "hotpot": "hotpotqa", "gsm-8k": "gsm8k", "collie-v1": "collie",
    "arith-test": "arith",
}
#: Built-ins generated in code, not read from the data directory (see :mod:`nlrl.bench.arith`).
GENERATED: dict[str, tuple[str, str]] = {
    "arith": ("test", "graded arithmetic, test split: 6 levels x 100, generated (math; level)"),
    "arith-dev": ("dev", "graded arithmetic, dev split: 6 levels x 100, generated (math; level)"),
    "arith-train": ("train", "graded arithmetic, train split: 6 levels x 100, generated (math; level)"),
}


def dataset_names() -> list[str]:
    return sorted([*BUILTIN, *GENERATED])


def _squash(name: str) -> str:
    return re.sub(r"[\s_-]+", "", name.lower())


def builtin_name(name: str) -> str | None:
    """The vendored benchmark ``name`` spells (an alias; case, spaces, ``-`` and ``_`` aside), or None."""
    key = ALIASES.get(name.lower(), name.lower())
    if key in BUILTIN or key in GENERATED:
        return key
    squashed = _squash(name)
    for known in [*BUILTIN, *GENERATED, *ALIASES]:
        if squashed and _squash(known) == squashed:
            return ALIASES.get(known, known)
    return None


def load_builtin(name: str, *, data_dir: str | os.PathLike[str] | None = None, strict: bool = False,
                 settings: Any = None) -> Dataset:
    """A vendored benchmark by name (see :data:`BUILTIN`)."""
    key = builtin_name(name)
    if key is None:
        raise UnknownNameError("dataset", name, dataset_names())
    if key in GENERATED:
        from .arith import generate

        return generate(GENERATED[key][0], name=key)
    spec = BUILTIN[key]
    path = resolve_data_dir(data_dir, settings) / spec.path
    if not path.is_file():
        raise DatasetError(f"dataset file for {key!r} not found (data directory: {path.parents[1]})", path=str(path))
    return _parse_all(key, path, spec.parse, strict)


# ---------------------------------------------------------------------------------------------
# anything else: files, lists of dicts, Hugging Face datasets

_PROMPT_KEYS = ("prompt", "question", "problem", "input", "text")
_REFERENCE_KEYS = ("answer", "reference", "target", "label", "solution")
_ID_KEYS = ("id", "task_id", "qid", "unique_id", "uid")
_YES_NO = {"yes", "no", "true", "false"}


def _get(row: Mapping[str, Any], path: str) -> Any:
    """``row["a"]["b"]`` for the dotted field path ``"a.b"`` (a missing field raises KeyError)."""
    cur: Any = row
    for part in path.split("."):
        if isinstance(cur, Mapping) and part in cur:
            cur = cur[part]
        elif isinstance(cur, list) and part.isdigit() and int(part) < len(cur):
            cur = cur[int(part)]
        else:
            raise KeyError(path)
    return cur


def _prompt_field(row: Mapping[str, Any], fields: Mapping[str, str], keys: Sequence[str]) -> str:
    """The text of the prompt column: mapped with prompt=FIELD, else the first of ``keys`` present."""
    pkey = fields.get("prompt") or _first(row, keys)
    if pkey is None:
        raise ValueError(f"no prompt field (looked for {', '.join(keys)}; map one with prompt=FIELD)")
    prompt = _get(row, pkey)
    if not isinstance(prompt, str):
        raise ValueError(f"prompt field {pkey!r} is not text")
    return prompt


def _first(row: Mapping[str, Any], keys: Sequence[str]) -> str | None:
    return next((k for k in keys if k in row and row[k] is not None), None)


def infer_checker(reference: Any, prompt: str, domain: str | None = None) -> str:
    """A checker for a reference with no checker named: yes/no, a choice letter, math or QA."""
    if isinstance(reference, Mapping) and ("test_cases" in reference or "test_list" in reference
                                           or "test" in reference):
        return "code"
    if isinstance(reference, bool) or str(reference).strip().lower() in _YES_NO:
        return "yesno"
    if domain == "math":
        return "math"
    if domain == "coding":
        raise ValueError("a coding item needs test_cases (or a code reference) to be graded")
    text = str(reference).strip()
    if len(text) == 1 and text.upper() in "ABCDEFGHIJ" and "\nA" in prompt:
        return "choice"
    if domain is None:
        from ..tasks.classify import classify

        if _mathy(text) or classify(prompt).domain == "math":
            return "math"
    elif _mathy(text):
        return "math"
    return "qa"


_NUMBERISH = re.compile(r"\$?-?(?:\d[\d,]*(?:\.\d+)?|\.\d+)(?:/\d+)?%?\$?")
_GSM8K_TAIL = re.compile(r"\n####\s*(\S[^\n]*)\s*$")


def _mathy(text: str) -> bool:
    return bool(_NUMBERISH.fullmatch(text)) or text.startswith("\\") or "\\frac" in text


def _mapped_parser(name: str, fields: Mapping[str, str] | None, checker: str | None,
                   domain: str | None, metadata_fields: Sequence[str]) -> RowParser:
    fields = dict(fields or {})
    unknown = set(fields) - {"id", "prompt", "reference", "domain", "checker", "test_cases"}
    if unknown:
        raise ConfigError(f"unknown field mapping target(s) {sorted(unknown)}; "
                          "map id, prompt, reference, test_cases, domain or checker")
    if checker is not None and checker not in CHECKER_DOMAINS:
        raise UnknownNameError("checker", checker, list(CHECKER_DOMAINS))
    if domain is not None and domain not in DOMAINS:
        raise UnknownNameError("domain", domain, list(DOMAINS))

    def parse(row: Mapping[str, Any], i: int) -> Record:
        layout = stdio_layout(row)
        if layout and checker in (None, "stdio") and not {"reference", "test_cases"} & set(fields):
            return _stdio_record(row, i, layout, name, fields, metadata_fields)
        prompt = _prompt_field(row, fields, _PROMPT_KEYS)
        tkey = fields.get("test_cases") or next((k for k in ("test_cases", "tests") if k in row), None)
        tests = _get(row, tkey) if tkey else None
        rkey = fields.get("reference") or _first(row, _REFERENCE_KEYS)
        if tests is not None:
            if isinstance(tests, str):
                tests = json.loads(tests)  # CSV cells hold JSON
            if not isinstance(tests, list) or not tests:
                raise ValueError("test_cases must be a non-empty list")
            reference: Any = {"test_cases": tests}
            if rkey is not None:
                reference["answer"] = _get(row, rkey)
            for key in ("fn_name", "float_tol"):
                if row.get(key) is not None:
                    reference[key] = row[key]
        elif rkey is not None:
            reference = _get(row, rkey)
        else:
            raise ValueError(f"no reference field (looked for {', '.join(_REFERENCE_KEYS)}; "
                             "map one with reference=FIELD)")
        if isinstance(reference, str) and (m := _GSM8K_TAIL.search(reference)):
            reference = m.group(1).strip().replace(",", "")  # a GSM8K rationale: its final number
        dom = str(_get(row, fields["domain"])) if "domain" in fields else (row.get("domain") or domain)
        chk = str(_get(row, fields["checker"])) if "checker" in fields else (row.get("checker") or checker)
        if chk is None:
            chk = (_tests_checker(tests) if tests is not None else infer_checker(reference, prompt, dom))
        if dom is None:
            dom = CHECKER_DOMAINS[chk]
        ikey = fields.get("id") or _first(row, _ID_KEYS)
        rid = str(_get(row, ikey)) if ikey else str(i)
        meta = {k: _get(row, k) for k in metadata_fields if k in row}
        for k in ("level", "subject", "type"):
            if k in row and k not in meta:
                meta[k] = row[k]
        return Record(rid, prompt, reference, dom, chk, name, i, metadata=meta)

    return parse


def _tests_checker(tests: list[Any]) -> str:
    """``stdio`` for ``[{"input", "output"}]`` tests (stdin/stdout), else ``code`` (``expected``)."""
    if all(isinstance(t, Mapping) and "output" in t and "expected" not in t for t in tests):
        return "stdio"
    return "code"


# ---------------------------------------------------------------------------------------------
# stdin/stdout programming problems: LiveCodeBench's and APPS's own row layouts

_STDIN_PROMPT = ("\n\nWrite a complete Python program: read the input from standard input and write the "
                 "answer to standard output.")
_CALL_PROMPT = "\n\nComplete the function `{fn}` below (it is called with the test arguments):\n```python\n{code}\n```"


def stdio_layout(row: Mapping[str, Any]) -> str | None:
    """``"livecodebench"`` (``public_test_cases`` / ``private_test_cases``), ``"apps"``
    (``input_output``) or None."""
    if "public_test_cases" in row or "private_test_cases" in row:
        return "livecodebench"
    if "input_output" in row:
        return "apps"
    return None


def _stdio_record(row: Mapping[str, Any], i: int, layout: str, name: str, fields: Mapping[str, str],
                  metadata_fields: Sequence[str]) -> Record:
    from ..verifiers.stdio import stdio_reference

    if layout == "livecodebench":
        raw = {k: row[k] for k in ("public_test_cases", "private_test_cases", "metadata") if k in row}
        prompt_keys: Sequence[str] = ("question_content", *_PROMPT_KEYS)
        id_keys: Sequence[str] = ("question_id", *_ID_KEYS)
        meta_keys: Sequence[str] = ("difficulty", "platform", "contest_date", "question_title", "contest_id")
    else:
        raw = {"input_output": row["input_output"]}
        prompt_keys, id_keys = _PROMPT_KEYS, ("problem_id", *_ID_KEYS)
        meta_keys = ("difficulty", "url")
    if row.get("fn_name"):
        raw["fn_name"] = row["fn_name"]
    if row.get("float_tol") is not None:
        raw["float_tol"] = row["float_tol"]
    ref = stdio_reference(raw)  # a malformed row is skipped here, not at grading time
    prompt = _prompt_field(row, fields, prompt_keys)
    starter = str(row.get("starter_code") or "").strip()
    if ref.fn_name:
        prompt = prompt.rstrip() + _CALL_PROMPT.format(fn=ref.fn_name, code=starter or f"def {ref.fn_name}(...):")
    else:
        prompt = prompt.rstrip() + _STDIN_PROMPT
    reference: dict[str, Any] = {"tests": [{"input": c.input, "output": c.output} for c in ref.tests]}
    if ref.fn_name:
        reference["fn_name"] = ref.fn_name
    if ref.float_tol is not None:
        reference["float_tol"] = ref.float_tol
    ikey = fields.get("id") or _first(row, id_keys)
    rid = str(_get(row, ikey)) if ikey else str(i)
    meta = {k: _get(row, k) for k in metadata_fields if k in row}
    meta.update({k: row[k] for k in meta_keys if k in row and k not in meta})
    meta["layout"] = layout
    return Record(rid, prompt, reference, "coding", "stdio", name, i, metadata=meta)


def from_file(path: str | os.PathLike[str], *, fields: Mapping[str, str] | None = None,
              checker: str | None = None, domain: str | None = None, metadata: Sequence[str] = (),
              strict: bool = False, name: str | None = None) -> Dataset:
    """A local JSONL/JSON/CSV/TSV file; ``fields`` maps record attributes to its columns
    (``{"prompt": "question.stem", "reference": "answerKey"}``; dotted paths reach nested fields)."""
    p = Path(path)
    if not p.is_file():
        raise DatasetError("no such file", path=str(p))
    parse = _mapped_parser(name or p.stem, fields, checker, domain, metadata)
    return _parse_all(name or p.stem, p, parse, strict)


def from_dicts(rows: Iterable[Mapping[str, Any]], *, name: str = "custom",
               fields: Mapping[str, str] | None = None, checker: str | None = None,
               domain: str | None = None, metadata: Sequence[str] = (), strict: bool = False) -> Dataset:
    """In-memory rows: ``{"question" or "problem", "answer", optional "test_cases", "id"}``.

    Also any iterable of mappings, such as a Hugging Face ``datasets.Dataset``.
    """
    parse = _mapped_parser(name, fields, checker, domain, metadata)
    numbered = ((i + 1, dict(r) if isinstance(r, Mapping) else r) for i, r in enumerate(rows))
    return _parse_all(name, Path(f"<{name}>"), parse, strict, rows=numbered)


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
        if _format(Path(text)):
            raise DatasetError("no such file", path=text)
        raise UnknownNameError("dataset", text, dataset_names())
    if isinstance(source, Mapping):
        raise ConfigError("a dataset is a name, a path, or a list of row dicts, not one dict")
    if hasattr(source, "__iter__"):
        if hasattr(source, "column_names") or hasattr(source, "features"):
            return from_hf(source, strict=strict, **kw)
        return from_dicts(source, strict=strict, **kw)
    raise ConfigError(f"cannot load a dataset from {type(source).__name__}")
