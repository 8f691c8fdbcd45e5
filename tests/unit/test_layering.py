"""Imports run down the layers: no module of nlrl imports from a layer above its own.

The order is written once, in ``LAYERS`` (docs/core.md, "Architecture", draws the same). A layer is
a subpackage or top-level module of ``nlrl``; the units of one layer do not import each other. Every
import counts: at module level, under ``TYPE_CHECKING``, inside a function, and the
``"nlrl.module:object"`` strings the lazy registries import later. An upward import is allowed only
when its line (or the line above) carries ``# layering:`` and the reason.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import nlrl

# lowest first; a unit may import its own modules and those of any layer below
LAYERS: tuple[tuple[str, ...], ...] = (
    ("_exceptions",),
    ("_registry", "config"),
    ("verifiers",),  # a leaf: graders know nothing of models or tasks
    ("backends",),
    ("tasks",),
    ("gists",),
    ("rewards",),
    ("strategies",),
    ("pipeline",),
    ("bench",),
    ("gpi", "serve", "view"),
    ("cli",),
    ("__init__", "__main__"),  # the public API and ``python -m nlrl``
)
RANK = {unit: rank for rank, units in enumerate(LAYERS) for unit in units}
ROOT = Path(nlrl.__file__).parent
JUSTIFIED = "# layering:"


def _module(path: Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _unit(module: str) -> str:
    """The layer unit of a dotted ``nlrl...`` name: its first part below ``nlrl``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _imports(path: Path, text: str) -> list[tuple[int, str]]:
    """(line, imported module) for every import in ``text``, the source of ``path``; relative
    imports resolved."""
    module = _module(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                name = ".".join(base + ([node.module] if node.module else []))
            else:
                name = node.module or ""
            if node.module is None:  # ``from . import x``: x is a module (or a name) of the package
                found += [(node.lineno, f"{name}.{alias.name}") for alias in node.names]
            else:
                found.append((node.lineno, name))
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            value = node.value
            if value.startswith("nlrl.") and ":" in value and " " not in value:  # a lazy registration
                found.append((node.lineno, value.partition(":")[0]))
    return [(line, name) for line, name in found if name == "nlrl" or name.startswith("nlrl.")]


def _unit_of_import(name: str) -> str:
    unit = _unit(name)
    # ``from nlrl import __version__`` names the root package, not a unit called __version__
    return unit if unit in RANK else "__init__"


def _upward(path: Path, text: str) -> list[str]:
    """The imports of ``text`` (the source of ``path``) that reach a layer not below its own and
    carry no ``# layering:`` reason."""
    module = _module(path)
    unit = _unit(module)
    lines = text.splitlines()
    upward = []
    for line, name in _imports(path, text):
        target = _unit_of_import(name)
        if target == unit or RANK[target] < RANK[unit]:
            continue
        if any(JUSTIFIED in lines[i] for i in (line - 1, line - 2) if i >= 0):
            continue
        upward.append(f"{module}:{line} imports {name} (layer {target!r} is not below {unit!r})")
    return upward


SOURCES = sorted(ROOT.rglob("*.py"))


def test_every_unit_has_a_layer() -> None:
    units = {_unit(_module(p)) for p in SOURCES}
    assert units <= set(RANK), f"modules with no layer in LAYERS: {sorted(units - set(RANK))}"


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(ROOT)))
def test_imports_run_down_the_layers(path: Path) -> None:
    upward = _upward(path, path.read_text(encoding="utf-8"))
    assert not upward, "\n".join(upward)


@pytest.mark.parametrize(("text", "refused"), [
    ("from ..verifiers import answers\n", []),
    ("def f():\n    from ..cli import app\n", ["nlrl.tasks.probe:2 imports nlrl.cli"]),
    ("def f():\n    # layering: the reason\n    from ..cli import app\n", []),
    ("from nlrl.serve import engine\n", ["nlrl.tasks.probe:1 imports nlrl.serve"]),
    ('STRATEGY = "nlrl.strategies.cot:CoT"\n', ["nlrl.tasks.probe:1 imports nlrl.strategies.cot"]),
    ("from .. import __version__\n", ["nlrl.tasks.probe:1 imports nlrl.__version__"]),
])
def test_the_checker_refuses_unmarked_upward_imports(text: str, refused: list[str]) -> None:
    found = _upward(ROOT / "tasks" / "probe.py", text)
    assert [f.partition(" (")[0] for f in found] == refused
