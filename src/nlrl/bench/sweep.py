"""Sweeps: a grid of (dataset, strategy, n, budget, seed) run as one job.

Each cell is an ordinary run directory (``OUT/<cell>/``, what ``nlrl bench`` writes), so a cell
resumes, reports and compares like any run. A cell whose ``summary.json`` is complete for the same
configuration is skipped; the rest run one after another, each spread over every worker when an
executor is given (the workers build their backend once, for the whole sweep). At the end
``OUT/sweep.json`` and the plots in ``OUT`` compare every cell.

A spec (YAML)::

    out: runs/sweep          # default for --out
    limit: 50                # records per dataset (after the data file's order)
    max_tokens: 256          # per completion
    temperature: 0.7
    strategy_options:        # per strategy, passed to its constructor
      self-consistency: {weighted: false}
    grid:                    # each a value or a list of values
      dataset: [gsm8k, math500]
      strategy: [cot, self-consistency]
      n: [1, 4]
      budget: [null, 2048]   # generated-token cap per sample (max_total_tokens); null = none
      seed: [0, 1]
"""

from __future__ import annotations

import itertools
import json
import os
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

from .._exceptions import ConfigError
from ..backends.base import Backend
from ..config import read_yaml
from .datasets import Dataset, load_dataset
from .progress import BenchProgress

#: grid axes, in the order cells are enumerated (the last varies fastest)
AXES = ("dataset", "strategy", "n", "budget", "seed")
_TOP = {"out", "limit", "max_tokens", "temperature", "strategy_options", "grid", "backend", "model"}
SWEEP = "sweep.json"


@dataclass(frozen=True)
class Cell:
    dataset: str
    strategy: str
    n: int
    budget: int | None
    seed: int

    @property
    def name(self) -> str:
        """The cell's run directory name: readable and unique within the grid."""
        ds = re.sub(r"[^A-Za-z0-9_.-]+", "_", Path(self.dataset).stem if os.sep in self.dataset
                    or "." in self.dataset else self.dataset)
        return f"{ds}-{self.strategy}-n{self.n}-b{'none' if self.budget is None else self.budget}-s{self.seed}"

    @property
    def label(self) -> str:
        return (f"{self.dataset} · {self.strategy} · n={self.n} · budget "
                f"{'-' if self.budget is None else self.budget} · seed {self.seed}")


@dataclass(frozen=True)
class SweepSpec:
    cells: tuple[Cell, ...]
    out: Path | None = None
    limit: int | None = None
    max_tokens: int = 384
    temperature: float | None = None
    strategy_options: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    backend: str | None = None
    model: str | None = None

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> "SweepSpec":
        """Read and check a YAML spec; every problem is a one-line :class:`ConfigError`."""
        return cls.from_dict(read_yaml(path, "sweep spec"), where=str(Path(path)))

    @classmethod
    def from_dict(cls, data: Any, *, where: str = "sweep spec") -> "SweepSpec":
        if not isinstance(data, Mapping):
            raise ConfigError(f"{where}: expected a mapping with a 'grid'")
        unknown = sorted(set(data) - _TOP)
        if unknown:
            raise ConfigError(f"{where}: unknown key(s) {', '.join(unknown)}; known: {', '.join(sorted(_TOP))}")
        grid = data.get("grid")
        if not isinstance(grid, Mapping) or not grid:
            raise ConfigError(f"{where}: 'grid' must map axes ({', '.join(AXES)}) to values")
        bad = sorted(set(grid) - set(AXES))
        if bad:
            raise ConfigError(f"{where}: unknown grid axis {', '.join(bad)}; known: {', '.join(AXES)}")
        if "dataset" not in grid:
            raise ConfigError(f"{where}: the grid needs at least one dataset")
        defaults: dict[str, Any] = {"strategy": "cot", "n": 1, "budget": None, "seed": 0}
        axes: dict[str, list[Any]] = {}
        for axis in AXES:
            values = grid.get(axis, defaults.get(axis))
            values = list(values) if isinstance(values, (list, tuple)) else [values]
            if not values:
                raise ConfigError(f"{where}: grid.{axis} is empty")
            axes[axis] = [_check(axis, v, where) for v in values]
        cells = tuple(Cell(*combo) for combo in itertools.product(*(axes[a] for a in AXES)))
        if len({c.name for c in cells}) != len(cells):
            raise ConfigError(f"{where}: the grid repeats a cell")
        opts = data.get("strategy_options") or {}
        if not isinstance(opts, Mapping) or not all(isinstance(v, Mapping) for v in opts.values()):
            raise ConfigError(f"{where}: strategy_options must map a strategy name to its options")
        limit, max_tokens = data.get("limit"), data.get("max_tokens", 384)
        for key, value in (("limit", limit), ("max_tokens", max_tokens)):
            if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 1):
                raise ConfigError(f"{where}: {key} must be a positive integer, got {value!r}")
        temperature = data.get("temperature")
        if temperature is not None and (not isinstance(temperature, (int, float)) or temperature < 0):
            raise ConfigError(f"{where}: temperature must be a number >= 0, got {temperature!r}")
        return cls(cells=cells, out=Path(data["out"]) if data.get("out") else None, limit=limit,
                   max_tokens=max_tokens, temperature=temperature,
                   strategy_options={str(k): dict(v) for k, v in opts.items()},
                   backend=data.get("backend"), model=data.get("model"))


