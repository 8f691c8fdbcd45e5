"""``nlrl view``: a local, offline browser view of benchmark and GPI runs.

>>> from nlrl.view import open_run, export_html       # doctest: +SKIP
>>> html = export_html([open_run("runs/gsm8k-cot")])  # doctest: +SKIP

:func:`open_run` reads a run directory, :func:`create_app` serves runs (Starlette; the ``view``
extra), :func:`export_html` writes every view into one self-contained HTML file.
"""

from __future__ import annotations

from typing import Any

from .runs import BenchRun, GPIRun, open_run


def create_app(runs: Any) -> Any:
    from .server import create_app as _create

    return _create(runs)


def export_html(runs: Any) -> str:
    from .pages import export_html as _export

    return _export(runs)


__all__ = ["BenchRun", "GPIRun", "create_app", "export_html", "open_run"]
