"""Command-line interface: ``nlrl solve | classify | grade | bench | sweep | report | gpi | serve | view | train-reward``."""

from __future__ import annotations

from ._app import app, main

# Each command module attaches itself to ``app`` when imported.
from . import solve  # noqa: E402,F401
from . import classify  # noqa: E402,F401
from . import bench  # noqa: E402,F401
from . import report  # noqa: E402,F401
from . import gpi  # noqa: E402,F401
from . import grade  # noqa: E402,F401
from . import sweep  # noqa: E402,F401
from . import view  # noqa: E402,F401
from . import serve  # noqa: E402,F401
from . import train_reward  # noqa: E402,F401

__all__ = ["app", "main"]
