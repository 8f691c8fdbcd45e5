"""Model calls with a JSON answer, bounded retries, and a ledger of what they cost.

Every language piece of GPI (policy, value, aggregators, improvement) goes through
:meth:`JsonCaller.ask`: the prompt is sent with the opening of the JSON appended (a base model
completes ``{"thought": "`` far more reliably than it starts JSON on its own), the answer is
parsed strictly and validated, and a failed attempt is retried up to ``retries`` times with
sampling on. When every attempt fails the :class:`Answer` says so; the caller's fallback is
explicit and the :class:`Ledger` counts both the failed attempts and the fallback.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field, fields
from typing import Any, Callable, Mapping, Sequence

from .._exceptions import ConfigError, ParseError
from ..backends.base import Backend, SamplingParams, Usage
from .parsing import TypeSpec, parse_json_answer

THOUGHT_PREFIX = '{"thought": "'
Validator = Callable[[dict[str, Any]], dict[str, Any]]


@dataclass
class RoleStats:
    """Counters for one kind of call ("policy", "value", "td", "mc", "improve", ...)."""

    requests: int = 0        # answers asked for (a sampled batch of n counts n)
    calls: int = 0           # backend.generate prompts sent (retries included)
    prompt_tokens: int = 0
    completion_tokens: int = 0
    wall_s: float = 0.0
    parse_failures: int = 0  # completions that did not parse or validate
    fallbacks: int = 0       # requests where every attempt failed

    def add(self, other: "RoleStats", sign: int = 1) -> None:
        for f in fields(self):
            setattr(self, f.name, getattr(self, f.name) + sign * getattr(other, f.name))

    def to_dict(self) -> dict[str, Any]:
        d = {f.name: getattr(self, f.name) for f in fields(self)}
        d["wall_s"] = round(self.wall_s, 3)
        d["total_tokens"] = self.prompt_tokens + self.completion_tokens
        return d


@dataclass
class Ledger:
    """Usage and parse failures per role; ``minus`` gives what one stretch of work cost."""

    roles: dict[str, RoleStats] = field(default_factory=dict)

    def role(self, name: str) -> RoleStats:
        return self.roles.setdefault(name, RoleStats())

    def record_usage(self, role: str, usage: Usage) -> None:
        r = self.role(role)
        r.calls += usage.calls
        r.prompt_tokens += usage.prompt_tokens
        r.completion_tokens += usage.completion_tokens
        r.wall_s += usage.wall_s

    def total(self) -> RoleStats:
        out = RoleStats()
        for r in self.roles.values():
            out.add(r)
        return out

    def copy(self) -> "Ledger":
        out = Ledger()
        for name, r in self.roles.items():
            out.role(name).add(r)
        return out

    def minus(self, earlier: "Ledger") -> "Ledger":
        out = self.copy()
        for name, r in earlier.roles.items():
            out.role(name).add(r, -1)
        return out

    def to_dict(self) -> dict[str, Any]:
        return {"total": self.total().to_dict(),
                "by_role": {k: v.to_dict() for k, v in sorted(self.roles.items()) if v.requests or v.calls}}


@dataclass(frozen=True)
class Answer:
    """A validated JSON answer, or None with the errors of every failed attempt."""

    value: dict[str, Any] | None
    texts: tuple[str, ...]
    errors: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return self.value is not None


class JsonCaller:
    """Send prompts to a backend and get strictly parsed JSON answers back.

    ``temperature`` is the first attempt's (0 = greedy); retries sample at
    ``max(temperature, retry_temperature)`` with fresh seeds so they can differ.
    """

    def __init__(
        self,
        backend: Backend,
        *,
        ledger: Ledger | None = None,
        retries: int = 2,
        temperature: float = 0.0,
        retry_temperature: float = 0.8,
        max_tokens: int = 48,
        seed: int = 0,
        stop: Sequence[str] = ("\n",),
    ) -> None:
        if not isinstance(retries, int) or retries < 0:
            raise ConfigError(f"retries must be an integer >= 0, got {retries!r}")
        self.backend = backend
        self.ledger = ledger if ledger is not None else Ledger()
        self.retries = retries
        self.temperature = temperature
        self.retry_temperature = retry_temperature
        self.max_tokens = max_tokens
        self.stop = tuple(stop)
        self._rng = random.Random(seed)

    def _params(self, *, n: int, temperature: float, max_tokens: int | None) -> SamplingParams:
        return SamplingParams(n=n, temperature=temperature, max_tokens=max_tokens or self.max_tokens,
                              stop=self.stop, seed=self._rng.randrange(2**31))

    def _parse(self, text: str, prefix: str, required: Mapping[str, TypeSpec] | None,
               nonempty: tuple[str, ...], validate: Validator | None) -> dict[str, Any]:
        value = parse_json_answer(text, prefix=prefix, required=required, nonempty=nonempty)
        return validate(value) if validate else value

    def ask(
        self,
        role: str,
        prompt: str,
        *,
        prefix: str = THOUGHT_PREFIX,
        required: Mapping[str, TypeSpec] | None = None,
        nonempty: tuple[str, ...] = (),
        validate: Validator | None = None,
        max_tokens: int | None = None,
        temperature: float | None = None,
    ) -> Answer:
        """One answer, retried up to ``retries`` times when it does not parse or validate."""
        stats = self.ledger.role(role)
        stats.requests += 1
        texts: list[str] = []
        errors: list[str] = []
        first_t = self.temperature if temperature is None else temperature
        for attempt in range(self.retries + 1):
            t = first_t if attempt == 0 else max(first_t, self.retry_temperature)
            gen = self.backend.generate([prompt + prefix], self._params(n=1, temperature=t, max_tokens=max_tokens))[0]
            self.ledger.record_usage(role, gen.usage)
            text = gen.completions[0].text
            texts.append(text)
            try:
                return Answer(self._parse(text, prefix, required, nonempty, validate), tuple(texts), tuple(errors))
            except ParseError as exc:
                stats.parse_failures += 1
                errors.append(str(exc))
        stats.fallbacks += 1
        return Answer(None, tuple(texts), tuple(errors))

    def sample(
        self,
        role: str,
        prompt: str,
        *,
        n: int,
        prefix: str = THOUGHT_PREFIX,
        required: Mapping[str, TypeSpec] | None = None,
        nonempty: tuple[str, ...] = (),
        validate: Validator | None = None,
        max_tokens: int | None = None,
        temperature: float | None = None,
    ) -> list[Answer]:
        """``n`` sampled answers from one call (no retries: the caller uses what parsed)."""
        stats = self.ledger.role(role)
        stats.requests += n
        t = max(self.retry_temperature, self.temperature) if temperature is None else temperature
        gen = self.backend.generate([prompt + prefix], self._params(n=n, temperature=t, max_tokens=max_tokens))[0]
        self.ledger.record_usage(role, gen.usage)
        out = []
        for text in gen.texts:
            try:
                out.append(Answer(self._parse(text, prefix, required, nonempty, validate), (text,)))
            except ParseError as exc:
                stats.parse_failures += 1
                out.append(Answer(None, (text,), (str(exc),)))
        return out

    def uniform(self, seq: Sequence[Any]) -> Any:
        """A uniform choice from this caller's own random stream (for explicit fallbacks)."""
        return self._rng.choice(list(seq))
