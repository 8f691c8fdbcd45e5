"""Strategy runs behind a bounded queue, each cancellable while it generates.

At most ``max_concurrency`` runs execute at once, each in a worker thread; at most ``max_queue``
more wait for a slot. A request beyond that is refused at once (429), never piled up. One
backend instance serves every run; the engines lock their own generation, so runs interleave
between model calls, never inside one.

A run that needs no thread is a task on the server's event loop instead: a strategy that
declares ``runs_on_loop`` (``cot``) on a backend that took the loop
(:meth:`Backend.attach_loop`: the ``openai`` proxy). It makes its upstream request right there
and its token callbacks and stream events happen there too, so a proxied ``cot`` request
crosses no thread.

Cancellation is a flag checked at every generated token (and before every model call): when
it is set the token callback raises :class:`RunCancelled`, which the engines treat like a stop
string (the sample ends, the engine state is reset), and the run unwinds. The slot is released
only when the worker thread has really finished.

Each choice is solved by the one solve core (:class:`nlrl.pipeline.Solve`) with a
:class:`ServedRun`, the run that honours cancellation and the request's sampling options.
"""

from __future__ import annotations

import asyncio
import dataclasses
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Sequence

from ..backends import Backend, Generation, SamplingParams, TokenEvent, TokenObserver
from ..gists import GistStream
from ..pipeline import Solve, SolveResult, SolveSettings
from ..strategies import Budget, Run, TraceEvent, get_strategy
from ..tasks.task import Task
from .errors import APIError, RunCancelled

Emit = Callable[[str, int, Any], None]


class ServedRun(Run):
    """A :class:`Run` that honours cancellation and applies the request's ``top_p`` and
    ``logprobs`` (a child run, as ``auto``'s choice, does too)."""

    def __init__(self, task: Task, backend: Backend, *, cancel: threading.Event,
                 top_p: float | None = None, logprobs: bool = False, watch: bool = True, **kw: Any) -> None:
        super().__init__(task, backend, **kw)
        self.watch = watch
        self.cancel = cancel
        self.top_p = top_p
        self.logprobs = logprobs

    def params(self, **overrides: Any) -> SamplingParams:
        if self.top_p is not None:
            overrides.setdefault("top_p", self.top_p)
        if self.logprobs:
            overrides.setdefault("logprobs", True)
        return super().params(**overrides)

    def generate(self, prompts: Sequence[str], params: SamplingParams, *, stream: bool = True,
                 kind: str = "sample") -> list[Generation]:
        if self.cancel.is_set():
            raise RunCancelled()
        if stream:
            return super().generate(prompts, params, stream=True, kind=kind)
        # not shown to the client, but still stoppable
        gens = self.backend.generate(list(prompts), params, on_token=self._check if self.watch else None)
        self._record(kind, gens)
        return gens

    async def agenerate(self, prompts: Sequence[str], params: SamplingParams, *, stream: bool = True,
                        kind: str = "sample") -> list[Generation]:
        if self.cancel.is_set():
            raise RunCancelled()
        if stream:
            return await super().agenerate(prompts, params, stream=True, kind=kind)
        gens = await self.backend.agenerate(list(prompts), params, on_token=self._check if self.watch else None)
        self._record(kind, gens)
        return gens

    def _check(self, _event: TokenEvent) -> None:
        if self.cancel.is_set():
            raise RunCancelled()


class _TokenTap(TokenObserver):
    """The run's token callback: cancellation, the raw token stream, then gists."""

    def __init__(self, gists: GistStream, job: "Job",
                 on_token: Callable[[TokenEvent], None] | None) -> None:
        self.gists, self.job, self.on_token = gists, job, on_token
        self.events: list[TokenEvent] = []
        self.emitted: list[TraceEvent] = []  # trace events the run reported as they happened

    def __call__(self, event: TokenEvent) -> bool:
        if self.job.cancel.is_set():
            raise RunCancelled()
        self.job.tokens += 1
        self.events.append(event)
        if self.on_token is not None:
            self.on_token(event)
        return self.gists(event)

    def next_call(self) -> None:
        self.gists.next_call()


