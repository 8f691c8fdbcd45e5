"""Where a benchmark's samples are solved: in this process (the default), or on a Ray cluster.

>>> from nlrl.bench import BenchRunner, load_dataset
>>> from nlrl.bench.executors import BackendRecipe, RayExecutor
>>> with RayExecutor(BackendRecipe("embedded"), workers=2) as ex:            # doctest: +SKIP
...     BenchRunner(None, strategy="cot", executor=ex).run(load_dataset("gsm8k"), "runs/g")

With :class:`RayExecutor`, each worker is a Ray actor that builds its backend once (the embedded
model, an HTTP client to a shared server fleet, an HF model on the GPU Ray gave it) from a
:class:`BackendRecipe`, then solves and grades batches of samples with the same code as a local
run (:meth:`BenchRunner.solve`). Rows come back to the driver, which alone writes the run store:
resuming, exactly-once results and the final ``results.jsonl`` are the local runner's own.

Failures:

* a worker process that dies (killed, out of memory, node lost) is restarted by Ray and the batch it
  held is retried by Ray, at most ``max_task_retries`` times; a batch that still fails is split
  into single samples, and a sample on which a healthy worker died every time is recorded as an
  error row (``WorkerDied: ...``), not retried forever;
* an exception while solving one sample is that sample's error row (as an ungradable answer is);
* a :class:`BackendError` or :class:`ConfigError` stops the run as it does locally: samples in
  flight land, everything finished is kept, and the same command resumes;
* a worker whose backend cannot be built, or a cluster that cannot be reached, is an
  :class:`ExecutorError` before any sample runs.

Ray is imported only when a :class:`RayExecutor` opens (``pip install 'nlrl[ray]'``).
"""

from __future__ import annotations

import logging
import os
import pickle
import socket
import uuid
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Iterator, Mapping, Sequence, Union

from .._exceptions import BackendError, ConfigError, ExecutorError
from ..backends.base import Backend
from .records import Record
from .rows import BenchRow

if TYPE_CHECKING:
    from .runner import BenchRunner

log = logging.getLogger(__name__)

#: ``--executor`` choices
EXECUTORS = ("local", "ray")


@dataclass(frozen=True)
class BackendRecipe:
    """How a worker builds its backend: a registered backend name, its model and options, and
    optionally a completion-cache file (on the worker's own disk; SQLite in WAL mode is safe for
    the workers of one node to share)."""

    name: str
    model: str | None = None
    options: Mapping[str, Any] = field(default_factory=dict)
    cache: str | None = None

    def build(self) -> Backend:
        from ..backends import load_backend

        backend = load_backend(self.name, self.model, **dict(self.options))
        if self.cache:
            from .cache import CachingBackend

            backend = CachingBackend(backend, self.cache)
        return backend


#: a recipe, or any picklable callable returning a backend (built once per worker)
BackendFactory = Union[BackendRecipe, Callable[[], Backend]]


def build_backend(factory: BackendFactory) -> Backend:
    return factory.build() if isinstance(factory, BackendRecipe) else factory()


def solve_batch(runner: "BenchRunner", records: Sequence[Record]) -> tuple[list[tuple[int, BenchRow]],
                                                                           BaseException | None]:
    """Solve and grade ``records`` with ``runner`` (``runner.concurrency`` at a time).

    Returns ``(rows, stop)``: ``(position in records, row)`` for every sample solved, and the
    :class:`BackendError`/:class:`ConfigError` that stopped the batch, if any (the samples after it
    are not started). Any other exception is the error row of its sample: on a cluster one odd
    sample must not stop a run of thousands.
    """
    rows: list[tuple[int, BenchRow]] = []
    stop: BaseException | None = None

    def one(i: int) -> BenchRow:
        try:
            return runner.solve(records[i])
        except (BackendError, ConfigError):
            raise
        except Exception as exc:  # noqa: BLE001 - recorded with the sample, not lost
            log.exception("sample %s failed", records[i].id)
            return runner.blank_row(records[i], error=f"{type(exc).__name__}: {exc}")

    if runner.concurrency <= 1 or len(records) <= 1:
        for i in range(len(records)):
            try:
                rows.append((i, one(i)))
            except (BackendError, ConfigError) as exc:
                stop = exc
                break
    else:
        with ThreadPoolExecutor(min(runner.concurrency, len(records)), thread_name_prefix="nlrl-worker") as pool:
            futures = [pool.submit(one, i) for i in range(len(records))]
            for i, fut in enumerate(futures):
                try:
                    rows.append((i, fut.result()))
                except (BackendError, ConfigError) as exc:
                    stop = stop or exc
                    for later in futures[i + 1:]:
                        later.cancel()
    return rows, None if stop is None else _portable(stop)


