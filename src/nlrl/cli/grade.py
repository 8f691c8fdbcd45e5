"""``nlrl grade PREDICTIONS.jsonl [--dataset NAME] [--out VERDICTS.jsonl]``.

Each line of PREDICTIONS is a JSON object with ``output`` and either ``id`` (a record of
``--dataset``, a vendored benchmark read by :mod:`nlrl.bench.datasets`: MATH-500 ``unique_id``,
HumanEval/MBPP ``task_id``, else the record's 0-based number; the record's reference, checker
and checker context, such as CommonsenseQA's choices, grade the line) or ``reference`` with
``checker``. One verdict per line goes to ``--out`` (``line``, ``id``, ``correct``, ``score``,
``detail``, or ``error``), problems with a line go to stderr with its number, and the last line
printed is ``{"n", "correct", "accuracy", "errors"}``. When code is graded, one line on stderr names
the sandbox mode (``nlrl grade --sandbox-info`` prints it alone); with no isolating mode the
command fails unless ``--unsafe-sandbox`` (``NLRL_SANDBOX=unsafe``) is given.
A line that cannot be graded counts as not correct; it does not stop the run, but the exit
code is 1 when any line could not be graded (``--allow-errors``: 0), so scripts can tell.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

import typer

from .._exceptions import ConfigError, NLRLError, UnknownNameError, VerifierError
from ._app import app, fail

if TYPE_CHECKING:
    from ..bench.records import Record


@dataclass
class _Line:
    number: int
    id: Any = None
    checker: str | None = None
    reference: Any = None
    context: dict[str, Any] = field(default_factory=dict)
    output: str | None = None
    verdict: dict[str, Any] | None = None


def _parse(path: Path, records: dict[str, Record] | None, dataset: str | None) -> list[_Line]:
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
        elif "id" in rec and records is not None:
            record = records.get(str(rec["id"]))
            if record is None:
                line.verdict = {"error": f"id {rec['id']!r} is not a record of {dataset}"}
                continue
            line.checker, line.reference, line.context = record.checker, record.reference, dict(record.context)
        elif "id" in rec:
            line.verdict = {"error": "has 'id' but no --dataset was given"}
        else:
            line.verdict = {"error": "needs 'id' (with --dataset) or 'reference' and 'checker'"}
    return lines


def _sandbox_info(value: bool) -> None:
    if value:
        from ..verifiers.sandbox import sandbox_info

        typer.echo(sandbox_info())
        raise typer.Exit()


def _grade(lines: list[_Line]) -> None:
    from ..verifiers import get_verifier
    from ..verifiers.code import build_program
    from ..verifiers.sandbox import sandbox_info

    groups: dict[tuple[str, str], list[_Line]] = {}
    for line in lines:  # one group per checker and context: code is graded a group at a time
        if line.verdict is None:
            key = (str(line.checker), json.dumps(line.context, sort_keys=True, default=str))
            groups.setdefault(key, []).append(line)
    for (checker, _), group in groups.items():
        context = group[0].context
        try:
            verifier = get_verifier(checker)
        except UnknownNameError as exc:
            for line in group:
                line.verdict = {"error": str(exc)}
            continue
        if checker == "code":  # validate one by one, then run the good ones in parallel
            typer.echo(sandbox_info(), err=True)
            ready = []
            for line in group:
                try:
                    build_program(line.output or "", line.reference, **context)
                    ready.append(line)
                except VerifierError as exc:
                    line.verdict = {"error": str(exc)}
            verdicts = verifier.check_many([(ln.output or "", ln.reference) for ln in ready], **context)
            for line, v in zip(ready, verdicts):
                line.verdict = v.to_dict()
            continue
        for line in group:
            try:
                line.verdict = verifier.check(line.output or "", line.reference, **context).to_dict()
            except NLRLError as exc:
                line.verdict = {"error": str(exc)}


@app.command()
def grade(
    ctx: typer.Context,
    predictions: Path = typer.Argument(..., metavar="PREDICTIONS.jsonl", help="JSONL file: one {output, id | reference + checker} per line."),
    dataset: Optional[str] = typer.Option(None, "--dataset", help="Benchmark the ids refer to (math500, gsm8k, humaneval, mbpp, ...) or a dataset file (e.g. LiveCodeBench or APPS JSONL)."),
    out: Optional[Path] = typer.Option(None, "--out", metavar="VERDICTS.jsonl", help="Write one verdict per line here (JSONL)."),
    data_dir: Optional[Path] = typer.Option(None, "--data-dir", help="Benchmark data directory (default: $NLRL_DATA_DIR or the bundled copy)."),
    allow_errors: bool = typer.Option(False, "--allow-errors", help="Exit 0 even when some lines could not be graded."),
    unsafe_sandbox: bool = typer.Option(False, "--unsafe-sandbox", help="Run model-written code WITHOUT isolation when no isolating sandbox is available (NLRL_SANDBOX=unsafe)."),
    sandbox_info: bool = typer.Option(False, "--sandbox-info", is_eager=True, callback=_sandbox_info, help="Print the code sandbox mode this machine gets, and exit."),
) -> None:
    """Grade model outputs against references; print {"n", "correct", "accuracy", "errors"} last.

    Exits 1 when any line could not be graded, unless --allow-errors.
    """
    if unsafe_sandbox:  # for this command only: restored when it ends
        import os

        previous = os.environ.get("NLRL_SANDBOX")
        os.environ["NLRL_SANDBOX"] = "unsafe"
        ctx.call_on_close(
            lambda: os.environ.pop("NLRL_SANDBOX") if previous is None else os.environ.update(NLRL_SANDBOX=previous))
    from ..bench.datasets import load_dataset

    by_id = {r.id: r for r in load_dataset(dataset, data_dir=data_dir, strict=True)} if dataset else None
    lines = _parse(predictions, by_id, dataset)
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
    if errors and not allow_errors:
        raise fail(f"{errors} of {n} lines could not be graded (--allow-errors to exit 0)")