@dataclass(frozen=True)
class JobSpec:
    """One request's work: ``tasks`` each answered ``n`` times (choice ``i * n + j``)."""

    tasks: tuple[Task, ...]
    n: int
    strategy: str
    budget: Budget
    reward: str | None = None
    top_p: float | None = None
    logprobs: bool = False
    adaptive: bool = True
    stream_tokens: bool = False
    stream: bool = False

    @property
    def watch(self) -> bool:
        """Whether the run needs every token as it is generated. Without that a backend may
        answer in one piece (an HTTP backend then skips streaming from its server), and a
        cancelled run stops at its next model call rather than its next token."""
        return self.stream or self.adaptive or self.logprobs


@dataclass
class ChoiceResult:
    """One choice of a request: its solve's result and, when watched, the tokens it streamed."""

    index: int
    result: SolveResult
    tokens: list[TokenEvent] = field(default_factory=list)

    @property
    def finish_reason(self) -> str:
        for ev in self.result.trace:
            if ev.kind in ("sample", "revision") and ev.text == self.result.output:
                return "length" if ev.data.get("finish_reason") == "length" else "stop"
        return "stop"


class Job:
    """A request being served: its cancel flag and, when streaming, its event queue."""

    def __init__(self, spec: JobSpec, request_id: str) -> None:
        self.spec, self.request_id = spec, request_id
        self.cancel = threading.Event()
        self.queue: asyncio.Queue[tuple[str, int, Any]] = asyncio.Queue()
        self.started = time.perf_counter()
        self.tokens = 0  # tokens streamed by its runs so far (a cancelled run's count is its cost)


