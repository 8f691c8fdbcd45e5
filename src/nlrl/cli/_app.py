"""The Typer application and the one place where errors become exit codes.

Commands live one per module (``solve.py``, ``grade.py``, ...) and attach themselves to ``app``.
Each builds objects from the Python API and calls one method; an :class:`NLRLError` becomes a
single line on stderr and exit code 1, never a traceback.
"""

from __future__ import annotations

import errno
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


_WRITE_ERRNOS = {errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOSPC, errno.EDQUOT}


class _OneLineErrors(TyperGroup):
    """Every way a command can fail ends as one ``error: ...`` line and a non-zero exit:
    NLRLError → 1, usage errors → 2 (click's convention), interrupt → 130."""

    def main(self, args: Any = None, prog_name: Any = None, complete_var: Any = None,
             standalone_mode: bool = True, **extra: Any) -> Any:
        _plain_metavars(self)
        try:
            rv = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except NLRLError as exc:
            _die(str(exc), 1)
        except OSError as exc:  # a read-only or missing path the command did not anticipate
            _die(_os_message(exc), 1)
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


# Help shows what a user types: PROMPT, KEY=VALUE, INTEGER; not Typer 0.29's ``{prompt}`` and
# ``<list[str]>`` (type names from the annotations). Older Typer renders click's names already.
_TYPE_NAMES = {"str": "TEXT", "int": "INTEGER", "float": "NUMBER", "path": "PATH", "bool": "BOOLEAN"}


def _plain_metavars(command: Any) -> None:
    for sub in (getattr(command, "commands", None) or {}).values():
        _plain_metavars(sub)
    for param in getattr(command, "params", ()):
        if not hasattr(param, "type_descriptor") or getattr(param, "_nlrl_plain", False):
            continue
        param._nlrl_plain = True
        if param.param_type_name == "argument":
            param.display_type_rich = lambda ctx: None  # the name says it: PROMPT, RUN
            param._usage_display_name = _usage_name(param)
        else:
            param.display_type = _type_name(param.display_type)


def _type_name(original: Any) -> Any:
    def display_type(ctx: Any) -> Any:
        label = original(ctx)
        if not isinstance(label, str) or not (label.startswith("<") and label.endswith(">")):
            return label
        inner = label[1:-1].removesuffix(" range")
        if inner.startswith("list[") and inner.endswith("]"):  # a repeatable option: one value each
            inner = inner[5:-1]
        return inner if "|" in inner else _TYPE_NAMES.get(inner, inner.upper())
    return display_type


def _usage_name(param: Any) -> Any:
    def usage_name() -> str:
        name = param.metavar or param.name.upper()
        name = name if param.required else f"[{name}]"
        return name + ("..." if param.nargs != 1 else "")
    return usage_name


def _os_message(exc: OSError) -> str:
    what = exc.strerror or str(exc) or type(exc).__name__
    where = exc.filename if exc.filename is not None else None
    if where is None:
        return what
    return f"cannot write {where}: {what}" if exc.errno in _WRITE_ERRNOS else f"{where}: {what}"


def _die(message: str, code: int) -> None:
    typer.echo(f"error: {message.splitlines()[0] if message else 'failed'}", err=True)
    sys.exit(code)


_HELP = """Test-time reasoning strategies, graders and Natural Language RL for language models.

Settings come from flags, then NLRL_* environment variables, then nlrl.toml (or $NLRL_CONFIG).
The log is RUN_DIR/nlrl.log, with RUN_DIR from --run-dir or NLRL_RUN_DIR, else the user cache
directory (~/.cache/nlrl on Linux); `nlrl bench` also logs into its --out directory.
"""

app = typer.Typer(
    name="nlrl",
    cls=_OneLineErrors,
    help=_HELP,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("nlrl")
    except PackageNotFoundError:  # a source tree on PYTHONPATH, not installed
        # layering: the root package is loaded before any of its modules; this reads its version only
        from .. import __version__

        return __version__


def _show_version(value: bool) -> None:
    if value:
        typer.echo(f"nlrl {_version()}")
        raise typer.Exit()


@app.callback(help=_HELP)
def _root(
    version: bool = typer.Option(False, "--version", callback=_show_version, is_eager=True,
                                 help="Print nlrl's version and exit."),
) -> None:
    """Test-time reasoning strategies, graders and Natural Language RL for language models."""


def fail(message: str, code: int = 1) -> "typer.Exit":
    """Print one error line and return the Exit to raise."""
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)


def main(argv: list[str] | None = None) -> None:
    """Console entry point (``nlrl``)."""
    app(args=argv)
