"""Run a strategy over a dataset with a backend, grade every sample, and never lose one.

>>> from nlrl import ScriptedBackend
>>> from nlrl.bench import BenchRunner, from_dicts
>>> ds = from_dicts([{"question": "What is 2 + 2?", "answer": "4"}])
>>> runner = BenchRunner(ScriptedBackend([" 2 + 2 = 4.\\nFinal Answer: 4\\n"]), progress=False)
>>> runner.run(ds, out_dir)["accuracy"]                                  # doctest: +SKIP
1.0

Each finished sample is graded by its record's checker and written to the run store
(``run.sqlite`` in the output directory) in its own transaction before the next one counts as
done, then appended to ``results.jsonl``. A run that is killed and started again reads the store,
rewrites ``results.jsonl`` from it and runs only what is missing; at the end ``results.jsonl`` is
rewritten in dataset order from the store, so a resumed run and an uninterrupted one end with the
same file (up to timings) and the same summary.

Each sample is solved by the same core as :meth:`nlrl.Pipeline.solve` (:class:`nlrl.pipeline.Solve`)
and graded by :class:`~nlrl.bench.grading.Grader`; its row is a :class:`~nlrl.bench.rows.BenchRow`.
The strategy never sees the reference: the task it gets carries the question only, so a reward
model cannot grade itself against the answer key. Grading happens after the strategy.

With an ``executor`` (:mod:`nlrl.bench.executors`, e.g. Ray), samples are solved and graded by
workers that build their own backend; rows come back here and this process alone writes the store,
so resuming works the same way.

A :class:`~nlrl.BackendError` stops the run: samples in flight finish or fail, everything
finished is kept, ``summary.json`` is written with ``"complete": false``, and the error is raised
again (the CLI exits 1); the same command resumes the run.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
import time
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping, Sequence

from .._exceptions import BackendError, ConfigError, NLRLError, RunStoreError, VerifierError
from ..backends import backend_class
from ..backends.base import Backend, Generation, SamplingParams, TokenCallback, WrappedBackend
from ..pipeline import Solve, SolveSettings
from ..strategies import Strategy, get_strategy
from .datasets import Dataset, load_dataset
from .grading import Grader
from .metrics import summarize
from .progress import BenchProgress
from .records import Record
from .rows import BenchRow, plain
from .store import RunStore, SampleKey, dumps

log = logging.getLogger(__name__)

RESULTS = "results.jsonl"
SUMMARY = "summary.json"
STORE = "run.sqlite"


class _Meter(WrappedBackend):
    """A per-sample view of the shared backend that times model calls and counts cache hits."""

    def __init__(self, inner: Backend) -> None:
        super().__init__(inner)
        self.model_s = 0.0
        self.cached = 0

    def generate(self, prompts: Sequence[str], params: SamplingParams, *,
                 on_token: TokenCallback | None = None) -> list[Generation]:
        start = time.perf_counter()
        try:
            gens = self.inner.generate(prompts, params, on_token=on_token)
        finally:
            self.model_s += time.perf_counter() - start
        self.cached += sum(len(g.completions) for g in gens if g.usage.calls == 0)
        return gens

    def close(self) -> None:
        """A per-sample view: closing it leaves the shared backend open."""



def select_level(ds: Dataset, level: Any) -> Dataset:
    """The records of ``ds`` at difficulty ``level`` (``3`` matches a level stored as 3 or "3")."""
    want = str(level).strip()
    levels = {str(r.metadata["level"]) for r in ds if "level" in r.metadata}
    if not levels:
        raise ConfigError(f"dataset {ds.name!r} has no difficulty levels; --level applies to sets that "
                          "carry one (arith, minicode, math500, math, ...)")
    if want not in levels:
        raise ConfigError(f"dataset {ds.name!r} has no level {want}; its levels are "
                          f"{', '.join(sorted(levels, key=lambda v: (len(v), v)))}")
    return Dataset(ds.name, [r for r in ds if str(r.metadata.get("level")) == want], source=ds.source,
                   skipped=ds.skipped)


def make_out_dir(path: str | os.PathLike[str]) -> Path:
    """Create an output directory up front, so a bad ``--out`` fails before any work is done."""
    out = Path(path)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise RunStoreError(f"cannot use {out} as an output directory: {exc.strerror or exc}") from None
    return out


def open_run_dir(path: str | os.PathLike[str]) -> Path:
    """:func:`make_out_dir`, then take and release the run's lock: a read-only run directory, or
    one another ``nlrl bench`` is writing, fails here, before a model is loaded."""
    out = make_out_dir(path)
    with _DirLock(out):
        pass
    return out


class BenchRunner:
    """Runs one strategy configuration with one backend over datasets.

    ``strategy`` is a registered name (with ``strategy_options`` for its constructor) or a
    :class:`Strategy`; ``n``, ``max_tokens``, ``max_total_tokens``, ``temperature`` and ``seed``
    form its budget. ``concurrency`` bounds samples in flight (default: 8 for HTTP backends, else
    1; the embedded engine serialises its calls with its own lock anyway). ``progress``: a
    :class:`BenchProgress`, False for none, None for a bar when stderr is a terminal.
    """

    def __init__(
        self,
        backend: Backend | None,
        *,
        strategy: Strategy | str = "cot",
        strategy_options: Mapping[str, Any] | None = None,
        n: int = 1,
        max_tokens: int = 384,
        max_total_tokens: int | None = None,
        temperature: float | None = None,
        seed: int | None = 0,
        adaptive: bool = True,
        difficulty: str | None = None,
        steps: int | None = None,
        reward: Any = None,
        concurrency: int | None = None,
        progress: BenchProgress | bool | None = None,
        plots: bool = True,
        backend_label: str | None = None,
        executor: Any = None,
    ) -> None:
        if backend is None and executor is None:
            raise ConfigError("a benchmark run needs a backend, or an executor whose workers build one")
        self.backend = backend
        self.executor = executor
        self.strategy_options = dict(strategy_options or {})
        self._strategy_arg = strategy
        if isinstance(strategy, str):
            self.strategy_name = strategy
            self.strategy = get_strategy(strategy, **self.strategy_options)
        else:
            self.strategy_name = getattr(strategy, "name", type(strategy).__name__)
            self.strategy = strategy
        self.settings = SolveSettings.of(n=n, max_tokens=max_tokens, max_total_tokens=max_total_tokens,
                                         temperature=temperature, seed=seed, reward=reward,
                                         difficulty=difficulty, steps=steps, adaptive=adaptive)
        self.budget = self.settings.budget
        self.seed = seed
        if concurrency is not None and concurrency < 1:
            raise ConfigError(f"concurrency must be >= 1, got {concurrency}")
        self._concurrency = concurrency
        self.concurrency = concurrency or (backend.concurrent_requests if backend is not None else 1)
        self.progress = progress
        self.plots = plots
        self.backend_label = backend_label or (backend.name if backend is not None else None)
        self.grader = Grader()

    # -- configuration -----------------------------------------------------------------------

    def config(self, dataset: str) -> dict[str, Any]:
        """What identifies this run: results of another configuration are never mixed in."""
        return {
            "dataset": dataset,
            "strategy": self.strategy_name,
            "strategy_options": {k: plain(v) for k, v in sorted(self.strategy_options.items())},
            "n": self.budget.n,
            "max_tokens": self.budget.max_tokens,
            "max_total_tokens": self.budget.max_total_tokens,
            "temperature": self.budget.temperature,
            "seed": self.seed,
            "adaptive": self.settings.adaptive,
            "difficulty": self.settings.difficulty,
            "steps": self.settings.steps,
            "reward": None if self.settings.reward is None else plain(getattr(self.settings.reward, "name",
                                                                              self.settings.reward)),
            "backend": self.backend_label or self._identity()[0],
            "model": self._identity()[1],
        }

    def _identity(self) -> tuple[str, str]:
        """(backend name, model name): of the backend, or as reported by the executor's workers."""
        if self.backend is not None:
            return self.backend.name, self.backend.model_name
        return self.executor.identity()

    def worker_options(self) -> dict[str, Any]:
        """The keyword arguments that rebuild this runner's per-sample work around another backend
        (what an executor's worker needs; everything here must pickle)."""
        return {"strategy": self._strategy_arg, "strategy_options": self.strategy_options, "n": self.budget.n,
                "max_tokens": self.budget.max_tokens, "max_total_tokens": self.budget.max_total_tokens,
                "temperature": self.budget.temperature, "seed": self.seed, "adaptive": self.settings.adaptive,
                "difficulty": self.settings.difficulty, "steps": self.settings.steps, "reward": self.settings.reward,
                "concurrency": self._concurrency, "progress": False, "plots": False,
                "backend_label": self.backend_label}

    @staticmethod
    def config_key(config: Mapping[str, Any]) -> str:
        """Hash of the strategy configuration (dataset, model and seed are keyed separately)."""
        body = {k: v for k, v in config.items() if k not in ("dataset", "model", "seed")}
        return hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()[:16]

    # -- one sample ----------------------------------------------------------------------------

    def blank_row(self, record: Record, error: str | None = None) -> BenchRow:
        """The row of ``record`` before it is solved (with ``error``: the row of a sample that could
        not be solved at all, e.g. one whose worker died on it every time)."""
        return BenchRow.blank(record, self.strategy_name, error)

    def solve(self, record: Record) -> BenchRow:
        """Run the strategy on ``record`` and grade it: one ``results.jsonl`` row.

        A prompt that cannot be used (too long for the context, say) or an answer that cannot be
        graded is an error *of this sample* (``error`` set, ``correct`` false); a backend failure
        (:class:`BackendError`) or a configuration the strategy rejects (:class:`ConfigError`)
        is raised: it would fail every sample.
        """
        if self.backend is None:
            raise ConfigError("this runner solves through its executor's workers, not in-process")
        start = time.perf_counter()
        meter = _Meter(self.backend)
        solve = Solve(self.strategy, self.backend, self.settings, run_backend=meter)
        try:
            result = solve(record.prompt, domain=record.domain, metadata=record.metadata)
        except (BackendError, ConfigError):  # the run itself cannot go on: stop it, keep what is done
            raise
        except NLRLError as exc:  # this sample cannot be run; the benchmark goes on
            return BenchRow.of(
                record, self.strategy_name, None, None, error=f"{type(exc).__name__}: {exc}",
                prompt_text=solve.task.prompt_text if solve.task is not None else None,
                gists=tuple(g.to_dict() for g in solve.gists),
                usage=solve.run.usage.to_dict() if solve.run is not None else None,  # spent before failing
                cached=meter.cached, model_s=meter.model_s, latency_s=time.perf_counter() - start)
        verdict, error = None, None
        try:
            verdict = self.grader.grade(record, result.output, result.final_answer)
        except VerifierError as exc:
            error = f"VerifierError: {exc}"
        return BenchRow.of(record, self.strategy_name, result, verdict, error=error, cached=meter.cached,
                           model_s=meter.model_s, latency_s=time.perf_counter() - start)

    # -- a whole run ---------------------------------------------------------------------------

    def run(self, dataset: Dataset | Any, out_dir: str | os.PathLike[str], *, limit: int | None = None,
            shard: tuple[int, int] | None = None, force: bool = False, level: Any = None) -> dict[str, Any]:
        """Run (or resume) ``dataset`` into ``out_dir``; returns the summary written there.

        ``level`` keeps only the records whose ``metadata["level"]`` is that level (before
        ``limit`` and ``shard``)."""
        ds = dataset if isinstance(dataset, Dataset) else load_dataset(dataset)
        if level is not None:
            ds = select_level(ds, level)
        selected = ds.select(limit=limit, shard=shard)
        out = make_out_dir(out_dir)
        with _DirLock(out), RunStore(out / STORE) as store:
            config = self.config(ds.name)
            if self.backend is None and self._concurrency is None:  # what each worker's runner picks
                self.concurrency = backend_class(self._identity()[0]).concurrent_requests
            resumed = store.bind(config, force=force)
            ckey = self.config_key(config)
            model, seed = self._identity()[1], str(self.seed)
            keys = [(SampleKey(ds.name, r.id, ckey, model, seed), r.digest()) for r in selected]
            # What the store holds for this selection, as stored text and parsed; the samples
            # finished below are added as they are committed, so the final results.jsonl is the
            # store's content in dataset order whether or not the run was interrupted before.
            finished: dict[SampleKey, tuple[str, dict[str, Any]]] = {
                k: (text, json.loads(text)) for k, text in store.done(keys, raw=True).items()}
            log.info("bench %s: %d selected, %d already done%s", ds.name, len(selected), len(finished),
                     " (resumed)" if resumed else "")
            writer = _ResultsWriter(out / RESULTS)
            writer.rewrite(finished[k][0] for k, _ in keys if k in finished)
            todo = [(r, k, d) for r, (k, d) in zip(selected, keys) if k not in finished]
            progress = self._progress(ds.name)
            progress.start(len(selected), done=len(finished),
                           correct=sum(bool(r.get("correct")) for _, r in finished.values()))
            started = time.perf_counter()
            failure: BaseException | None = None
            try:
                self._run_all(todo, store, writer, progress, finished)
            except BaseException as exc:  # KeyboardInterrupt included: keep what is finished
                failure = exc
            finally:
                progress.stop()
                wall = float(store.get_meta("wall_s", 0.0)) + (time.perf_counter() - started)
                store.set_meta("wall_s", wall)
                writer.rewrite(finished[k][0] for k, _ in keys if k in finished)
                writer.close()
                rows = [finished[k][1] for k, _ in keys if k in finished]
                summary = summarize(rows, config=config, selected=len(selected), wall_s=wall, extra={
                    "shard": list(shard) if shard else None, "limit": limit,
                    **({"level": level} if level is not None else {}),
                    "skipped_rows": len(ds.skipped), "concurrency": self.concurrency,
                    **({"executor": self.executor.describe()} if self.executor is not None else {}),
                    **({"cache": self.backend.stats.to_dict()} if hasattr(self.backend, "stats") else {}),
                    **({"stopped_by": f"{type(failure).__name__}: {failure}"} if failure else {}),
                })
                _write_json(out / SUMMARY, summary)
                if self.plots and failure is None:
                    from .report import plot_runs

                    plot_runs([(out, summary, rows)], out)
            if failure is not None:
                if isinstance(failure, BackendError):
                    raise type(failure)(
                        f"{failure} -- stopped after {len(rows)}/{len(selected)} samples; finished samples "
                        f"are saved in {out}; run the same command again to resume",
                        provider=failure.provider, status=failure.status,
                        retry_after=failure.retry_after, retryable=failure.retryable) from failure
                raise failure
            return summary

    def _progress(self, name: str) -> BenchProgress:
        if isinstance(self.progress, BenchProgress):
            return self.progress
        return BenchProgress(enabled=False if self.progress is False else None,
                             description=f"{name} · {self.strategy_name}")

    def _run_all(self, todo: list[tuple[Record, SampleKey, str]], store: RunStore, writer: "_ResultsWriter",
                 progress: BenchProgress, finished: dict[SampleKey, tuple[str, dict[str, Any]]]) -> None:
        def finish(rec: Record, key: SampleKey, digest: str, solved: BenchRow) -> None:
            row = solved.to_dict()
            text = dumps(row)
            if store.add(key, digest, solved.correct, text):
                writer.append(text)
                finished[key] = (text, row)
            else:  # stored meanwhile by someone else: theirs stands
                text = store.done([(key, digest)], raw=True)[key]
                finished[key] = (text, json.loads(text))
            progress.advance(finished[key][1])

        if self.executor is not None:  # workers solve; rows land here and only here are stored
            for i, row in self.executor.map(self, [rec for rec, _, _ in todo]):
                finish(*todo[i], row)
            return
        if self.concurrency <= 1:
            for rec, key, digest in todo:
                finish(rec, key, digest, self.solve(rec))
            return
        # Bounded submission: at most `concurrency` samples in flight, so a failure stops new work.
        pending: dict[Future[BenchRow], tuple[Record, SampleKey, str]] = {}
        items: Iterator[tuple[Record, SampleKey, str]] = iter(todo)
        failure: BaseException | None = None
        with ThreadPoolExecutor(self.concurrency, thread_name_prefix="nlrl-bench") as pool:
            def refill() -> None:
                while failure is None and len(pending) < self.concurrency:
                    item = next(items, None)
                    if item is None:
                        return
                    pending[pool.submit(self.solve, item[0])] = item

            try:
                refill()
                while pending:
                    landed, _ = wait(list(pending), return_when=FIRST_COMPLETED)
                    for fut in landed:
                        rec, key, digest = pending.pop(fut)
                        try:
                            row = fut.result()
                        except BaseException as exc:
                            failure = failure or exc
                            continue
                        finish(rec, key, digest, row)
                    refill()
            except BaseException as exc:  # interrupted while waiting: let in-flight samples land
                failure = failure or exc
                for fut in list(pending):
                    rec, key, digest = pending.pop(fut)
                    try:
                        finish(rec, key, digest, fut.result())
                    except BaseException:
                        pass
        if failure is not None:
            raise failure