class Engine:
    """Admission control and the worker pool over one backend."""

    def __init__(self, backend: Backend, *, max_concurrency: int = 1, max_queue: int = 16,
                 retry_after_s: int = 1) -> None:
        if max_concurrency < 1 or max_queue < 0:
            raise ValueError("max_concurrency must be >= 1 and max_queue >= 0")
        self.backend = backend
        self.max_concurrency, self.max_queue, self.retry_after_s = max_concurrency, max_queue, retry_after_s
        self._pool = ThreadPoolExecutor(max_workers=max_concurrency, thread_name_prefix="nlrl-serve")
        self._slots: asyncio.Semaphore | None = None
        self.waiting = 0
        self.running = 0
        self.jobs: set[Job] = set()
        self.closed = False
        self.on_loop = False  # the backend took the server's loop: runs_on_loop strategies run there
        self._tasks: set[asyncio.Task[Any]] = set()

    async def admit(self) -> None:
        """Wait for a slot, or refuse at once when the queue is full."""
        if self.closed:
            raise APIError(503, "the server is shutting down", code="shutting_down")
        if self._slots is None:
            self._slots = asyncio.Semaphore(self.max_concurrency)
        if self.running + self.waiting >= self.max_concurrency + self.max_queue:
            raise APIError(429, f"server busy: {self.running} runs in progress and {self.waiting} queued "
                           f"(--max-concurrency {self.max_concurrency}, --max-queue {self.max_queue}); "
                           "retry later", code="queue_full",
                           headers={"Retry-After": str(self.retry_after_s)})
        self.waiting += 1
        try:
            await self._slots.acquire()
        finally:
            self.waiting -= 1
        self.running += 1

    def _release(self, job: Job) -> None:
        self.running -= 1
        self.jobs.discard(job)
        assert self._slots is not None
        self._slots.release()

    def submit(self, job: Job, emit: bool) -> "asyncio.Future[list[ChoiceResult]]":
        """Run ``job`` on a worker, or as a task on the loop (:meth:`runs_on_loop`), after
        :meth:`admit`; the slot is freed when it ends."""
        loop = asyncio.get_running_loop()
        self.jobs.add(job)
        fut: asyncio.Future[list[ChoiceResult]]
        if self.runs_on_loop(job.spec):
            def here(kind: str, index: int, item: Any) -> None:
                job.queue.put_nowait((kind, index, item))

            task = loop.create_task(self._aexecute(job, here if emit else None))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
            fut = task
        else:
            def put(kind: str, index: int, item: Any) -> None:
                loop.call_soon_threadsafe(job.queue.put_nowait, (kind, index, item))

            fut = loop.run_in_executor(self._pool, self._execute, job, put if emit else None)
        fut.add_done_callback(lambda _f: self._release(job))
        return fut

    def runs_on_loop(self, spec: JobSpec) -> bool:
        """Whether ``spec`` runs as a task on the event loop rather than in a worker thread."""
        return self.on_loop and get_strategy(spec.strategy).runs_on_loop

    def _runs(self, job: Job, emit: Emit | None) -> Iterator[tuple[int, Solve, list[_TokenTap], Task]]:
        """The job's runs in choice order, each ``(index, solve, taps, task)`` made when it is
        due; :class:`RunCancelled` instead of the next one once the job is cancelled."""
        spec = job.spec
        for ti, task in enumerate(spec.tasks):
            for j in range(spec.n):
                if job.cancel.is_set():
                    raise RunCancelled()
                index = ti * spec.n + j
                solve, taps = self._solve(job, index, j, emit)
                yield index, solve, taps, task

    async def _aexecute(self, job: Job, emit: Emit | None) -> list[ChoiceResult]:
        return [self._done(index, await solve.acall(task), taps[0], emit)
                for index, solve, taps, task in self._runs(job, emit)]

    def _execute(self, job: Job, emit: Emit | None) -> list[ChoiceResult]:
        return [self._done(index, solve(task), taps[0], emit)
                for index, solve, taps, task in self._runs(job, emit)]

    @staticmethod
    def _done(index: int, result: SolveResult, tap: "_TokenTap", emit: Emit | None) -> ChoiceResult:
        if emit is not None:  # events a strategy recorded without the run (none of nlrl's own)
            emitted = {id(ev) for ev in tap.emitted}
            for ev in result.trace:
                if id(ev) not in emitted:
                    emit("trace", index, ev)
        choice = ChoiceResult(index, result, tap.events)
        if emit is not None:
            emit("done", index, choice)
        return choice

    def _solve(self, job: Job, index: int, j: int, emit: Emit | None) -> tuple[Solve, list[_TokenTap]]:
        """The solve of choice ``index`` (sample ``j`` of its task), and the list that gets its
        run's token tap once it is built."""
        spec = job.spec
        forward: Callable[[TokenEvent], None] | None = None
        if emit is not None and spec.stream_tokens:
            forward = lambda ev: emit("token", index, ev)  # noqa: E731
        taps: list[_TokenTap] = []  # the one run's token tap, once Solve has built the run

        def make_run(task: Task, backend: Backend, *, on_token: GistStream, **kw: Any) -> ServedRun:
            tap = _TokenTap(on_token, job, forward)
            taps.append(tap)

            def on_event(ev: TraceEvent) -> None:
                tap.emitted.append(ev)
                if emit is not None:
                    emit("trace", index, ev)

            return ServedRun(task, backend, cancel=job.cancel, on_event=on_event, top_p=spec.top_p,
                             logprobs=spec.logprobs, watch=spec.watch, on_token=tap if spec.watch else None, **kw)

        seed = spec.budget.seed
        # n independent runs
        budget = dataclasses.replace(spec.budget, seed=None if seed is None else seed + 100_003 * j)
        settings = SolveSettings(budget=budget, reward=spec.reward, adaptive=spec.adaptive)
        on_gist = (lambda g: emit("gist", index, g)) if emit is not None else None
        return Solve(get_strategy(spec.strategy), self.backend, settings, on_gist=on_gist,
                     make_run=make_run), taps

    def cancel_all(self) -> None:
        for job in list(self.jobs):
            job.cancel.set()
        for task in list(self._tasks):  # runs on the loop: stop their requests too
            if not task.get_loop().is_closed():
                task.get_loop().call_soon_threadsafe(task.cancel)

    def close(self, wait: bool = True) -> None:
        self.closed = True
        self.cancel_all()
        self._pool.shutdown(wait=wait, cancel_futures=True)
