"""The one protocol every engine implements, and the value types it speaks.

A backend turns prompts into completions. It is batch-first and order-preserving (vLLM's
``LLM.generate``): ``generate(prompts, params)`` returns one :class:`Generation` per prompt, in
order, each holding ``params.n`` :class:`Completion` objects and the :class:`Usage` it cost.

Streaming is a callback, not a second API: ``on_token`` receives every :class:`TokenEvent` as it
is decoded and may return ``True`` to end that completion at once (finish_reason ``"answer"``).
That is how the pipeline stops as soon as the final-answer line is written.
"""

from __future__ import annotations

import asyncio
import math
from abc import ABC, abstractmethod
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Literal, Mapping, Sequence

from .._exceptions import ConfigError, PromptError

FinishReason = Literal["stop", "length", "answer"]


@dataclass(frozen=True)
class SamplingParams:
    """Sampling parameters with OpenAI's names, normalised then range-checked.

    ``temperature=0`` is greedy decoding. ``seed`` makes sampling reproducible: completion ``i``
    of a request uses ``seed + i``, so n samples with one seed are n different samples.
    """

    n: int = 1
    temperature: float = 0.0
    top_p: float = 1.0
    top_k: int = 0
    max_tokens: int = 256
    stop: tuple[str, ...] = ()
    seed: int | None = None
    logprobs: bool = False
    repetition_penalty: float = 1.0

    def __post_init__(self) -> None:
        stop = self.stop
        if isinstance(stop, str):
            stop = (stop,)
        object.__setattr__(self, "stop", tuple(s for s in (stop or ()) if s))
        _check(self.n >= 1 and isinstance(self.n, int), "n", self.n, "an integer >= 1")
        _check(_finite(self.temperature) and self.temperature >= 0, "temperature", self.temperature, ">= 0")
        _check(_finite(self.top_p) and 0 < self.top_p <= 1, "top_p", self.top_p, "in (0, 1]")
        _check(isinstance(self.top_k, int) and self.top_k >= 0, "top_k", self.top_k, "an integer >= 0 (0 = off)")
        _check(isinstance(self.max_tokens, int) and self.max_tokens >= 1, "max_tokens", self.max_tokens, "an integer >= 1")
        _check(_finite(self.repetition_penalty) and self.repetition_penalty > 0,
               "repetition_penalty", self.repetition_penalty, "> 0")
        if self.seed is not None:
            _check(isinstance(self.seed, int) and self.seed >= 0, "seed", self.seed, "an integer >= 0")

    def replace(self, **changes: object) -> "SamplingParams":
        return replace(self, **changes)

    @property
    def greedy(self) -> bool:
        return self.temperature == 0.0

    def seed_for(self, index: int) -> int | None:
        return None if self.seed is None else self.seed + index


def _finite(x: float) -> bool:
    return isinstance(x, (int, float)) and math.isfinite(x)


def _check(ok: bool, name: str, value: object, want: str) -> None:
    if not ok:
        raise ConfigError(f"invalid sampling parameter {name}={value!r}: must be {want}")


@dataclass(frozen=True)
class Completion:
    """One sampled continuation. ``logprobs`` holds one log-probability per token, or None."""

    index: int
    text: str
    token_ids: tuple[int, ...] = ()
    logprobs: tuple[float, ...] | None = None
    finish_reason: FinishReason = "stop"

    @property
    def num_tokens(self) -> int:
        return len(self.token_ids)


