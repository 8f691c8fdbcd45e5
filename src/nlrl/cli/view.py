"""``nlrl view [RUN_DIR ...]``: look at runs, traces and search trees in the browser."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from ._app import app, fail


def _run_dirs(given: list[Path]) -> list[Path]:
    """The directories asked for; with none, the current directory if it is a run, else the runs
    directly inside it."""
    if given:
        return given
    from .._exceptions import NLRLError
    from ..view.runs import open_run

    here = Path.cwd()
    try:
        open_run(here)
        return [here]
    except NLRLError:
        pass
    found = []
    for child in sorted(here.iterdir()):
        if child.is_dir():
            try:
                open_run(child)
                found.append(child)
            except NLRLError:
                continue
    if not found:
        raise fail("no run directories given, and none found in the current directory")
    return found


@app.command()
def view(
    runs: Optional[List[Path]] = typer.Argument(None, help="Run directories of `nlrl bench` or `nlrl gpi` (default: the current directory, or the runs in it)."),
    port: int = typer.Option(0, "--port", "-p", min=0, max=65535, help="Port on 127.0.0.1 (default: a free one)."),
    no_browser: bool = typer.Option(False, "--no-browser", help="Do not open a browser; just print the address."),
    export: Optional[Path] = typer.Option(None, "--export", help="Write every view into this one self-contained HTML file and exit."),
) -> None:
    """Serve a local, offline view of runs: accuracy, samples, traces, beam trees, GPI curves."""
    from ..view.runs import open_run

    opened = [open_run(p) for p in _run_dirs(list(runs or []))]
    if export is not None:
        from ..view.pages import export_html

        try:
            export.write_text(export_html(opened), encoding="utf-8")
        except OSError as exc:
            raise fail(f"cannot write {export}: {exc.strerror or exc}")
        typer.echo(f"wrote {export}")
        return
    serve(opened, port=port, open_browser=not no_browser)


def serve(opened: list, *, port: int = 0, open_browser: bool = True) -> None:
    import socket

    from ..view.server import create_app

    application = create_app(opened)
    try:
        import uvicorn
    except ImportError:
        raise fail("nlrl view needs uvicorn: pip install 'nlrl[view]'") from None
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(("127.0.0.1", port))
        sock.listen(2048)  # listening before the address is printed: an early client waits, not refused
    except OSError as exc:
        sock.close()
        raise fail(f"cannot listen on 127.0.0.1:{port}: {exc.strerror or exc}") from None
    url = f"http://127.0.0.1:{sock.getsockname()[1]}/"
    typer.echo(f"nlrl view: {url} (Ctrl-C to stop)", err=False)
    if open_browser:
        import webbrowser

        webbrowser.open(url)
    server = uvicorn.Server(uvicorn.Config(application, log_level="warning", access_log=False))
    try:
        server.run(sockets=[sock])
    except KeyboardInterrupt:  # Ctrl-C is how a viewer is meant to stop: not an error
        pass
    finally:
        sock.close()
    typer.echo("nlrl view: stopped", err=True)
