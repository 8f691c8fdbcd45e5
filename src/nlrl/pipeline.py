"""classify → prompt → strategy → answer, with gists streamed live.

:class:`Solve` is the one solve core: build the task (classify, render, check the prompt against
the backend's context), start the gist stream, run the strategy, finish the stream, return a
:class:`SolveResult`. :class:`Pipeline` and the benchmark runner (:mod:`nlrl.bench.runner`) both
solve through it, with the options they share in one :class:`SolveSettings`.

>>> from nlrl import Pipeline, ScriptedBackend
>>> pipe = Pipeline(ScriptedBackend([" 2 + 2 = 4.\\nFinal Answer: 4\\n"]))
>>> pipe.solve("What is 2 + 2?", domain="math").final_answer
'4'
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

from .backends import Backend, Usage, load_backend
from .gists import Gist, GistCallback, GistStream
from .strategies import Budget, Run, Strategy, StrategyResult, TraceEvent, get_strategy
from .tasks.task import Task, ensure_text

log = logging.getLogger(__name__)

RunFactory = Callable[..., Run]
"""Builds a solve's :class:`Run`: called as ``make_run(task, backend, reward=..., budget=...,
on_token=gist_stream)``; :class:`Run` itself, or a subclass (the server's cancellable run)."""


@dataclass(frozen=True)
class SolveResult:
    """Everything about one solved prompt; ``to_dict()`` is what ``nlrl solve --json`` prints."""

    prompt: str
    domain: str
    strategy: str
    prompt_text: str
    output: str
    final_answer: str | None
    gists: tuple[Gist, ...]
    trace: tuple[TraceEvent, ...]
    usage: Usage
    elapsed_s: float
    score: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    usage_by_kind: dict[str, Usage] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "prompt": self.prompt,
            "domain": self.domain,
            "strategy": self.strategy,
            "prompt_text": self.prompt_text,
            "output": self.output,
            "final_answer": self.final_answer,
            "score": self.score,
            "gists": [g.to_dict() for g in self.gists],
            "trace": [e.to_dict() for e in self.trace],
            "usage": {**self.usage.to_dict(),
                      "by_kind": {k: u.to_dict() for k, u in self.usage_by_kind.items()}},
            "elapsed_s": round(self.elapsed_s, 4),
            **self.extra,
        }


@dataclass(frozen=True)
class SolveSettings:
    """What every solve of a pipeline or a benchmark run shares: the strategy's ``budget``, the
    ``reward`` model, the prompt's ``difficulty`` and ``steps``, and ``adaptive`` stopping (each
    sample stops once its final-answer line is complete)."""

    budget: Budget = field(default_factory=Budget)
    reward: Any = None
    difficulty: str | None = None
    steps: int | None = None
    adaptive: bool = True

    @classmethod
    def of(cls, *, n: int = 1, max_tokens: int = 384, max_total_tokens: int | None = None,
           temperature: float | None = None, seed: int | None = None, **options: Any) -> "SolveSettings":
        """Settings from the flat keyword arguments of :class:`Pipeline` and ``BenchRunner``."""
        return cls(Budget(n=n, max_tokens=max_tokens, max_total_tokens=max_total_tokens,
                          temperature=temperature, seed=seed), **options)


class Solve:
    """One prompt solved with ``strategy`` on ``backend``: the steps the pipeline and the benchmark
    runner share.

    The state is kept as the steps go (``task`` once built, ``run`` once started, ``stream``), so a
    caller that catches a failure still has what was done (the rendered prompt, what the run
    spent, the gists so far). ``run_backend`` is what the strategy calls (a metering view of
    ``backend``, say); the prompt is rendered and checked with ``backend`` itself. ``make_run``
    builds the run (see :data:`RunFactory`).
    """

    def __init__(self, strategy: Strategy, backend: Backend, settings: SolveSettings, *,
                 on_gist: GistCallback | None = None, run_backend: Backend | None = None,
                 make_run: RunFactory = Run) -> None:
        self.strategy = strategy
        self.backend = backend
        self.settings = settings
        self.on_gist = on_gist
        self.run_backend = run_backend or backend
        self.make_run = make_run
        self.task: Task | None = None
        self.run: Run | None = None
        self.stream: GistStream | None = None

    @property
    def gists(self) -> tuple[Gist, ...]:
        """The gists streamed so far."""
        return tuple(self.stream.gists) if self.stream is not None else ()

    def prepare(self, prompt: str | bytes, *, domain: str | None = None, instruction: str | None = None,
                classifier_backend: Backend | None = None, **extra: Any) -> Task:
        """Classify ``prompt`` (unless ``domain`` is given), render its prompt for the backend and
        check that it fits the backend's context (:class:`~nlrl.PromptError` if it does not);
        ``extra`` goes to :meth:`Task.build`."""
        self.task = Task.build(ensure_text(prompt), domain=domain, backend=self.backend,
                               difficulty=self.settings.difficulty, steps=self.settings.steps,
                               instruction=instruction, classifier_backend=classifier_backend, **extra)
        self.backend.check_prompt(self.task.prompt_text, 1)
        return self.task

    def __call__(self, prompt: str | bytes | Task, *, domain: str | None = None,
                 classifier_backend: Backend | None = None, **extra: Any) -> SolveResult:
        """Solve ``prompt``: a :class:`Task` as it is, text through :meth:`prepare`."""
        start = time.perf_counter()
        if isinstance(prompt, Task):
            self.task = prompt
        else:
            self.prepare(prompt, domain=domain, classifier_backend=classifier_backend, **extra)
        return self._result(self.strategy.run(self._start()), start)

    async def acall(self, task: Task) -> SolveResult:
        """Solve ``task`` from an event loop: the strategy's :meth:`~nlrl.strategies.Strategy.arun`
        (its model calls awaited on the loop where it declares ``runs_on_loop``)."""
        start = time.perf_counter()
        self.task = task
        return self._result(await self.strategy.arun(self._start()), start)

    def _start(self) -> Run:
        task = self.task
        assert task is not None
        self.stream = GistStream(task.domain, on_gist=self.on_gist, adaptive=self.settings.adaptive)
        self.run = self.make_run(task, self.run_backend, reward=self.settings.reward,
                                 budget=self.settings.budget, on_token=self.stream)
        return self.run

    def _result(self, result: StrategyResult, start: float) -> SolveResult:
        task = self.task
        assert task is not None and self.stream is not None
        self.stream.finish()
        log.info("solved domain=%s strategy=%s answer=%r tokens=%d", task.domain, result.strategy,
                 result.answer, result.usage.completion_tokens)
        return SolveResult(
            prompt=task.question,
            domain=task.domain,
            strategy=result.strategy,
            prompt_text=task.prompt_text,
            output=result.output,
            final_answer=result.answer,
            gists=self.gists,
            trace=result.trace,
            usage=result.usage,
            elapsed_s=time.perf_counter() - start,
            score=result.score,
            extra=dict(result.extra),
            usage_by_kind=dict(result.usage_by_kind),
        )


