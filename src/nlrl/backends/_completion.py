"""One sample's completion, built token by token: the rule every engine follows.

An engine samples a token, decodes its text and hands both to ``CompletionBuilder.accept``; the
builder keeps the token and its log-probability, releases the text that can no longer turn out
to be the start of a stop string (``StopBuffer``), streams it to ``on_token`` and says whether to
go on. ``finish`` flushes what the detokenizer and the stop buffer still hold and returns the
``Completion``. This is where engines used to differ by one token, so it exists once:

* an end-of-sequence token ends the sample (``finish_reason="stop"``) and is not kept;
* a token whose text completes a stop string is kept; the text ends before the stop string;
* ``on_token`` returning True ends the sample at once (``"answer"``): nothing held back is
  released, so the text is exactly what was streamed;
* reaching ``max_tokens`` ends it with ``"length"``, and the held-back tail is released.

>>> from nlrl.backends.base import SamplingParams
>>> b = CompletionBuilder(0, SamplingParams(stop=["\\nQ:"]))
>>> b.accept(7, "4\\n"), b.accept(8, "Q:"), b.done
(True, False, True)
>>> b.finish()
Completion(index=0, text='4', token_ids=(7, 8), logprobs=None, finish_reason='stop')
"""

from __future__ import annotations

from ._stops import StopBuffer
from .base import Completion, SamplingParams, TokenCallback, TokenEvent


class CompletionBuilder:
    """The state of one sample while it decodes.

    ``max_tokens``: ``accept`` answers False once this many tokens are kept (None: the caller
    bounds its own loop). ``logprobs``: whether the completion carries log-probabilities
    (default: ``params.logprobs``)."""

    __slots__ = ("index", "ids", "finish_reason", "done", "_pi", "_on_token", "_stops", "_lps",
                 "_logprobs", "_max")

    def __init__(self, index: int, params: SamplingParams, *, prompt_index: int = 0,
                 on_token: TokenCallback | None = None, max_tokens: int | None = None,
                 logprobs: bool | None = None) -> None:
        self.index = index
        self.ids: list[int] = []
        self.finish_reason = "length"
        self.done = False
        self._pi = prompt_index
        self._on_token = on_token
        self._stops = StopBuffer(params.stop)
        self._lps: list[float] = []
        self._logprobs = params.logprobs if logprobs is None else logprobs
        self._max = max_tokens

    def accept(self, token: int, text: str | None, logprob: float | None = None) -> bool:
        """Keep ``token`` (its decoded ``text``); False once the sample is finished.

        ``text=None`` defers detokenizing to ``finish`` (only when there are no stop strings
        and nothing streams)."""
        self.ids.append(token)
        if logprob is not None:
            self._lps.append(logprob)
        if text is not None:
            released, stopped = self._stops.feed(text)
            if released and self._on_token is not None and self._on_token(
                    TokenEvent(self._pi, self.index, released, token, logprob)):
                return self._end("answer")
            if stopped:
                return self._end("stop")
        if self._max is not None and len(self.ids) >= self._max:
            self.done = True
            return False
        return True

    def end_of_sequence(self) -> None:
        """The model sampled its end-of-sequence token (not kept)."""
        self._end("stop")

    def _end(self, reason: str) -> bool:
        self.finish_reason, self.done = reason, True
        return False

    def finish(self, tail: str = "") -> Completion:
        """The completion. ``tail``: text the detokenizer still held (or all of it, when
        ``accept`` was given none); streamed with what the stop buffer held back, unless the
        sample stopped or was answered."""
        stops = self._stops
        if self.finish_reason != "answer" and not stops.stopped:
            out, stopped = stops.feed(tail)
            if stopped:
                self.finish_reason = "stop"
            else:
                out += stops.flush()
            if out and self._on_token is not None:
                self._on_token(TokenEvent(self._pi, self.index, out, None, None))
        self.done = True
        return Completion(self.index, stops.text, tuple(self.ids),
                          tuple(self._lps) if self._logprobs else None,
                          self.finish_reason)  # type: ignore[arg-type]