def _check(axis: str, value: Any, where: str) -> Any:
    if axis in ("dataset", "strategy"):
        if not isinstance(value, str) or not value:
            raise ConfigError(f"{where}: grid.{axis} values must be names, got {value!r}")
        return value
    if axis == "budget" and value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or value < (0 if axis == "seed" else 1):
        raise ConfigError(f"{where}: grid.{axis} values must be {'integers >= 0' if axis == 'seed' else 'positive integers'}"
                          f"{' or null' if axis == 'budget' else ''}, got {value!r}")
    return value


class GridProgress(BenchProgress):
    """One bar over every sample of a sweep: each cell's run reports into it."""

    def __init__(self, total: int, **kw: Any) -> None:
        super().__init__(description="sweep", **kw)
        self.total = total
        self._begun = False

    def start(self, total: int, *, done: int = 0, correct: int = 0) -> None:
        if not self._begun:
            super().start(self.total)
            self._begun = True
        self.done += done
        self.correct += correct
        if self._progress is not None:
            self._progress.update(self._task, advance=done, acc=self._acc())

    def stop(self) -> None:  # a cell ended; the sweep goes on
        pass

    def finish(self) -> None:
        super().stop()


@dataclass
class CellResult:
    cell: Cell
    path: Path
    summary: dict[str, Any]
    skipped: bool

    def to_dict(self) -> dict[str, Any]:
        s = self.summary
        return {"cell": asdict(self.cell), "dir": self.path.name, "skipped": self.skipped,
                "n": s.get("n"), "complete": s.get("complete"), "accuracy": s.get("accuracy"),
                "ci95": s.get("ci95"), "errors": s.get("errors"), "tokens_per_sample": s.get("tokens_per_sample"),
                "wall_s": s.get("wall_s")}


def run_sweep(
    spec: SweepSpec,
    out: str | os.PathLike[str],
    *,
    backend: Backend | None = None,
    executor: Any = None,
    backend_label: str | None = None,
    data_dir: str | os.PathLike[str] | None = None,
    load: Callable[[str], Dataset] | None = None,
    progress: bool | None = None,
    plots: bool = True,
    on_cell: Callable[[int, CellResult], None] | None = None,
) -> list[CellResult]:
    """Run every cell of ``spec`` into ``out/<cell>/`` with ``backend`` (or ``executor``'s workers);
    returns one result per cell, in grid order, and writes ``out/sweep.json`` and the plots."""
    from .report import load_run, plot_runs
    from .runner import SUMMARY, BenchRunner, make_out_dir

    from ..strategies import get_strategy

    for name in dict.fromkeys(c.strategy for c in spec.cells):  # every cell's options, before any runs
        try:
            get_strategy(name, **dict(spec.strategy_options.get(name) or {}))
        except TypeError as exc:
            raise ConfigError(f"strategy_options for {name}: {exc}") from None
    root = make_out_dir(out)
    datasets: dict[str, Dataset] = {}
    for cell in spec.cells:
        if cell.dataset not in datasets:
            datasets[cell.dataset] = load(cell.dataset) if load else load_dataset(cell.dataset, data_dir=data_dir)
    sizes = {name: len(ds.select(limit=spec.limit)) for name, ds in datasets.items()}
    bar = GridProgress(sum(sizes[c.dataset] for c in spec.cells), enabled=progress)
    results: list[CellResult] = []
    try:
        for k, cell in enumerate(spec.cells):
            ds = datasets[cell.dataset]
            runner = BenchRunner(
                backend, executor=executor, strategy=cell.strategy,
                strategy_options=spec.strategy_options.get(cell.strategy), n=cell.n,
                max_tokens=spec.max_tokens, max_total_tokens=cell.budget, temperature=spec.temperature,
                seed=cell.seed, progress=bar, plots=plots, backend_label=backend_label)
            path = root / cell.name
            done = _finished(path / SUMMARY, runner.config(ds.name), sizes[cell.dataset])
            if done is not None:
                bar.start(0, done=done.get("n", 0), correct=done.get("correct", 0))
                result = CellResult(cell, path, done, True)
            else:
                result = CellResult(cell, path, runner.run(ds, path, limit=spec.limit), False)
            results.append(result)
            if on_cell is not None:
                on_cell(k, result)
    finally:
        bar.finish()
    infos = [load_run(r.path, rows=True) for r in results]
    tmp = root / (SWEEP + ".tmp")
    tmp.write_text(json.dumps({"cells": [r.to_dict() for r in results]}, indent=2, ensure_ascii=False) + "\n",
                   encoding="utf-8")
    os.replace(tmp, root / SWEEP)
    if plots:
        plot_runs(infos, root)
    return results


def _finished(path: Path, config: Mapping[str, Any], selected: int) -> dict[str, Any] | None:
    """The summary of a cell already finished with this configuration, else None."""
    try:
        summary = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None
    want = json.loads(json.dumps(dict(config), sort_keys=True, default=str))
    if summary.get("complete") and summary.get("selected") == selected and summary.get("config") == want:
        return summary
    return None


__all__ = ["AXES", "Cell", "CellResult", "GridProgress", "SweepSpec", "run_sweep"]