def _portable(exc: BaseException) -> BaseException:
    """``exc`` if it survives pickling (it crosses a process boundary), else its base class."""
    try:
        pickle.loads(pickle.dumps(exc))
        return exc
    except Exception:  # noqa: BLE001 - e.g. an __init__ with required keyword arguments
        base = BackendError if isinstance(exc, BackendError) else ConfigError
        return base(str(exc))


class _Worker:
    """One Ray actor: builds its backend once, then solves batches for any run configuration."""

    def __init__(self, backend: BackendFactory) -> None:
        self.backend = build_backend(backend)
        self._runners: dict[str, Any] = {}

    def info(self) -> dict[str, Any]:
        return {"pid": os.getpid(), "host": socket.gethostname(), "backend": self.backend.name,
                "model": self.backend.model_name}

    def solve(self, key: str, options: dict[str, Any], records: list[Record]) -> Any:
        runner = self._runners.get(key)
        if runner is None:
            from .runner import BenchRunner

            if len(self._runners) >= 8:  # a sweep moves from cell to cell: keep the recent ones
                self._runners.pop(next(iter(self._runners)))
            runner = self._runners[key] = BenchRunner(self.backend, **options)
        return solve_batch(runner, records)


def _import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise ExecutorError("--executor ray needs Ray: pip install 'nlrl[ray]'") from None
    return ray


def _local_token() -> None:
    """Ray authenticates with a token it saves as ``~/.ray/auth_token``; where the home directory
    cannot be written (a service user), give the new local cluster a token through the environment
    (inherited by its workers) instead of failing."""
    if os.environ.get("RAY_AUTH_TOKEN") or os.environ.get("RAY_AUTH_MODE"):
        return
    home = os.path.expanduser("~")
    ray_dir = os.path.join(home, ".ray")
    if os.access(ray_dir if os.path.isdir(ray_dir) else home, os.W_OK):
        return
    os.environ["RAY_AUTH_TOKEN"] = uuid.uuid4().hex


