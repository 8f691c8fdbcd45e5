"""Run the app under uvicorn: loopback by default, graceful shutdown on SIGTERM.

On SIGTERM (or Ctrl-C) uvicorn stops accepting connections and lets in-flight requests finish
for ``grace_s`` seconds; then what still runs is cancelled, the worker threads are joined and
the process exits 0.
"""

from __future__ import annotations

import logging
import signal
import threading

from ..backends import Backend
from .config import ServeConfig

log = logging.getLogger("nlrl.serve")


def run_server(backend: Backend, config: ServeConfig, *, host: str = "127.0.0.1", port: int = 8000,
               grace_s: float = 30.0, log_level: str = "warning") -> None:
    import uvicorn

    from .app import create_app

    app = create_app(backend, config)
    uconfig = uvicorn.Config(app, host=host, port=port, log_level=log_level, access_log=False,
                             timeout_graceful_shutdown=grace_s, lifespan="on", proxy_headers=False)
    server = uvicorn.Server(uconfig)
    if threading.current_thread() is threading.main_thread():
        # uvicorn re-raises the signal it shut down on, once its own handlers are removed; with
        # this handler in place a drained SIGTERM ends in a normal return, so the exit code is 0.
        signal.signal(signal.SIGTERM, lambda *_: log.info("SIGTERM: drained, exiting"))
    log.info("serving %s on http://%s:%d (strategy %s)", backend.model_name, host, port, config.strategy)
    server.run()
