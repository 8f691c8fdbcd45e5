"""The Typer application and the one place where errors become exit codes.

Commands live one per module (``solve.py``, ``grade.py``, ...) and attach themselves to ``app``.
Each builds objects from the Python API and calls one method; an :class:`NLRLError` becomes a
single line on stderr and exit code 1, never a traceback.
"""

from __future__ import annotations

import sys

import typer

from .._exceptions import NLRLError

app = typer.Typer(
    name="nlrl",
    help="Test-time reasoning strategies, graders and Natural Language RL for language models.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def fail(message: str, code: int = 1) -> "typer.Exit":
    """Print one error line and return the Exit to raise."""
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)


def main(argv: list[str] | None = None) -> None:
    """Console entry point: run the app, mapping nlrl's errors to one line and exit 1."""
    try:
        app(args=argv, standalone_mode=True)
    except NLRLError as exc:
        typer.echo(f"error: {exc}", err=True)
        sys.exit(1)
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        sys.exit(130)
