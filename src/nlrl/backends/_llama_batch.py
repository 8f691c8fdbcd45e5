"""Batched multi-sequence sampling on llama.cpp: N samples of one prompt decoded together.

The prompt is evaluated once into sequence 0; its KV entries are then shared with sequences
1..N-1 (``llama_memory_seq_cp`` on a unified KV cache tags the same cells, it copies nothing),
and every decoding step feeds one token per live sequence in a single ``llama_decode``. On a CPU
the weights are read once per step for all N sequences instead of once per token, which is
where sequential sampling spends its time.

This uses llama.cpp's C API through ``llama_cpp``'s ctypes bindings (the high-level ``Llama``
class serves one sequence). It owns a second context on the same loaded model.

Prompts are evaluated the *canonical* way (``reusable_prefix``), so a seeded request samples the
same tokens whether its prompt was cached or not.
"""

from __future__ import annotations

import codecs
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np

from .._exceptions import BackendError
from ._completion import CompletionBuilder
from .base import Completion, SamplingParams, TokenCallback

_RANDOM_SEED = 0xFFFFFFFF


#: Prompts are evaluated in chunks of this many tokens from position 0 (``reusable_prefix``).
PROMPT_CHUNK = 64


def reusable_prefix(cached: Sequence[int], head: Sequence[int], chunk: int = PROMPT_CHUNK) -> int:
    """How many leading tokens of ``head`` may keep the KV entries left by evaluating ``cached``.

    A prompt is evaluated canonically: all tokens but the last (the head) from position 0 in
    chunks of ``chunk`` tokens, then the last token alone, whose logits start sampling.
    llama.cpp's CPU kernels depend on a batch's shape (the same row of a matrix product can come
    out differently in a 49-row batch than alone), so a KV entry is reused only if it was
    computed in the very chunk this head would evaluate: a whole chunk holding the same tokens,
    or all of an identical head. Then a cached prompt and a freshly evaluated one give
    bit-identical logits.
    """
    common = 0
    for a, b in zip(cached, head):
        if a != b:
            break
        common += 1
    if common == len(cached) == len(head):
        return common
    return common - common % chunk


def token_logprob(logits: Any, n_vocab: int, tok: int) -> float:
    """log softmax(logits)[tok], from llama.cpp's logits pointer (a row of ``n_vocab`` floats)."""
    row = np.ctypeslib.as_array(logits, shape=(n_vocab,))
    top = float(row.max())
    return float(row[tok] - top - np.log(np.exp(row - top).sum()))


@dataclass
class _Seq:
    sampler: Any
    out: CompletionBuilder
    decoder: Any = field(default_factory=lambda: codecs.getincrementaldecoder("utf-8")(errors="replace"))