@dataclass(frozen=True)
class Usage:
    """What work was done: tokens the engine evaluated for prompts, tokens it generated,
    model calls made and wall time. Adds with ``+`` so strategies can total their steps."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    calls: int = 0
    wall_s: float = 0.0

    def __add__(self, other: "Usage") -> "Usage":
        return Usage(
            self.prompt_tokens + other.prompt_tokens,
            self.completion_tokens + other.completion_tokens,
            self.calls + other.calls,
            self.wall_s + other.wall_s,
        )

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def to_dict(self) -> dict[str, float | int]:
        return {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "total_tokens": self.total_tokens,
            "calls": self.calls,
            "wall_s": round(self.wall_s, 4),
        }

    @staticmethod
    def total(usages: "Sequence[Usage]") -> "Usage":
        out = Usage()
        for u in usages:
            out = out + u
        return out


@dataclass(frozen=True)
class Generation:
    """The completions of one prompt, with what producing them cost."""

    prompt: str
    completions: tuple[Completion, ...]
    usage: Usage = field(default_factory=Usage)

    @property
    def texts(self) -> list[str]:
        return [c.text for c in self.completions]


@dataclass(frozen=True)
class TokenEvent:
    """One decoded piece of a completion, delivered while it is generated."""

    prompt_index: int
    index: int
    text: str
    token_id: int | None = None
    logprob: float | None = None


# Returns True to end this completion now (finish_reason "answer").
TokenCallback = Callable[[TokenEvent], "bool | None"]


class TokenObserver(ABC):
    """A token callback that also learns when a new backend call starts.

    Completion indices (``TokenEvent.index``) restart at 0 with every ``generate`` call; an
    observer that keeps per-sample state across the calls of one strategy run (the gist stream,
    DeepConf's confidence gate) subclasses this, and :meth:`nlrl.strategies.Run.generate` calls
    :meth:`next_call` before each call. A plain function is a fine ``TokenCallback`` too.
    """

    @abstractmethod
    def __call__(self, event: TokenEvent) -> "bool | None":
        """See ``TokenCallback``: return True to end this completion now."""

    def next_call(self) -> None:
        """A new backend call starts (default: nothing to reset)."""


class Backend(ABC):
    """A text-generation engine. One required method: :meth:`generate`."""

    #: registry name, e.g. "embedded"
    name: str = "backend"
    #: completion-style base model (few-shot prompts) vs instruct model (chat template)
    chat: bool = False
    #: samples worth having in flight at once (a benchmark's default concurrency): 1 for an
    #: in-process engine, more for one whose calls are network requests
    concurrent_requests: int = 1
    #: greedy completions may be cached across runs (False: the outputs are free, or the model
    #: name does not identify them)
    cache_completions: bool = True
    #: constructor keyword ← ``nlrl.config.Settings`` field, for :meth:`options_from_settings`
    settings_options: Mapping[str, str] = {"chat": "chat"}

    @classmethod
    def load(cls, model: str | None = None, **options: Any) -> "Backend":
        """Build the backend for ``model`` (a path, an id, a script file); what
        :func:`~nlrl.backends.load_backend` calls on the registered class."""
        return cls(model, **options)  # type: ignore[call-arg]

    @classmethod
    def options_from_settings(cls, settings: Any, base_url: Sequence[str] | None = None) -> dict[str, Any]:
        """The keyword options :meth:`load` gets from ``settings`` (flags, environment, config
        file): the fields :attr:`settings_options` names that are set (None, False and 0 are
        not); ``base_url`` (repeated ``--base-url``) wins for a backend that takes ``base_url``."""
        options = {kw: getattr(settings, f) for kw, f in cls.settings_options.items()
                   if getattr(settings, f, None) not in (None, False)}  # 0 == False: unset too
        if base_url and "base_url" in cls.settings_options:
            options["base_url"] = list(base_url) if len(base_url) > 1 else base_url[0]
        return options

    @abstractmethod
    def generate(
        self,
        prompts: Sequence[str],
        params: SamplingParams,
        *,
        on_token: TokenCallback | None = None,
    ) -> list[Generation]:
        """Generate ``params.n`` completions for each prompt, in order."""

    # ---- optional capabilities, with honest defaults -------------------------------------

    @property
    def model_name(self) -> str:
        return self.name

    @property
    def context_length(self) -> int | None:
        """Tokens the model can attend to, or None when unknown."""
        return None

    @property
    def supports_logprobs(self) -> bool:
        return False

    def count_tokens(self, text: str) -> int | None:
        """Tokens ``text`` encodes to, or None when the backend cannot tell."""
        return None

    @property
    def supports_embeddings(self) -> bool:
        """Whether :meth:`embed` gives the model's own representation of a text."""
        return False

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """One vector per text: the model's hidden states, mean-pooled (not normalised)."""
        raise ConfigError(f"backend {self.name} ({self.model_name}) cannot embed text")

    def apply_chat_template(self, messages: list[dict[str, str]]) -> str | None:
        """Render chat messages with the model's own template; None when it has none."""
        return None

    def check_prompt(self, prompt: str, max_tokens: int = 0) -> None:
        """Raise :class:`PromptError` when ``prompt`` cannot fit the context with room to answer."""
        limit = self.context_length
        count = self.count_tokens(prompt) if limit else None
        if limit and count is not None and count + max_tokens > limit:
            if count + 1 > limit:  # too long whatever the token limit: do not blame max_tokens
                raise PromptError(f"prompt is {count} tokens: with a single token to answer it exceeds "
                                  f"the {limit}-token context of {self.model_name}")
            raise PromptError(
                f"prompt is {count} tokens; with max_tokens={max_tokens} it exceeds the "
                f"{limit}-token context of {self.model_name}"
            )

    # ---- callers on an event loop (``nlrl serve``) ---------------------------------------

    async def agenerate(
        self,
        prompts: Sequence[str],
        params: SamplingParams,
        *,
        on_token: TokenCallback | None = None,
    ) -> list[Generation]:
        """:meth:`generate` for a caller on an event loop. By default it runs in a worker thread;
        a backend whose I/O is asynchronous runs it on the caller's loop once
        :meth:`attach_loop` has given it that loop (``on_token`` is then called on it)."""
        return await asyncio.to_thread(self.generate, prompts, params, on_token=on_token)

    def attach_loop(self, loop: asyncio.AbstractEventLoop) -> bool:
        """Offer ``loop`` (the running loop of the caller, who calls this on it) to do this
        backend's I/O from now on: True when the backend takes it, so :meth:`agenerate` awaits
        its requests there with no thread in between. A caller that got True calls
        :meth:`detach_loop` on that loop before the loop ends. The default takes nothing."""
        return False

    async def detach_loop(self) -> None:
        """Give back the loop :meth:`attach_loop` took (its connections are closed on it); the
        backend then works as before it was attached."""

    def close(self) -> None:
        """Release the engine's resources."""

    def __enter__(self) -> "Backend":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def complete(self, prompt: str, params: SamplingParams | None = None, **kw: object) -> Generation:
        """Convenience: one prompt in, its :class:`Generation` out."""
        return self.generate([prompt], params or SamplingParams(), **kw)[0]  # type: ignore[arg-type]


class WrappedBackend(Backend):
    """A backend that adds behaviour around another one (caching, metering) and otherwise
    behaves as ``inner`` does: every capability, including optional ones a backend adds
    (``score_text``, say), reaches ``inner``. Subclasses override :meth:`generate`."""

    def __init__(self, inner: Backend) -> None:
        self.inner = inner
        self.name = inner.name
        self.chat = inner.chat

    def generate(self, prompts: Sequence[str], params: SamplingParams, *,
                 on_token: TokenCallback | None = None) -> list[Generation]:
        return self.inner.generate(prompts, params, on_token=on_token)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_") or name == "inner":
            raise AttributeError(name)
        return getattr(self.inner, name)

    @property
    def model_name(self) -> str:
        return self.inner.model_name

    @property
    def context_length(self) -> int | None:
        return self.inner.context_length

    @property
    def supports_logprobs(self) -> bool:
        return self.inner.supports_logprobs

    def count_tokens(self, text: str) -> int | None:
        return self.inner.count_tokens(text)

    @property
    def supports_embeddings(self) -> bool:
        return self.inner.supports_embeddings

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        return self.inner.embed(texts)

    def apply_chat_template(self, messages: list[dict[str, str]]) -> str | None:
        return self.inner.apply_chat_template(messages)

    def check_prompt(self, prompt: str, max_tokens: int = 0) -> None:
        self.inner.check_prompt(prompt, max_tokens)

    def close(self) -> None:
        self.inner.close()


def encode_prompts(backend: Backend, prompts: Sequence[str],
                   tokenize: Callable[[str], list[int]]) -> list[list[int]]:
    """Validate and tokenize every prompt before any is generated, refusing one that leaves no
    room in the context (so a batch fails whole, not halfway)."""
    check_prompts(prompts)
    limit = backend.context_length
    encoded = []
    for p in prompts:
        ids = tokenize(p)
        if not ids:
            raise PromptError(f"prompt encodes to no tokens with {backend.model_name}'s tokenizer")
        if limit and len(ids) + 1 > limit:
            raise PromptError(f"prompt is {len(ids)} tokens, longer than the {limit}-token "
                              f"context of {backend.model_name}")
        encoded.append(ids)
    return encoded


def check_prompts(prompts: Sequence[str]) -> None:
    """Validate prompts the way every backend must: non-empty text."""
    if isinstance(prompts, str):
        raise ConfigError("generate() takes a list of prompts, not a single string")
    for p in prompts:
        if not isinstance(p, str):
            raise PromptError(f"prompt must be text, got {type(p).__name__}")
        if not p.strip():
            raise PromptError("prompt is empty")
