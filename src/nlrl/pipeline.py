"""classify → prompt → strategy → answer, with gists streamed live.

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
from typing import Any, Iterator

from .backends import Backend, Usage, load_backend
from .gists import Gist, GistCallback, GistStream
from .strategies import Budget, Run, Strategy, StrategyResult, TraceEvent, get_strategy
from .tasks.task import Task, ensure_text

log = logging.getLogger(__name__)


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
        self.budget = Budget(n=n, max_tokens=max_tokens, max_total_tokens=max_total_tokens,
                             temperature=temperature, seed=seed)
        self.backend = load_backend(backend, model, **backend_options) if isinstance(backend, str) else backend
        self._owns_backend = isinstance(backend, str)
        self.reward = reward
        self.difficulty = difficulty
        self.steps = steps
        self.adaptive = adaptive
        self.classify_with_model = classify_with_model

    def task(self, prompt: str | bytes, *, domain: str | None = None, instruction: str | None = None,
             **extra: Any) -> Task:
        """Classify ``prompt`` (unless ``domain`` is given) and render its prompt."""
        task = Task.build(
            ensure_text(prompt), domain=domain, backend=self.backend, difficulty=self.difficulty,
            steps=self.steps, instruction=instruction,
            classifier_backend=self.backend if self.classify_with_model else None, **extra)
        self.backend.check_prompt(task.prompt_text, 1)
        return task

    def solve(self, prompt: str | bytes | Task, *, domain: str | None = None,
              on_gist: GistCallback | None = None) -> SolveResult:
        """Solve one prompt; ``on_gist`` receives each gist as it is generated."""
        start = time.perf_counter()
        task = prompt if isinstance(prompt, Task) else self.task(prompt, domain=domain)
        stream = GistStream(task.domain, on_gist=on_gist, adaptive=self.adaptive)
        run = Run(task, self.backend, reward=self.reward, budget=self.budget, on_token=stream)
        result: StrategyResult = self.strategy.run(run)
        stream.finish()
        log.info("solved domain=%s strategy=%s answer=%r tokens=%d", task.domain, result.strategy,
                 result.answer, result.usage.completion_tokens)
        return SolveResult(
            prompt=task.question,
            domain=task.domain,
            strategy=result.strategy,
            prompt_text=task.prompt_text,
            output=result.output,
            final_answer=result.answer,
            gists=tuple(stream.gists),
            trace=result.trace,
            usage=result.usage,
            elapsed_s=time.perf_counter() - start,
            score=result.score,
            extra=dict(result.extra),
            usage_by_kind=dict(result.usage_by_kind),
        )

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
