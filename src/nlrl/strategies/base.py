"""The Strategy interface: a task, a backend, a reward model and a budget in; an answer out.

A strategy does its work through a :class:`Run`, which makes every model call, totals what the
calls cost (honest accounting: prompt tokens the engine evaluated, tokens generated, calls, wall
time), by kind of call (``sample``, ``critique``, ``revision``, ``probe``, ``step``, ``reward``,
...), and records the trace of events (``sample``, ``score``, ``vote``, ``critique``, ...) that
``nlrl solve --json`` shows, handing each to the run's ``on_event`` observer as it happens.
"""

from __future__ import annotations

import asyncio
import copy
import math
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Mapping, Sequence

from .._exceptions import ConfigError
from ..backends import Backend, Generation, SamplingParams, TokenCallback, TokenObserver, Usage

if TYPE_CHECKING:  # pragma: no cover
    from ..tasks.task import Task


@dataclass(frozen=True)
class TraceEvent:
    """One step of a strategy: ``kind`` (sample, score, vote, critique, ...), text and data."""

    kind: str
    text: str = ""
    data: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "text": self.text, **dict(self.data)}


@dataclass(frozen=True)
class Budget:
    """How much a strategy may spend.

    ``n`` is the number of samples (or beam width / refinement rounds, per strategy);
    ``max_tokens`` caps each completion; ``max_total_tokens`` caps generated tokens over the
    whole run (None: no cap beyond ``n * max_tokens``).
    """

    n: int = 1
    max_tokens: int = 256
    max_total_tokens: int | None = None
    temperature: float | None = None
    seed: int | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.n, int) or self.n < 1:
            raise ConfigError(f"budget n must be an integer >= 1, got {self.n!r}")
        if not isinstance(self.max_tokens, int) or self.max_tokens < 1:
            raise ConfigError(f"budget max_tokens must be an integer >= 1, got {self.max_tokens!r}")
        if self.max_total_tokens is not None and self.max_total_tokens < self.max_tokens:
            raise ConfigError(
                f"budget max_total_tokens={self.max_total_tokens} is smaller than one sample "
                f"(max_tokens={self.max_tokens})")
        if self.temperature is not None and (not math.isfinite(self.temperature) or self.temperature < 0):
            raise ConfigError(f"budget temperature must be >= 0, got {self.temperature!r}")


@dataclass(frozen=True)
class StrategyResult:
    """What a strategy produced: the answer, the output it came from, and how.

    ``usage_by_kind`` splits ``usage`` by kind of model call (``sample``, ``critique``, ``probe``,
    ``reward``, ...); its entries add up to ``usage`` (all but the wall time, which ``usage``
    measures for the whole run).
    """

    strategy: str
    answer: str | None
    output: str
    trace: tuple[TraceEvent, ...]
    usage: Usage
    score: float | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)
    usage_by_kind: Mapping[str, Usage] = field(default_factory=dict)


