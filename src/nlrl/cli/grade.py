"""``nlrl grade PREDICTIONS.jsonl [--dataset NAME] [--out VERDICTS.jsonl]``.

Each line of PREDICTIONS is a JSON object with ``output`` and either ``id`` (a record of
``--dataset``: MATH-500 ``unique_id``, HumanEval/MBPP ``task_id``, else the record's 0-based
number) or ``reference`` with ``checker``. One verdict per line goes to ``--out`` (``line``,
``id``, ``correct``, ``score``, ``detail``, or ``error``), problems with a line go to stderr
with its number, and the last line printed is ``{"n", "correct", "accuracy", "errors"}``.
A line that cannot be graded counts as not correct; it does not stop the run.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import typer

from .._exceptions import ConfigError, NLRLError, UnknownNameError, VerifierError
from ._app import app


@dataclass
class _Line:
    number: int
    id: Any = None
    checker: str | None = None
    reference: Any = None
    output: str | None = None
    verdict: dict[str, Any] | None = None


def _parse(path: Path, refs: dict[str, Any] | None, dataset: str | None) -> list[_Line]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror or exc}") from exc
    except UnicodeDecodeError:
        raise ConfigError(f"{path} is not UTF-8 text") from None
    lines = []
    for number, raw in enumerate(text.splitlines(), 1):
        if not raw.strip():
            continue
        line = _Line(number)
        lines.append(line)
        try:
            rec = json.loads(raw)
        except json.JSONDecodeError as exc:
            line.verdict = {"error": f"invalid JSON: {exc.msg} (column {exc.colno})"}
            continue
        if not isinstance(rec, dict):
            line.verdict = {"error": f"expected a JSON object, got {type(rec).__name__}"}
            continue
        line.id = rec.get("id")
        output = rec.get("output")
        if not isinstance(output, str):
            line.verdict = {"error": "missing 'output'" if output is None else "'output' must be a string"}
            continue
        line.output = output
        if "reference" in rec and "checker" in rec:
            line.checker, line.reference = str(rec["checker"]), rec["reference"]
        elif "id" in rec and refs is not None:
            ref = refs.get(str(rec["id"]))
            if ref is None:
                line.verdict = {"error": f"id {rec['id']!r} is not a record of {dataset}"}
                continue
            line.checker, line.reference = ref.checker, ref.reference
        elif "id" in rec:
            line.verdict = {"error": "has 'id' but no --dataset was given"}
        else:
            line.verdict = {"error": "needs 'id' (with --dataset) or 'reference' and 'checker'"}
    return lines


def _grade(lines: list[_Line]) -> None:
    from ..verifiers import get_verifier
    from ..verifiers.code import build_program

    groups: dict[str, list[_Line]] = {}
    for line in lines:
        if line.verdict is None:
            groups.setdefault(str(line.checker), []).append(line)
    for checker, group in groups.items():
        try:
            verifier = get_verifier(checker)
        except UnknownNameError as exc:
            for line in group:
                line.verdict = {"error": str(exc)}
            continue
        if checker == "code":  # validate one by one, then run the good ones in parallel
            ready = []
            for line in group:
                try:
                    build_program(line.output or "", line.reference)
                    ready.append(line)
                except VerifierError as exc:
                    line.verdict = {"error": str(exc)}
            verdicts = verifier.check_many([(ln.output or "", ln.reference) for ln in ready])
            for line, v in zip(ready, verdicts):
                line.verdict = v.to_dict()
            continue
        for line in group:
            try:
                line.verdict = verifier.check(line.output or "", line.reference).to_dict()
            except NLRLError as exc:
                line.verdict = {"error": str(exc)}


@app.command()
def grade(
    predictions: Path = typer.Argument(..., help="JSONL file: one {output, id | reference + checker} per line."),
    dataset: Optional[str] = typer.Option(None, "--dataset", help="Benchmark the ids refer to (math500, gsm8k, humaneval, mbpp, ...)."),
    out: Optional[Path] = typer.Option(None, "--out", help="Write one verdict per line here (JSONL)."),
    data_dir: Optional[Path] = typer.Option(None, "--data-dir", help="Benchmark data directory (default: $NLRL_DATA_DIR or the bundled copy)."),
) -> None:
    """Grade model outputs against references; print {"n", "correct", "accuracy"} last."""
    from ..verifiers.references import load_references

    refs = load_references(dataset, data_dir) if dataset else None
    lines = _parse(predictions, refs, dataset)
    _grade(lines)
    records = []
    for line in lines:
        v = line.verdict or {"error": "not graded"}
        if "error" in v:
            typer.echo(f"{predictions}:{line.number}: {v['error']}", err=True)
            rec = {"line": line.number, "id": line.id, "correct": False, "error": v["error"]}
        else:
            rec = {"line": line.number, "id": line.id, **v}
        records.append(rec)
    if out is not None:
        try:
            with out.open("w", encoding="utf-8") as f:
                for rec in records:
                    f.write(json.dumps(rec, ensure_ascii=False) + "\n")
        except OSError as exc:
            raise ConfigError(f"cannot write {out}: {exc.strerror or exc}") from exc
    n = len(records)
    correct = sum(1 for r in records if r.get("correct"))
    errors = sum(1 for r in records if "error" in r)
    typer.echo(json.dumps({"n": n, "correct": correct, "accuracy": round(correct / n, 6) if n else 0.0,
                           "errors": errors}))