class _ResultsWriter:
    """``results.jsonl``: rewritten atomically from the store, appended to as samples finish.

    Appends go through one open handle, flushed per line: a kill can cut the last line short,
    which the next run's rewrite from the store repairs.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._fh: Any = None

    def rewrite(self, lines: Iterable[str]) -> None:
        tmp = self.path.with_suffix(".jsonl.tmp")
        with self._lock:
            self._close()
            with open(tmp, "w", encoding="utf-8") as fh:
                for text in lines:
                    fh.write(text + "\n")
            os.replace(tmp, self.path)

    def append(self, text: str) -> None:
        line = text + "\n"
        with self._lock:
            if self._fh is None:
                self._fh = open(self.path, "a", encoding="utf-8")
            self._fh.write(line)
            self._fh.flush()

    def _close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None

    def close(self) -> None:
        with self._lock:
            self._close()


class _DirLock:
    """One process per output directory: a second ``nlrl bench`` on it is refused, not interleaved."""

    def __init__(self, out: Path) -> None:
        self.path = out / ".lock"
        self._fh: Any = None

    def __enter__(self) -> "_DirLock":
        try:
            import fcntl
        except ImportError:  # pragma: no cover - not POSIX: no lock
            return self
        try:
            self._fh = open(self.path, "a+")
        except OSError as exc:  # a read-only run directory (or file system)
            raise RunStoreError(f"cannot write to {self.path.parent}: {exc.strerror or exc}") from None
        try:
            fcntl.flock(self._fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            self._fh.close()
            self._fh = None
            raise RunStoreError(f"{self.path.parent} is in use by another benchmark run") from None
        return self

    def __exit__(self, *exc: object) -> None:
        if self._fh is not None:
            self._fh.close()


def _write_json(path: Path, data: Any) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(tmp, path)