class Run:
    """The ledger of one strategy run: makes the model calls, totals usage, records the trace.

    Each model call is recorded with its kind (what the strategy called the model for), so the
    usage splits by kind. ``on_event`` receives every trace event as it is recorded.
    """

    def __init__(
        self,
        task: "Task",
        backend: Backend,
        *,
        reward: Any = None,
        budget: Budget | None = None,
        on_token: TokenCallback | None = None,
        on_event: Callable[[TraceEvent], None] | None = None,
    ) -> None:
        self.task = task
        self.backend = backend
        from ..rewards import as_reward  # a spec ("judge", "prm:PATH") is built once, on this backend

        self.reward = as_reward(reward, backend)
        self.budget = budget or Budget()
        self.on_token = on_token
        self.on_event = on_event
        self._open()

    def _open(self) -> None:
        """An empty ledger and trace, for a new run or a child of this one."""
        self.trace: list[TraceEvent] = []
        self._calls: list[tuple[str, Usage]] = []  # (kind, usage) of every model call
        self._carried = 0  # leading entries of _calls that a child took over from its parent
        self._start = time.perf_counter()

    def child(self, budget: Budget, *, carry: bool = False) -> "Run":
        """A run for a strategy this one delegates to (``auto``'s choice): the same task, backend,
        reward and observers (its tokens and trace events reach them as they happen), its own
        ``budget``, ledger and trace. ``carry``: the child continues this run's work (from its
        samples), so it starts with this run's costs and its token budget counts them.
        :meth:`adopt` takes its calls and events back. A subclass with more per-run state resets
        it in :meth:`_open`."""
        sub = copy.copy(self)
        sub._open()
        sub.budget = budget
        if carry:
            sub._calls = list(self._calls)
            sub._carried = len(sub._calls)
        return sub

    def adopt(self, child: "Run") -> None:
        """Add ``child``'s model calls (not those it carried from this run) to this run's ledger
        and its events to this run's trace (the observers have seen them already)."""
        self._calls.extend(child._calls[child._carried:])
        self.trace.extend(child.trace)

    # -- model calls ------------------------------------------------------------------------

    def params(self, **overrides: Any) -> SamplingParams:
        """Sampling parameters from the budget, with the task's stop strings."""
        b = self.budget
        base: dict[str, Any] = {
            "n": 1,
            "max_tokens": b.max_tokens,
            "temperature": 0.0 if b.temperature is None else b.temperature,
            "stop": self.task.stop,
            "seed": b.seed,
        }
        base.update(overrides)
        return SamplingParams(**base)

    def generate(self, prompts: Sequence[str], params: SamplingParams, *, stream: bool = True,
                 kind: str = "sample") -> list[Generation]:
        """Call the backend, record usage under ``kind``; stream tokens to the run's observer if asked."""
        hook = self.on_token if stream else None
        if isinstance(hook, TokenObserver):
            hook.next_call()
        gens = self.backend.generate(list(prompts), params, on_token=hook)
        self._record(kind, gens)
        return gens

    def sample(self, prompt: str | None = None, *, kind: str = "sample", **overrides: Any) -> Generation:
        """Sample completions of ``prompt`` (default: the task's prompt)."""
        return self.generate([prompt if prompt is not None else self.task.prompt_text],
                             self.params(**overrides), kind=kind)[0]

    async def agenerate(self, prompts: Sequence[str], params: SamplingParams, *, stream: bool = True,
                        kind: str = "sample") -> list[Generation]:
        """:meth:`generate` for a strategy run on an event loop (:meth:`Strategy.arun`)."""
        hook = self.on_token if stream else None
        if isinstance(hook, TokenObserver):
            hook.next_call()
        gens = await self.backend.agenerate(list(prompts), params, on_token=hook)
        self._record(kind, gens)
        return gens

    async def asample(self, prompt: str | None = None, *, kind: str = "sample", **overrides: Any) -> Generation:
        """:meth:`sample` for a strategy run on an event loop."""
        return (await self.agenerate([prompt if prompt is not None else self.task.prompt_text],
                                     self.params(**overrides), kind=kind))[0]

    def _record(self, kind: str, gens: Sequence[Generation]) -> None:
        self._calls.extend((kind, g.usage) for g in gens)

    @property
    def generated_tokens(self) -> int:
        return sum(u.completion_tokens for _, u in self._calls)

    def tokens_left(self) -> int | None:
        cap = self.budget.max_total_tokens
        return None if cap is None else cap - self.generated_tokens

    # -- trace and result -------------------------------------------------------------------

    def event(self, kind: str, text: str = "", **data: Any) -> TraceEvent:
        ev = TraceEvent(kind, text, data)
        self.trace.append(ev)
        if self.on_event is not None:
            self.on_event(ev)
        return ev

    @property
    def usage(self) -> Usage:
        total = Usage.total([u for _, u in self._calls])
        return Usage(total.prompt_tokens, total.completion_tokens, total.calls,
                     time.perf_counter() - self._start)

    def usage_by_kind(self) -> dict[str, Usage]:
        """The usage of this run's model calls by kind (first-used kind first); the entries add
        up to :attr:`usage` (its wall time is the run's, theirs the calls')."""
        out: dict[str, Usage] = {}
        for kind, u in self._calls:
            out[kind] = out.get(kind, Usage()) + u
        return out

    def add_usage(self, usage: Usage, kind: str = "other") -> None:
        """Account for model calls made outside :meth:`generate` (e.g. by a reward model)."""
        self._calls.append((kind, usage))

    def result(self, strategy: str, answer: str | None, output: str, *, score: float | None = None,
               **extra: Any) -> StrategyResult:
        return StrategyResult(strategy, answer, output, tuple(self.trace), self.usage, score, extra,
                              usage_by_kind=self.usage_by_kind())


def check_int(who: str, label: str, v: Any) -> None:
    """A strategy option that counts something (samples, steps, tokens): None or an integer >= 1."""
    if v is not None and (not isinstance(v, int) or isinstance(v, bool) or v < 1):
        raise ConfigError(f"{who} {label} must be an integer >= 1, got {v!r}")


class Strategy(ABC):
    """A reasoning strategy. One required method: :meth:`run`.

    A strategy that can continue from samples already drawn (the probe of ``auto``) sets
    :attr:`reuses_samples` and overrides :meth:`run_with`.
    """

    name: str = "strategy"
    #: :meth:`run_with` continues from given samples (drawn at this strategy's temperature)
    reuses_samples: bool = False
    #: :meth:`arun` is the strategy itself on the caller's event loop (its model calls awaited),
    #: not :meth:`run` in a worker thread
    runs_on_loop: bool = False

    def run_with(self, run: Run, prior: Sequence[Any]) -> StrategyResult:
        """Solve continuing from ``prior`` samples (``nlrl.strategies.sampling.Sample``); only
        strategies that declare :attr:`reuses_samples` take any."""
        if prior:
            raise ConfigError(f"strategy {self.name} does not continue from earlier samples")
        return self.run(run)

    @abstractmethod
    def run(self, run: Run) -> StrategyResult:
        """Solve ``run.task`` with ``run.backend`` inside ``run.budget``."""

    async def arun(self, run: Run) -> StrategyResult:
        """:meth:`run` for a caller on an event loop: in a worker thread unless the strategy
        declares :attr:`runs_on_loop` and overrides this with its model calls awaited
        (:meth:`Run.agenerate`)."""
        return await asyncio.to_thread(self.run, run)

    def __call__(self, task: "Task", backend: Backend, *, reward: Any = None,
                 budget: Budget | None = None, on_token: TokenCallback | None = None,
                 on_event: Callable[[TraceEvent], None] | None = None) -> StrategyResult:
        return self.run(Run(task, backend, reward=reward, budget=budget, on_token=on_token, on_event=on_event))
