"""The ``nlrl view`` web app (Starlette): pages over the runs it was given, and nothing else.

Routes::

    /                          the runs
    /runs/{i}                  a benchmark run's samples, a GPI run, or an nlrl serve request log
    /runs/{i}/sample?id=ID     one sample: prompt, gists, answer, verdict, trace
    /compare?run=I&run=J       accuracy side by side and paired flips
    /runs/{i}/files/{name}     a plot or data file directly in run i's directory
    /api/runs/{i}              the samples table and headline as JSON (live refresh)
    /api/version               whether any run changed (the runs page's live refresh)
    /static/{name}             the viewer's own stylesheet and script

A file is served only if it is one of a run's own files, listed from its directory (no path from
the URL is ever joined to a directory). Every failure becomes a page with one clear message.
"""

from __future__ import annotations

import hashlib
from http import HTTPStatus
import threading
from typing import Any, Sequence

from .._exceptions import NLRLError
from . import pages
from .runs import RUNNING, BenchRun, GPIRun, ServeLog, files_of

CSP = ("default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
       "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
STATIC = ("view.css", "view.js")
_TYPES = {".png": "image/png", ".svg": "image/svg+xml", ".json": "application/json",
          ".jsonl": "application/x-ndjson", ".css": "text/css", ".js": "text/javascript"}


def _starlette() -> Any:
    try:
        import starlette  # noqa: F401
    except ImportError:
        raise NLRLError("nlrl view needs Starlette and uvicorn: pip install 'nlrl[view]'") from None
    return starlette


class Viewer:
    """The runs being viewed; each request re-reads a run only if its files changed."""

    def __init__(self, runs: Sequence[BenchRun | GPIRun | ServeLog]) -> None:
        self.runs = list(runs)
        self._locks = [threading.Lock() for _ in self.runs]

    def get(self, i: int) -> BenchRun | GPIRun:
        run = self.runs[i]
        with self._locks[i]:
            try:
                run.refresh()
            except NLRLError as exc:  # rewritten meanwhile into something unreadable: keep the last view
                msg = f"could not re-read the run: {exc}"
                if msg not in run.warnings:
                    run.warnings.append(msg)
        return run

    def all(self) -> list[BenchRun | GPIRun]:
        return [self.get(i) for i in range(len(self.runs))]

    def version(self) -> str:
        parts = [repr(getattr(r, "_signature", None)) for r in self.all()]
        return hashlib.sha1("|".join(parts).encode()).hexdigest()[:12]


def create_app(runs: Sequence[BenchRun | GPIRun]) -> Any:
    """The Starlette application over ``runs`` (opened with :func:`~nlrl.view.runs.open_run`)."""
    _starlette()
    from starlette.applications import Starlette
    from starlette.exceptions import HTTPException
    from starlette.requests import Request
    from starlette.responses import HTMLResponse, JSONResponse, Response
    from starlette.routing import Route

    viewer = Viewer(runs)

    def html(body: str, status: int = 200) -> HTMLResponse:
        return HTMLResponse(body, status_code=status, headers={"Content-Security-Policy": CSP,
                                                                "X-Content-Type-Options": "nosniff"})

    def problem(status: int, heading: str, message: str) -> HTMLResponse:
        return html(pages.error_page(heading, message), status)

    def run_index(request: Request) -> int:
        i = request.path_params["i"]
        if not 0 <= i < len(viewer.runs):
            raise HTTPException(404, f"there is no run {i} (this viewer shows runs 0-{len(viewer.runs) - 1})")
        return i

    def index(request: Request) -> Response:
        runs_now = viewer.all()
        live = any(r.status == RUNNING for r in runs_now)
        return html(pages.runs_page(runs_now, live=live, version=viewer.version()))

    def run_page(request: Request) -> Response:
        i = run_index(request)
        run = viewer.get(i)
        if isinstance(run, GPIRun):
            return html(pages.gpi_page(i, run))
        if isinstance(run, ServeLog):
            q = request.query_params
            try:
                page = int(q.get("page") or 0)
            except ValueError:
                return problem(400, "Bad page", "page= takes a page number")
            return html(pages.serve_page(i, run, status=q.get("status", ""), strategy=q.get("strategy", ""),
                                         page=page))
        return html(pages.bench_page(i, run, version=repr(run._signature)))

    def sample(request: Request) -> Response:
        i = run_index(request)
        run = viewer.get(i)
        if not isinstance(run, BenchRun):
            return problem(404, "Not a benchmark run", f"run {i} is a {run.kind} run; it has no samples")
        sid = request.query_params.get("id")
        if sid is None:
            return problem(400, "No sample given", "add ?id=SAMPLE_ID to the address")
        row = run.sample(sid)
        if row is None:
            return problem(404, "No such sample", f"run {i} has no sample with id {sid!r}")
        return html(pages.sample_page(i, run, row))

    def compare(request: Request) -> Response:
        try:
            ids = [int(x) for x in request.query_params.getlist("run")]
        except ValueError:
            return problem(400, "Bad comparison", "run= takes run numbers, e.g. /compare?run=0&run=1")
        ids = list(dict.fromkeys(ids))
        if len(ids) < 2:
            return problem(400, "Pick two runs", "select two or more benchmark runs to compare")
        chosen = []
        for i in ids:
            if not 0 <= i < len(viewer.runs):
                return problem(404, "No such run", f"there is no run {i}")
            run = viewer.get(i)
            if not isinstance(run, BenchRun):
                return problem(400, "Not comparable", f"run {i} is a {run.kind} run; only benchmark runs are compared")
            chosen.append((i, run))
        return html(pages.compare_page(chosen))

    def api_run(request: Request) -> Response:
        i = run_index(request)
        run = viewer.get(i)
        version = repr(run._signature)
        body: dict[str, Any] = {"version": version, "status": run.status, "head": run.headline()}
        if isinstance(run, BenchRun) and request.query_params.get("since") != version:
            body["rows"] = run.table_rows()
        return JSONResponse(body, headers={"Cache-Control": "no-store"})

    def api_version(request: Request) -> Response:
        runs_now = viewer.all()
        return JSONResponse({"version": viewer.version(),
                             "status": RUNNING if any(r.status == RUNNING for r in runs_now) else "idle"},
                            headers={"Cache-Control": "no-store"})

    def run_file(request: Request) -> Response:
        i = run_index(request)
        name = request.path_params["name"]
        path = files_of(viewer.runs[i].path).get(name)
        if path is None:
            return problem(404, "Not a file of this run", f"run {i} has no file {name!r} that can be shown")
        try:
            data = path.read_bytes()
        except OSError as exc:
            return problem(404, "Cannot read the file", f"{name}: {exc.strerror or exc}")
        return Response(data, media_type=_TYPES.get(path.suffix.lower(), "application/octet-stream"),
                        headers={"X-Content-Type-Options": "nosniff", "Content-Security-Policy": "default-src 'none'"})

    def static(request: Request) -> Response:
        name = request.path_params["name"]
        if name not in STATIC:
            return problem(404, "Not found", f"no asset {name!r}")
        return Response(pages.asset(name), media_type=_TYPES["." + name.rsplit(".", 1)[1]],
                        headers={"X-Content-Type-Options": "nosniff"})

    async def not_found(request: Request, exc: Exception) -> Response:
        status = getattr(exc, "status_code", 404)
        detail = getattr(exc, "detail", None)
        if not detail or detail == HTTPStatus(status).phrase:  # Starlette's default for unknown routes
            detail = "there is no page at this address"
        return problem(status, "Not found" if status == 404 else "Bad request", str(detail))

    async def failed(request: Request, exc: Exception) -> Response:
        return problem(500, "The viewer could not show this page", f"{type(exc).__name__}: {exc}")

    routes = [
        Route("/", index),
        Route("/runs/{i:int}", run_page),
        Route("/runs/{i:int}/sample", sample),
        Route("/runs/{i:int}/files/{name:path}", run_file),
        Route("/compare", compare),
        Route("/api/runs/{i:int}", api_run),
        Route("/api/version", api_version),
        Route("/static/{name:path}", static),
    ]
    return Starlette(routes=routes, exception_handlers={HTTPException: not_found, Exception: failed})