class BatchedSampler:
    """Samples several continuations of a prompt in lock-step on its own llama.cpp context."""

    def __init__(self, llm: Any, *, n_ctx: int, n_seq_max: int, n_batch: int, n_threads: int,
                 reproducible: bool = True) -> None:
        import llama_cpp

        self._lc = llama_cpp
        self._llm = llm
        params = llama_cpp.llama_context_default_params()
        params.n_ctx = n_ctx
        params.n_batch = n_batch
        params.n_ubatch = n_batch
        params.n_seq_max = n_seq_max
        params.n_threads = n_threads
        params.n_threads_batch = n_threads
        params.kv_unified = True   # sequences share the prompt's cells
        params.swa_full = True     # sliding-window layers keep the shared prompt for every sequence
        ctx = llama_cpp.llama_init_from_model(llm._model.model, params)
        if ctx is None:
            raise BackendError("cannot create a batched llama.cpp context", provider="embedded")
        self._ctx = ctx
        self._mem = llama_cpp.llama_get_memory(ctx)
        self.n_ctx = n_ctx
        self.n_seq_max = n_seq_max
        self.n_batch = n_batch
        self.reproducible = reproducible
        self._batch = llama_cpp.llama_batch_init(max(n_batch, n_seq_max), 0, 1)
        self._cached: list[int] = []  # prompt tokens whose KV sits in sequence 0
        self._canon: list[int] = []   # the prefix of it evaluated canonically (reusable_prefix)
        self._n_vocab = llm.n_vocab()

    def close(self) -> None:
        if self._ctx is not None:
            self._lc.llama_batch_free(self._batch)
            self._lc.llama_free(self._ctx)
            self._ctx = None

    # -- decoding ---------------------------------------------------------------------------

    def _decode(self, items: Sequence[tuple[int, int, int, bool]],
                on_chunk: Callable[[int, int], None] | None = None, size: int | None = None) -> None:
        """Decode (token, pos, seq, want_logits) items, in chunks of ``size`` (n_batch). A
        chunk's logits live only until the next decode: ``on_chunk(start, size)`` reads them."""
        b = self._batch
        size = min(size or self.n_batch, self.n_batch)
        for start in range(0, len(items), size):
            chunk = items[start : start + size]
            for k, (tok, pos, seq, want) in enumerate(chunk):
                b.token[k] = tok
                b.pos[k] = pos
                b.n_seq_id[k] = 1
                b.seq_id[k][0] = seq
                b.logits[k] = want
            b.n_tokens = len(chunk)
            rc = self._lc.llama_decode(self._ctx, b)
            if rc != 0:
                raise BackendError(f"llama_decode failed (code {rc}): the KV cache is full",
                                   provider="embedded")
            if on_chunk is not None:
                on_chunk(start, len(chunk))

    def _reuse(self, tokens: list[int], keep_last: int) -> int:
        """Drop every sequence but the cached prefix of ``tokens`` in sequence 0 (at most
        ``keep_last`` tokens of it); returns where decoding must start."""
        lc, mem = self._lc, self._mem
        common = 0
        for a, b in zip(self._cached, tokens):
            if a != b:
                break
            common += 1
        common = min(common, keep_last)
        for s in range(1, self.n_seq_max):
            lc.llama_memory_seq_rm(mem, s, -1, -1)
        if not lc.llama_memory_seq_rm(mem, 0, common, -1):
            lc.llama_memory_clear(mem, True)
            common = 0
        self._cached = list(tokens[:common])
        return common

    def _prefill(self, tokens: list[int]) -> int:
        """Evaluate the prompt into sequence 0, reusing the cached prefix; returns the tokens
        evaluated. Reproducible: canonically (``reusable_prefix``); else any cached prefix is
        reused and the last token is fed with the rest (the original, cache-dependent way)."""
        head = tokens[:-1]
        keep = reusable_prefix(self._canon, head) if self.reproducible else len(head)
        common = self._reuse(tokens, keep)
        self._canon = self._canon[:common] if self.reproducible else []
        try:
            if self.reproducible:
                # `common` is a chunk boundary (or the whole head): chunks start where they did
                self._decode([(t, common + k, 0, False) for k, t in enumerate(head[common:])],
                             size=PROMPT_CHUNK)
                self._decode([(tokens[-1], len(head), 0, True)])
            else:
                self._decode([(t, common + k, 0, common + k == len(head))
                              for k, t in enumerate(tokens[common:])])
        except BaseException:
            self._lc.llama_memory_clear(self._mem, True)
            self._cached, self._canon = [], []
            raise
        if self.reproducible:
            self._canon = list(head)
        self._cached = list(tokens)
        return len(tokens) - common

    def score(self, prompt: list[int], text: list[int]) -> list[float]:
        """Log-probability of each token of ``text`` following ``prompt`` (teacher forcing)."""
        full = prompt + text
        common = self._reuse(full, len(prompt) - 1)  # logits from the prompt's last token on
        items = [(t, p, 0, p >= len(prompt) - 1) for p, t in enumerate(full[common:], start=common)]
        out: list[float] = []

        def read(start: int, size: int) -> None:
            for k in range(size):
                tok, p, _, want = items[start + k]
                if want and p + 1 < len(full):
                    out.append(self._logprob(k, full[p + 1]))

        # what stays canonical: all of it if nothing of it is re-evaluated, else its whole chunks
        if common < len(self._canon):
            self._canon = self._canon[: common - common % PROMPT_CHUNK]
        try:
            self._decode(items, read)
        except BaseException:
            self._lc.llama_memory_clear(self._mem, True)
            self._cached, self._canon = [], []
            raise
        self._cached = full
        return out

    def _sampler(self, params: SamplingParams, seed: int | None) -> Any:
        lc = self._lc
        chain = lc.llama_sampler_chain_init(lc.llama_sampler_chain_default_params())
        if params.temperature == 0.0:
            lc.llama_sampler_chain_add(chain, lc.llama_sampler_init_greedy())
            return chain
        if params.top_k > 0:
            lc.llama_sampler_chain_add(chain, lc.llama_sampler_init_top_k(params.top_k))
        if params.top_p < 1.0:
            lc.llama_sampler_chain_add(chain, lc.llama_sampler_init_top_p(params.top_p, 1))
        lc.llama_sampler_chain_add(chain, lc.llama_sampler_init_temp(params.temperature))
        lc.llama_sampler_chain_add(chain, lc.llama_sampler_init_dist(_RANDOM_SEED if seed is None else seed))
        return chain

    def _logprob(self, batch_index: int, tok: int) -> float:
        return token_logprob(self._lc.llama_get_logits_ith(self._ctx, batch_index), self._n_vocab, tok)

    def sample(
        self,
        prompt_index: int,
        tokens: list[int],
        params: SamplingParams,
        first_index: int,
        count: int,
        max_tokens: int,
        piece: Callable[[int], bytes],
        is_eog: Callable[[int], bool],
        on_token: TokenCallback | None,
    ) -> tuple[list[Completion], int]:
        """``count`` completions (indices first_index..) of ``tokens``; returns them and the
        number of prompt tokens evaluated."""
        lc = self._lc
        evaluated = self._prefill(tokens)
        for s in range(1, count):
            lc.llama_memory_seq_cp(self._mem, 0, s, -1, -1)
        seqs = [_Seq(self._sampler(params, params.seed_for(first_index + s)),
                     CompletionBuilder(first_index + s, params, prompt_index=prompt_index,
                                       on_token=on_token, max_tokens=max_tokens))
                for s in range(count)]
        # batch position of each live sequence's logits: after the prefill, all share the last
        logit_pos = {s: -1 for s in range(count)}
        pos = len(tokens)
        try:
            while True:
                feed = []
                for s, seq in enumerate(seqs):
                    if seq.out.done:
                        continue
                    tok = lc.llama_sampler_sample(seq.sampler, self._ctx, logit_pos[s])
                    if is_eog(tok):
                        seq.out.end_of_sequence()
                        continue
                    lp = self._logprob(logit_pos[s], tok) if params.logprobs else None
                    if seq.out.accept(tok, seq.decoder.decode(piece(tok)), lp):
                        feed.append((tok, pos, s, True))
                if not feed:
                    break
                self._decode(feed)
                logit_pos = {item[2]: k for k, item in enumerate(feed)}
                pos += 1
        except BaseException:
            lc.llama_memory_clear(self._mem, True)
            self._cached, self._canon = [], []
            raise
        finally:
            for seq in seqs:
                lc.llama_sampler_free(seq.sampler)
        out = [seq.out.finish(seq.decoder.decode(b"", final=True)) for seq in seqs]
        return out, evaluated
