"""A deterministic backend that replays given outputs token by token (the test double).

It is a real implementation of the protocol, not a mock: it tokenizes its scripted text, streams
every token through ``on_token`` (honouring early stops), applies ``stop`` strings and
``max_tokens``, and accounts usage the way an engine with a KV prefix cache would (the prompt is
evaluated once per prompt, however many samples are drawn). It records every request it served.

>>> b = ScriptedBackend(["2 + 2 = 4.\\nFinal Answer: 4\\n"])
>>> b.complete("What is 2 + 2?").completions[0].text
'2 + 2 = 4.\\nFinal Answer: 4\\n'
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Mapping, Sequence, Union

from .._exceptions import BackendError, ConfigError
from ._completion import CompletionBuilder
from .base import (
    Backend,
    Completion,
    Generation,
    SamplingParams,
    TokenCallback,
    Usage,
    check_prompts,
)

_TOKEN = re.compile(r"\s*[A-Za-z]+|\s*\d|\s*[^\sA-Za-z\d]|\s+")

Script = Union[Sequence[str], Mapping[str, Sequence[str]], Callable[[str, int], str]]


def tokenize(text: str) -> list[str]:
    """Split text into word-, digit- and symbol-sized pieces that join back to ``text``."""
    return _TOKEN.findall(text)


@dataclass(frozen=True)
class ScriptedRequest:
    prompt: str
    params: SamplingParams


class ScriptedBackend(Backend):
    """Replays ``outputs``.

    ``outputs`` is one of:
      * a list of strings, served in order across all calls (``cycle=True`` restarts it);
      * a mapping ``{substring: [outputs...]}``: the first key found in the prompt serves its
        list in order (useful when a strategy sends different kinds of prompts);
      * a callable ``(prompt, sample_index) -> str``.
    ``logprob`` optionally maps each token's text to its log-probability; ``embedding``
    optionally maps a text to its vector (then :meth:`embed` works).
    """

    name = "scripted"
    cache_completions = False  # free to replay, and two script files share the model name

    def __init__(
        self,
        outputs: Script = (),
        *,
        cycle: bool = False,
        logprob: Callable[[str], float] | None = None,
        context_length: int | None = None,
        model_name: str = "scripted",
        chat: bool = False,
        embedding: Callable[[str], Sequence[float]] | None = None,
    ) -> None:
        self._outputs = outputs
        self._embedding = embedding
        self._cycle = cycle
        self._logprob = logprob
        self._context_length = context_length
        self._model_name = model_name
        self.chat = chat
        self._positions: dict[str | None, int] = {}
        self.requests: list[ScriptedRequest] = []

    @classmethod
    def load(cls, model: str | None = None, **options: object) -> "ScriptedBackend":
        """``--backend scripted --model FILE`` replays FILE (see :meth:`from_file`)."""
        return _scripted_from_model(model, **options)

    @classmethod
    def from_file(cls, path: str | Path, **kw: object) -> "ScriptedBackend":
        """Load a script: a JSON list of strings or mapping, or a text file split on lines of '---'."""
        p = Path(path)
        try:
            raw = p.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"cannot read scripted outputs {p}: {exc.strerror or exc}") from exc
        if p.suffix == ".json":
            try:
                data = json.loads(raw)
            except json.JSONDecodeError as exc:
                raise ConfigError(f"scripted outputs {p} is not valid JSON: {exc.msg}") from exc
        else:
            data = [chunk.strip("\n") + "\n" for chunk in re.split(r"(?m)^---\s*$", raw) if chunk.strip()]
        return cls(data, **kw)  # type: ignore[arg-type]

    # ---- protocol ---------------------------------------------------------------------------

    @property
    def model_name(self) -> str:
        return self._model_name

    @property
    def context_length(self) -> int | None:
        return self._context_length

    @property
    def supports_logprobs(self) -> bool:
        return self._logprob is not None

    def count_tokens(self, text: str) -> int:
        return len(tokenize(text))

    @property
    def supports_embeddings(self) -> bool:
        return self._embedding is not None

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        if self._embedding is None:
            return super().embed(texts)
        return [[float(x) for x in self._embedding(t)] for t in texts]

    def apply_chat_template(self, messages: list[dict[str, str]]) -> str | None:
        if not self.chat:
            return None
        body = "".join(f"<{m['role']}>\n{m['content']}\n" for m in messages)
        return body + "<assistant>\n"

    def generate(
        self,
        prompts: Sequence[str],
        params: SamplingParams,
        *,
        on_token: TokenCallback | None = None,
    ) -> list[Generation]:
        check_prompts(prompts)
        out = []
        for pi, prompt in enumerate(prompts):
            self.check_prompt(prompt, params.max_tokens)
            start = time.perf_counter()
            self.requests.append(ScriptedRequest(prompt, params))
            comps = tuple(self._complete(pi, prompt, i, params, on_token) for i in range(params.n))
            usage = Usage(
                prompt_tokens=self.count_tokens(prompt),
                completion_tokens=sum(c.num_tokens for c in comps),
                calls=1,
                wall_s=time.perf_counter() - start,
            )
            out.append(Generation(prompt, comps, usage))
        return out

    # ---- internals --------------------------------------------------------------------------

    def _next_script(self, prompt: str, index: int) -> str:
        outputs = self._outputs
        if callable(outputs):
            return outputs(prompt, index)
        key: str | None = None
        seq: Sequence[str]
        if isinstance(outputs, Mapping):
            key = next((k for k in outputs if k in prompt), None)
            if key is None:
                raise BackendError(
                    f"scripted backend has no output for a prompt containing none of "
                    f"{list(outputs)!r}", provider=self.name)
            seq = outputs[key]
        else:
            seq = outputs
        pos = self._positions.get(key, 0)
        if pos >= len(seq):
            if not (self._cycle and seq):
                raise BackendError(
                    f"scripted backend ran out of outputs after {pos}", provider=self.name)
            pos = 0
        self._positions[key] = pos + 1
        return seq[pos]

    def _complete(
        self, pi: int, prompt: str, index: int, params: SamplingParams, on_token: TokenCallback | None
    ) -> Completion:
        script = self._next_script(prompt, index)
        out = CompletionBuilder(index, params, prompt_index=pi, on_token=on_token,
                                logprobs=params.logprobs and self._logprob is not None)
        for tok in tokenize(script):
            if len(out.ids) >= params.max_tokens:
                break
            if not out.accept(hash(tok) & 0x7FFFFFFF, tok, self._logprob(tok) if self._logprob else None):
                break
        else:
            out.end_of_sequence()  # the script ended: the scripted model's end of sequence
        return out.finish()


def _scripted_from_model(model: str | None = None, **kw: object) -> ScriptedBackend:
    """``--backend scripted --model FILE`` replays FILE (see ``from_file``)."""
    if model is None:
        raise ConfigError("the scripted backend needs --model FILE: a JSON list of outputs, "
                          "or a text file of outputs separated by lines of '---'")
    return ScriptedBackend.from_file(model, **kw)