class Pipeline:
    """Answer questions with one backend and one strategy.

    ``backend`` is a :class:`Backend` or a registry name (``"embedded"``, ``"openai"``, ...)
    built with ``model`` and ``backend_options``. ``strategy`` is a name or a
    :class:`Strategy`; ``n``, ``max_tokens``, ``temperature`` and ``seed`` form its budget.
    ``adaptive`` stops each sample as soon as its final-answer line is complete.
    """

    def __init__(
        self,
        backend: Backend | str = "embedded",
        *,
        model: str | None = None,
        strategy: Strategy | str = "cot",
        n: int = 1,
        max_tokens: int = 384,
        max_total_tokens: int | None = None,
        temperature: float | None = None,
        seed: int | None = None,
        reward: Any = None,
        difficulty: str | None = None,
        steps: int | None = None,
        adaptive: bool = True,
        classify_with_model: bool = False,
        **backend_options: Any,
    ) -> None:
        # Everything that can be refused is checked before a model is loaded.
        self.strategy = get_strategy(strategy) if isinstance(strategy, str) else strategy
        self.settings = SolveSettings.of(n=n, max_tokens=max_tokens, max_total_tokens=max_total_tokens,
                                         temperature=temperature, seed=seed, reward=reward,
                                         difficulty=difficulty, steps=steps, adaptive=adaptive)
        self.backend = load_backend(backend, model, **backend_options) if isinstance(backend, str) else backend
        self._owns_backend = isinstance(backend, str)
        self.classify_with_model = classify_with_model

    @property
    def budget(self) -> Budget:
        return self.settings.budget

    def _solve(self, on_gist: GistCallback | None = None) -> Solve:
        return Solve(self.strategy, self.backend, self.settings, on_gist=on_gist)

    def task(self, prompt: str | bytes, *, domain: str | None = None, instruction: str | None = None,
             **extra: Any) -> Task:
        """Classify ``prompt`` (unless ``domain`` is given) and render its prompt."""
        return self._solve().prepare(prompt, domain=domain, instruction=instruction,
                                     classifier_backend=self._classifier(), **extra)

    def solve(self, prompt: str | bytes | Task, *, domain: str | None = None,
              on_gist: GistCallback | None = None) -> SolveResult:
        """Solve one prompt; ``on_gist`` receives each gist as it is generated."""
        return self._solve(on_gist)(prompt, domain=domain, classifier_backend=self._classifier())

    def _classifier(self) -> Backend | None:
        return self.backend if self.classify_with_model else None

    def stream(self, prompt: str | bytes | Task, *, domain: str | None = None) -> "GistIterator":
        """Iterate over gists as they arrive; the iterator's ``result`` is set at the end."""
        return GistIterator(self, prompt, domain)

    def close(self) -> None:
        if self._owns_backend:
            self.backend.close()

    def __enter__(self) -> "Pipeline":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class GistIterator:
    """Runs :meth:`Pipeline.solve` in a worker thread and yields its gists as they come."""

    _DONE = object()

    def __init__(self, pipeline: Pipeline, prompt: Any, domain: str | None) -> None:
        self.result: SolveResult | None = None
        self._queue: queue.Queue[Any] = queue.Queue()
        self._error: BaseException | None = None

        def work() -> None:
            try:
                self.result = pipeline.solve(prompt, domain=domain, on_gist=self._queue.put)
            except BaseException as exc:  # re-raised in the consumer's thread
                self._error = exc
            finally:
                self._queue.put(self._DONE)

        self._thread = threading.Thread(target=work, name="nlrl-solve", daemon=True)
        self._thread.start()

    def __iter__(self) -> Iterator[Gist]:
        while True:
            item = self._queue.get()
            if item is self._DONE:
                break
            yield item
        self._thread.join()
        if self._error is not None:
            raise self._error
