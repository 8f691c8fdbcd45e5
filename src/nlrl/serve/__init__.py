"""``nlrl serve``: an OpenAI-compatible server over nlrl's strategies (FastAPI on uvicorn).

Needs the ``serve`` extra (``pip install 'nlrl[serve]'``): FastAPI, uvicorn and
prometheus-client are imported only here.

>>> from nlrl.serve import ServeConfig
>>> ServeConfig(strategy="self-consistency").max_concurrency
1
"""

from __future__ import annotations

from typing import Any

from .config import ServeConfig, read_keys

__all__ = ["ServeConfig", "create_app", "read_keys", "run_server"]


def __getattr__(name: str) -> Any:
    if name in ("create_app", "run_server"):
        try:
            from . import app as _app, server as _server
        except ImportError as exc:
            raise ImportError(f"nlrl serve needs FastAPI, uvicorn and prometheus-client: "
                              f"pip install 'nlrl[serve]' ({exc})") from exc
        return _app.create_app if name == "create_app" else _server.run_server
    raise AttributeError(name)
