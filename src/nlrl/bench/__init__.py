"""Benchmarking: datasets as records, a resumable runner with a SQLite run store, a completion
cache, metrics with confidence intervals, and reports with plots.

>>> from nlrl.bench import BenchRunner, load_dataset
>>> from nlrl.backends import load_backend
>>> runner = BenchRunner(load_backend("embedded"), strategy="cot")           # doctest: +SKIP
>>> runner.run(load_dataset("gsm8k"), "runs/gsm8k-cot", limit=50)["accuracy"]  # doctest: +SKIP
"""

from __future__ import annotations

from .cache import CacheStats, CachingBackend
from .datasets import (
    BUILTIN,
    Dataset,
    Skipped,
    dataset_names,
    from_dicts,
    from_file,
    from_hf,
    load_dataset,
    resolve_data_dir,
)
from .metrics import accuracy, bootstrap_interval, breakdown, summarize, wilson_interval
from .progress import BenchProgress
from .records import Record
from .report import RunInfo, load_run, plot_runs, render_table
from .grading import Grader, grade_text
from .rows import BenchRow
from .runner import BenchRunner
from .store import RunStore, SampleKey

__all__ = [
    "BUILTIN",
    "BenchProgress",
    "BenchRow",
    "BenchRunner",
    "CacheStats",
    "CachingBackend",
    "Dataset",
    "Grader",
    "Record",
    "RunInfo",
    "RunStore",
    "SampleKey",
    "Skipped",
    "accuracy",
    "bootstrap_interval",
    "breakdown",
    "dataset_names",
    "from_dicts",
    "from_file",
    "from_hf",
    "grade_text",
    "load_dataset",
    "load_run",
    "plot_runs",
    "render_table",
    "resolve_data_dir",
    "summarize",
    "wilson_interval",
]