class RayExecutor:
    """Solve samples on Ray actors; the driver (this process) keeps the run store.

    ``backend``: how each worker builds its backend. ``workers``: actors to start (default: the
    cluster's CPUs divided by ``num_cpus``). ``address``: a running cluster (``"auto"``,
    ``"ray://host:10001"``, ``"host:6379"``); None starts a local one, or reuses the Ray this
    process already initialised. Up to ``batch_size`` samples go to a worker per task (fewer when
    there are not enough for ``depth`` tasks per worker); ``depth`` tasks per worker are queued so
    a worker never waits for the driver. ``num_cpus``/``num_gpus``: Ray
    resources per worker (``num_gpus=1`` gives each worker its own GPU). ``max_task_retries``:
    how often Ray retries a task whose worker died (the worker itself is always restarted).
    """

    name = "ray"

    def __init__(
        self,
        backend: BackendFactory,
        *,
        workers: int | None = None,
        address: str | None = None,
        batch_size: int = 16,
        depth: int = 2,
        num_cpus: float = 1.0,
        num_gpus: float = 0.0,
        max_task_retries: int = 2,
        start_timeout: float = 600.0,
        init_options: Mapping[str, Any] | None = None,
    ) -> None:
        if workers is not None and workers < 1:
            raise ConfigError(f"workers must be >= 1, got {workers}")
        if batch_size < 1 or depth < 1:
            raise ConfigError(f"batch_size and depth must be >= 1, got {batch_size} and {depth}")
        if max_task_retries < 0:
            raise ConfigError(f"max_task_retries must be >= 0, got {max_task_retries}")
        self.backend = backend
        self.workers = workers
        self.address = address
        self.batch_size = batch_size
        self.depth = depth
        self.num_cpus = num_cpus
        self.num_gpus = num_gpus
        self.max_task_retries = max_task_retries
        self.start_timeout = start_timeout
        self.init_options = dict(init_options or {})
        self.worker_deaths = 0
        self.lost_samples = 0
        self._ray: Any = None
        self._owns_ray = False
        self._actors: list[Any] = []
        self._alive: list[int] = []
        self._infos: list[dict[str, Any]] = []

    # -- lifecycle ---------------------------------------------------------------------------

    def open(self) -> "RayExecutor":
        """Connect to (or start) Ray and start the workers; each builds its backend now."""
        if self._actors:
            return self
        ray = self._ray = _import_ray()
        if not ray.is_initialized():
            opts: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False,
                                    "logging_level": logging.WARNING, **self.init_options}
            if self.address:
                opts["address"] = self.address
            else:
                _local_token()
                default_tmp = os.path.join(os.environ.get("RAY_TMPDIR") or os.environ.get("TMPDIR") or "/tmp", "ray")
                if "_temp_dir" not in opts and os.path.isdir(default_tmp) and not os.access(default_tmp, os.W_OK):
                    # /tmp/ray belongs to whoever started Ray first on this machine
                    opts["_temp_dir"] = f"{default_tmp}-{os.getuid()}"
            try:
                ray.init(**opts)
            except Exception as exc:  # noqa: BLE001 - Ray raises ConnectionError, ValueError, ...
                raise ExecutorError(f"cannot start or reach the Ray cluster "
                                    f"{self.address or '(local)'}: {exc}".splitlines()[0]) from None
            self._owns_ray = True
        n = self.workers
        if n is None:
            cpus = float(ray.cluster_resources().get("CPU", 1.0))
            n = max(1, int(cpus // self.num_cpus)) if self.num_cpus > 0 else 1
        actor = ray.remote(_Worker).options(
            num_cpus=self.num_cpus, num_gpus=self.num_gpus, max_restarts=-1,
            max_task_retries=self.max_task_retries, max_concurrency=1)
        self._actors = [actor.remote(self.backend) for _ in range(n)]
        self._alive = list(range(n))
        try:
            self._infos = ray.get([a.info.remote() for a in self._actors], timeout=self.start_timeout)
        except ray.exceptions.GetTimeoutError:
            self.close()
            raise ExecutorError(
                f"{n} Ray workers did not start within {self.start_timeout:.0f}s: the cluster has "
                f"{ray.cluster_resources()}, each worker asks for {self.num_cpus} CPU and "
                f"{self.num_gpus} GPU") from None
        except ray.exceptions.RayError as exc:
            self.close()
            cause = getattr(exc, "cause", None) or exc
            raise ExecutorError(f"a Ray worker could not build its backend: {cause}".splitlines()[0]) from None
        models = {(i["backend"], i["model"]) for i in self._infos}
        if len(models) > 1:
            self.close()
            raise ExecutorError(f"Ray workers built different models: {sorted(models)}")
        log.info("ray: %d workers on %s", n, sorted({i["host"] for i in self._infos}))
        return self

    def close(self) -> None:
        ray = self._ray
        if ray is None:
            return
        for a in self._actors:
            try:
                ray.kill(a)
            except Exception:  # noqa: BLE001 - already gone
                pass
        self._actors, self._alive, self._infos = [], [], []
        if self._owns_ray:
            ray.shutdown()
            self._owns_ray = False

    def __enter__(self) -> "RayExecutor":
        return self.open()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- what the runner asks ------------------------------------------------------------------

    def identity(self) -> tuple[str, str]:
        """(backend name, model name) as the workers built them."""
        self.open()
        return self._infos[0]["backend"], self._infos[0]["model"]

    def worker_pids(self) -> list[int]:
        """The current process id of each live worker (a restarted worker has a new one)."""
        self.open()
        for i in self._alive:
            self._healthy(i)
        return [self._infos[i]["pid"] for i in self._alive]

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "workers": len(self._actors), "batch_size": self.batch_size,
                "worker_deaths": self.worker_deaths, "lost_samples": self.lost_samples}

    def map(self, runner: "BenchRunner", records: Sequence[Record]) -> Iterator[tuple[int, BenchRow]]:
        """Yield ``(position, row)`` as samples finish, in no particular order. Raises what
        stopped the run (after the batches in flight have landed)."""
        self.open()
        ray = self._ray
        from ray.exceptions import RayActorError, RayError, RayTaskError

        try:
            options = ray.put(runner.worker_options())
        except Exception as exc:  # noqa: BLE001 - cloudpickle raises TypeError, PicklingError, ...
            raise ConfigError(f"this run's strategy or reward cannot be sent to Ray workers "
                              f"(pass them by name): {exc}".splitlines()[0]) from None
        key = uuid.uuid4().hex
        # At most batch_size a task, but small enough that every worker gets `depth` tasks: with
        # many workers and few samples, big batches would leave workers idle.
        size = max(1, min(self.batch_size, -(-len(records) // (self.depth * max(1, len(self._alive))))))
        queue: deque[list[int]] = deque(
            list(range(i, min(i + size, len(records)))) for i in range(0, len(records), size))
        inflight: dict[Any, tuple[int, list[int]]] = {}
        load = {i: 0 for i in self._alive}
        stop: BaseException | None = None
        while True:
            while stop is None and queue and self._alive:
                i = min(self._alive, key=lambda w: load[w])  # the least loaded worker
                if load[i] >= self.depth:
                    break
                pos = queue.popleft()
                ref = self._actors[i].solve.remote(key, options, [records[p] for p in pos])
                inflight[ref] = (i, pos)
                load[i] += 1
            if not inflight:
                break
            ready, _ = ray.wait(list(inflight), num_returns=1)
            i, pos = inflight.pop(ready[0])
            load[i] -= 1
            try:
                rows, err = ray.get(ready[0])
            except RayTaskError as exc:  # not a sample's failure: the worker code itself broke
                stop = stop or ExecutorError(f"a Ray worker failed: {getattr(exc, 'cause', None) or exc}")
                continue
            except (RayActorError, RayError) as exc:  # the worker died on this task, Ray's retries spent
                self.worker_deaths += 1
                healthy = self._healthy(i)
                if not healthy:
                    self._alive.remove(i)
                if len(pos) > 1 or not healthy:  # find out which sample it was, on its own
                    queue.extendleft([p] for p in reversed(pos))
                    continue
                self.lost_samples += 1
                log.warning("sample %s: its worker died %d times; recorded as an error",
                            records[pos[0]].id, self.max_task_retries + 1)
                yield pos[0], runner.blank_row(records[pos[0]], error=(
                    f"WorkerDied: the worker died on this sample {self.max_task_retries + 1} times "
                    f"({type(exc).__name__})"))
                continue
            for j, row in rows:
                yield pos[j], row
            if err is not None:
                stop = stop or err
        if stop is None and queue:
            stop = ExecutorError(f"every Ray worker was lost with {sum(map(len, queue))} samples to go; "
                                 "finished samples are saved, run the same command again to resume")
        if stop is not None:
            raise stop

    def _healthy(self, i: int) -> bool:
        """Whether worker ``i`` (restarted by Ray if it died) answers."""
        try:
            self._infos[i] = self._ray.get(self._actors[i].info.remote(), timeout=self.start_timeout)
            return True
        except Exception:  # noqa: BLE001 - dead for good, or never coming back
            return False
