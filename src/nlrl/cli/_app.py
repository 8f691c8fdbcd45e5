"""The Typer application and the one place where errors become exit codes.

Commands live one per module (``solve.py``, ``grade.py``, ...) and attach themselves to ``app``.
Each builds objects from the Python API and calls one method; an :class:`NLRLError` becomes a
single line on stderr and exit code 1, never a traceback.
"""

from __future__ import annotations

import importlib
import sys
from typing import Any

import typer
from typer.core import TyperGroup

from .._exceptions import NLRLError

# Typer >= 0.29 vendors Click (typer._click); older releases use Click itself. Catch the
# exceptions of whichever Click the group below is built on.
_ClickException = importlib.import_module(
    TyperGroup.__mro__[1].__module__.rsplit(".", 1)[0] + ".exceptions").ClickException


class _OneLineErrors(TyperGroup):
    """Every way a command can fail ends as one ``error: ...`` line and a non-zero exit:
    NLRLError → 1, usage errors → 2 (click's convention), interrupt → 130."""

    def main(self, args: Any = None, prog_name: Any = None, complete_var: Any = None,
             standalone_mode: bool = True, **extra: Any) -> Any:
        try:
            rv = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except NLRLError as exc:
            _die(str(exc), 1)
        except _ClickException as exc:
            if type(exc).__name__ == "NoArgsIsHelpError":  # bare ``nlrl``: show the help
                typer.echo(exc.format_message(), err=True)
                sys.exit(exc.exit_code)
            _die(exc.format_message(), exc.exit_code)
        except (typer.Abort, KeyboardInterrupt):
            _die("interrupted", 130)
        if isinstance(rv, int) and rv:  # typer.Exit(code) returns its code without standalone mode
            sys.exit(rv)
        return rv


def _die(message: str, code: int) -> None:
    typer.echo(f"error: {message.splitlines()[0] if message else 'failed'}", err=True)
    sys.exit(code)


app = typer.Typer(
    name="nlrl",
    cls=_OneLineErrors,
    help="Test-time reasoning strategies, graders and Natural Language RL for language models.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


@app.callback()
def _root() -> None:
    """Test-time reasoning strategies, graders and Natural Language RL for language models."""


def fail(message: str, code: int = 1) -> "typer.Exit":
    """Print one error line and return the Exit to raise."""
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)


def main(argv: list[str] | None = None) -> None:
    """Console entry point (``nlrl``)."""
    app(args=argv)
