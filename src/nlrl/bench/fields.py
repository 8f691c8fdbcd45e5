"""Rows of any other source (files, lists of dicts, Hugging Face datasets) mapped to records: which
column is the prompt, the reference, the tests; which checker grades it when none is named; and
the stdin/stdout programming layouts of LiveCodeBench and APPS."""

from __future__ import annotations

import json
import re
from typing import Any, Mapping, Sequence

from .._exceptions import ConfigError, UnknownNameError
from .files import RowParser
from .records import CHECKER_DOMAINS, DOMAINS, Record

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


def mapped_parser(name: str, fields: Mapping[str, str] | None, checker: str | None,
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
