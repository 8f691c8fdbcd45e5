"""``nlrl classify PROMPT`` prints the prompt's domain; ``--file IN.jsonl`` labels a JSONL file."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import IO, Iterator, Optional

import typer

from .._exceptions import ConfigError, DatasetError, PromptError
from ._app import app
from .options import BackendOpt, BaseUrlOpt, ModelOpt, RunDirOpt, open_backend


@app.command()
def classify(
    prompt: Optional[str] = typer.Argument(None, help="The prompt to classify ('-' reads it from stdin)."),
    file: Optional[Path] = typer.Option(
        None, "--file", "-f", help="JSONL file, one object with a 'prompt' field per line ('-' = stdin); "
        "each object is written back to stdout with 'domain' added."),
    as_json: bool = typer.Option(False, "--json", help="Print domain, confidence, scores and method as JSON."),
    with_model: bool = typer.Option(
        False, "--with-model", help="Ask the model about prompts below --threshold (implied by --backend/--model)."),
    threshold: float = typer.Option(0.6, "--threshold", min=0.0, max=1.0,
                                    help="Confidence under which the model is asked."),
    backend: BackendOpt = None,
    model: ModelOpt = None,
    base_url: BaseUrlOpt = None,
    run_dir: RunDirOpt = None,
) -> None:
    """Print the domain of PROMPT: math, coding or commonsense (no model call unless asked)."""
    from ..tasks.classify import classify as classify_prompt
    from ..tasks.task import ensure_text

    if (prompt is None) == (file is None):
        raise ConfigError("give either a PROMPT or --file IN.jsonl" if prompt is None
                          else "give a PROMPT or --file, not both")
    engine = None
    if with_model or backend or model or base_url:
        _, engine = open_backend(backend, model, base_url, run_dir)
    try:
        if file is None:
            text = ensure_text(sys.stdin.buffer.read() if prompt == "-" else prompt)
            result = classify_prompt(text, backend=engine, threshold=threshold)
            if as_json:
                typer.echo(json.dumps({"domain": result.domain, "confidence": round(result.confidence, 4),
                                       "scores": {k: round(v, 4) for k, v in result.scores.items()},
                                       "method": result.method}))
            else:
                typer.echo(result.domain)
            return
        name = "<stdin>" if str(file) == "-" else str(file)
        for number, obj in _records(file, name):
            text = obj["prompt"]
            try:
                obj["domain"] = classify_prompt(ensure_text(text), backend=engine, threshold=threshold).domain
            except PromptError as exc:
                raise DatasetError(f"line {number}: {exc}", path=name) from None
            typer.echo(json.dumps(obj, ensure_ascii=False))  # click flushes: written lines stay written
    finally:
        if engine is not None:
            engine.close()


def _records(file: Path, name: str) -> Iterator[tuple[int, dict]]:
    """(line number, object) for each non-blank line; a bad line raises naming its number."""
    if str(file) == "-":
        yield from _parse(sys.stdin.buffer, name)
        return
    try:
        fh = open(file, "rb")
    except OSError as exc:
        raise DatasetError(f"cannot read: {exc.strerror or exc}", path=name) from None
    with fh:
        yield from _parse(fh, name)


def _parse(fh: IO[bytes], name: str) -> Iterator[tuple[int, dict]]:
    for number, raw in enumerate(fh, 1):
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise DatasetError(f"line {number}: not valid UTF-8 (byte {exc.start})", path=name) from None
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DatasetError(f"line {number}: not valid JSON ({exc.msg} at column {exc.colno})",
                               path=name) from None
        if not isinstance(obj, dict):
            raise DatasetError(f"line {number}: expected a JSON object, got {type(obj).__name__}", path=name)
        if "prompt" not in obj:
            raise DatasetError(f"line {number}: no 'prompt' field", path=name)
        if not isinstance(obj["prompt"], str):
            raise DatasetError(f"line {number}: 'prompt' must be a string", path=name)
        yield number, obj
