"""The Strategy interface: a task, a backend, a reward model and a budget in; an answer out.

A strategy does its work through a :class:`Run`, which makes every model call, totals what the
calls cost (honest accounting: prompt tokens the engine evaluated, tokens generated, calls, wall
time) and records the trace of events (``sample``, ``score``, ``vote``, ``critique``, ...) that
``nlrl solve --json`` shows.
"""

from __future__ import annotations

import math
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Mapping, Sequence

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
    """What a strategy produced: the answer, the output it came from, and how."""

    strategy: str
    answer: str | None
    output: str
    trace: tuple[TraceEvent, ...]
    usage: Usage
    score: float | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)


class Run:
    """The ledger of one strategy run: makes the model calls, totals usage, records the trace."""

    def __init__(
        self,
        task: "Task",
        backend: Backend,
        *,
        reward: Any = None,
        budget: Budget | None = None,
        on_token: TokenCallback | None = None,
    ) -> None:
        self.task = task
        self.backend = backend
        from ..rewards import as_reward  # a spec ("judge", "prm:PATH") is built once, on this backend

        self.reward = as_reward(reward, backend)
        self.budget = budget or Budget()
        self.on_token = on_token
        self.trace: list[TraceEvent] = []
        self._usages: list[Usage] = []
        self._start = time.perf_counter()

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

    def generate(self, prompts: Sequence[str], params: SamplingParams, *, stream: bool = True) -> list[Generation]:
        """Call the backend, record usage; stream tokens to the run's observer if asked."""
        hook = self.on_token if stream else None
        if isinstance(hook, TokenObserver):
            hook.next_call()
        gens = self.backend.generate(list(prompts), params, on_token=hook)
        self._usages.extend(g.usage for g in gens)
        return gens

    def sample(self, prompt: str | None = None, **overrides: Any) -> Generation:
        """Sample completions of ``prompt`` (default: the task's prompt)."""
        return self.generate([prompt if prompt is not None else self.task.prompt_text],
                             self.params(**overrides))[0]

    @property
    def generated_tokens(self) -> int:
        return sum(u.completion_tokens for u in self._usages)

    def tokens_left(self) -> int | None:
        cap = self.budget.max_total_tokens
        return None if cap is None else cap - self.generated_tokens

    # -- trace and result -------------------------------------------------------------------

    def event(self, kind: str, text: str = "", **data: Any) -> TraceEvent:
        ev = TraceEvent(kind, text, data)
        self.trace.append(ev)
        return ev

    @property
    def usage(self) -> Usage:
        total = Usage.total(self._usages)
        return Usage(total.prompt_tokens, total.completion_tokens, total.calls,
                     time.perf_counter() - self._start)

    def add_usage(self, usage: Usage) -> None:
        """Account for model calls made outside :meth:`generate` (e.g. by a reward model)."""
        self._usages.append(usage)

    def result(self, strategy: str, answer: str | None, output: str, *, score: float | None = None,
               **extra: Any) -> StrategyResult:
        return StrategyResult(strategy, answer, output, tuple(self.trace), self.usage, score, extra)


class Strategy(ABC):
    """A reasoning strategy. One required method: :meth:`run`.

    A strategy that can continue from samples already drawn (the probe of ``auto``) sets
    :attr:`reuses_samples` and overrides :meth:`run_with`.
    """

    name: str = "strategy"
    #: :meth:`run_with` continues from given samples (drawn at this strategy's temperature)
    reuses_samples: bool = False

    def run_with(self, run: Run, prior: Sequence[Any]) -> StrategyResult:
        """Solve continuing from ``prior`` samples (``nlrl.strategies.sampling.Sample``); only
        strategies that declare :attr:`reuses_samples` take any."""
        if prior:
            raise ConfigError(f"strategy {self.name} does not continue from earlier samples")
        return self.run(run)

    @abstractmethod
    def run(self, run: Run) -> StrategyResult:
        """Solve ``run.task`` with ``run.backend`` inside ``run.budget``."""

    def __call__(self, task: "Task", backend: Backend, *, reward: Any = None,
                 budget: Budget | None = None, on_token: TokenCallback | None = None) -> StrategyResult:
        return self.run(Run(task, backend, reward=reward, budget=budget, on_token=on_token))
