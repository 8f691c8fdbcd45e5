"""Hugging Face transformers: any causal LM, on CPU, CUDA or MPS.

Why our own decode loop instead of ``model.generate(num_return_sequences=n)``: that call copies
the prompt n times *before* the prefill, so the prompt is encoded n times. Here the prompt is
encoded once (batch 1), its KV cache is copied into n rows, and the n samples decode together as
one batch. Owning the loop also gives per-sample streaming, stop strings and log-probabilities
without a streamer that only supports batch 1. Two loops (``decode=``): the eager one drops a
finished sample (EOS, stop string, ``max_tokens``, ``on_token`` returning True) from the batch
with its cache rows; the fixed-shape one (``_hf_static``, the CUDA default) replays the decode
step as a CUDA graph and keeps every row, which on a GPU is several times faster.
Logits processing (temperature, top-k, top-p, repetition penalty) is transformers' own.

Seeds: a request's samples share one generator seeded with ``params.seed``, so the same request
(prompt, params) reproduces the same n samples; per-row generators would cost n kernel launches
per step on a GPU.
"""

from __future__ import annotations

import inspect
import logging
import os
import threading
import time
from pathlib import Path
from typing import Any, Sequence

from .._exceptions import BackendError, ConfigError, ModelLoadError
from ._completion import CompletionBuilder
from ._hf_static import StaticDecoder, Unsupported
from .base import (
    Backend,
    Completion,
    Generation,
    SamplingParams,
    TokenCallback,
    Usage,
    encode_prompts,
)

_DTYPES = {"float32": "float32", "fp32": "float32", "float16": "float16", "fp16": "float16",
           "half": "float16", "bfloat16": "bfloat16", "bf16": "bfloat16"}
_PROMPT_TAIL = 6  # prompt tokens kept as context when detokenizing (SentencePiece spaces)
_DECODE_MODES = ("auto", "eager", "static", "graph")
_LEN_BUCKET = 256  # static caches are sized in steps of this many positions
_MAX_DECODERS = 2  # fixed-shape decoders (a KV cache and a graph each) kept per backend
_SYNC_EVERY = 8  # static decoding without streaming or stop strings: steps per host sync

log = logging.getLogger(__name__)


def _import_torch() -> tuple[Any, Any]:
    try:
        import torch
        import transformers
    except ImportError as exc:
        raise ModelLoadError("the hf backend needs transformers and torch: pip install 'nlrl[hf]'",
                             provider="hf") from exc
    return torch, transformers


def pick_device(device: str = "auto") -> str:
    """``"auto"``: CUDA, else Apple MPS, else CPU. Otherwise the device asked for, if present."""
    torch, _ = _import_torch()
    if device == "auto":
        if torch.cuda.is_available():
            return "cuda"
        mps = getattr(torch.backends, "mps", None)
        return "mps" if mps is not None and mps.is_available() else "cpu"
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise ConfigError(f"invalid device {device!r}: {exc}") from exc
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device {device!r} asked for, but torch sees no CUDA GPU")
    mps = getattr(torch.backends, "mps", None)
    if dev.type == "mps" and not (mps is not None and mps.is_available()):
        raise ConfigError(f"device {device!r} asked for, but torch sees no Apple MPS device")
    return str(dev)


def pick_dtype(dtype: str, device: str) -> Any:
    """``"auto"``: bfloat16 on GPUs that support it (else float16), float32 on CPU."""
    torch, _ = _import_torch()
    if dtype == "auto":
        if device.startswith("cuda"):
            return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        return torch.float16 if device.startswith("mps") else torch.float32
    name = _DTYPES.get(str(dtype).lower())
    if name is None:
        raise ConfigError(f"invalid dtype {dtype!r}: use auto, {', '.join(sorted(set(_DTYPES.values())))}")
    return getattr(torch, name)


class _Detokenizer:
    """Incremental detokenization over a short window (as TGI and vLLM do): O(1) per token,
    and no half-decoded UTF-8 or lost SentencePiece space ever reaches the stream."""

    def __init__(self, tokenizer: Any, prompt_ids: Sequence[int]) -> None:
        self._tok = tokenizer
        self.ids = list(prompt_ids[-_PROMPT_TAIL:])
        self._prefix = 0
        self._read = len(self.ids)
        self._before: str | None = None  # decode(ids[prefix:read]), kept until they move

    def _decode(self, ids: Sequence[int]) -> str:
        return self._tok.decode(ids, skip_special_tokens=False)

    def push(self, token: int) -> str:
        self.ids.append(token)
        if self._before is None:
            self._before = self._decode(self.ids[self._prefix:self._read])
        after = self._decode(self.ids[self._prefix:])
        if len(after) > len(self._before) and not after.endswith("\ufffd"):
            delta = after[len(self._before):]
            self._prefix, self._read, self._before = self._read, len(self.ids), None
            return delta
        return ""

    def finish(self) -> str:
        """Whatever is still held back (at the end of the sample)."""
        before = self._decode(self.ids[self._prefix:self._read])
        after = self._decode(self.ids[self._prefix:])
        self._prefix = self._read = len(self.ids)
        self._before = None
        return after[len(before):]

    def whole(self, tokens: Sequence[int]) -> str:
        """The text of ``tokens`` decoded at once, in the same prompt context as ``push``."""
        return self._decode(self.ids + list(tokens))[len(self._decode(self.ids)):]


class HFBackend(Backend):
    """Run a transformers causal LM. ``model``: a hub id or a local directory.

    ``device``: ``"auto"`` | ``"cpu"`` | ``"cuda"`` | ``"cuda:1"`` | ``"mps"``. ``dtype``:
    ``"auto"`` | ``"float32"`` | ``"bfloat16"`` | ``"float16"``. ``chat``: whether prompts should go
    through the chat template (default: the tokenizer has one). ``tokenizer``: another hub id or
    directory to load the tokenizer from, or a tokenizer object. ``gguf_file``: a GGUF file in the
    ``model`` directory, dequantised by transformers (needs the ``gguf`` package). ``name``: what
    ``model_name`` reports (default: the GGUF file where one is read, else ``model``), e.g. the
    original a converted copy was made from.

    ``decode``: how the n rows are stepped after the prefill.

    * ``"eager"``: a dynamic KV cache, a finished sample leaving the batch (the CPU default);
    * ``"graph"``: a static KV cache and the decode step captured once as a CUDA graph and
      replayed (the CUDA default; see ``_hf_static``); ``compile=True`` also compiles the step
      with ``torch.compile`` before capturing it;
    * ``"static"``: the same fixed-shape step without the graph (any device);
    * ``"auto"``: ``graph`` on CUDA, else ``eager``.

    A model that cannot decode with a static cache (sliding-window layers, say) falls back to
    ``eager`` with a warning. Greedy output is the same in every mode (up to floating-point
    rounding); seeded sampling reproduces within a mode, not across modes (the batch shapes the
    random draws differ).
    """

    name = "hf"
    settings_options = {"chat": "chat", "device": "device", "dtype": "dtype", "decode": "decode", "compile": "compile"}

    def __init__(
        self,
        model: str | os.PathLike[str] | None,
        *,
        device: str = "auto",
        dtype: str = "auto",
        chat: bool | None = None,
        trust_remote_code: bool = False,
        attn_implementation: str | None = None,
        tokenizer: Any = None,
        decode: str = "auto",
        compile: bool = False,
        gguf_file: str | None = None,
        name: str | None = None,
    ) -> None:
        if not model:
            raise ConfigError("the hf backend needs --model: a hub id or a local model directory")
        torch, transformers = _import_torch()
        self._torch = torch
        self.device = pick_device(device)
        self.dtype = pick_dtype(dtype, self.device)
        if decode not in _DECODE_MODES:
            raise ConfigError(f"invalid decode mode {decode!r}: use {', '.join(_DECODE_MODES)}")
        if decode == "graph" and not self.device.startswith("cuda"):
            raise ConfigError(f"decode='graph' needs a CUDA device, not {self.device!r}")
        self.decode, self.compile = decode, compile
        self._decoders: dict[tuple[int, int], StaticDecoder] = {}
        self._static_error: str | None = None
        ref = str(model)
        local = Path(ref).expanduser()
        looks_local = ref.startswith((".", "/", "~")) or ref.count("/") > 1
        if looks_local and not local.is_dir():
            raise ModelLoadError(f"model directory not found: {ref}", provider=self.name)
        source = str(local) if local.is_dir() else ref
        kw: dict[str, Any] = {"trust_remote_code": trust_remote_code}
        if attn_implementation:
            kw["attn_implementation"] = attn_implementation
        tok_kw: dict[str, Any] = {}
        if gguf_file:
            kw["gguf_file"] = tok_kw["gguf_file"] = gguf_file
        # transformers renamed torch_dtype to dtype in 4.56; older versions would silently
        # store an unknown "dtype" kwarg on the config instead.
        major, minor = (int(x) for x in transformers.__version__.split(".")[:2])
        kw["dtype" if (major, minor) >= (4, 56) else "torch_dtype"] = self.dtype
        try:
            if tokenizer is None or isinstance(tokenizer, (str, os.PathLike)):
                tokenizer = transformers.AutoTokenizer.from_pretrained(
                    str(tokenizer or source), trust_remote_code=trust_remote_code,
                    **({} if tokenizer else tok_kw))
            self.tokenizer = tokenizer
            if not tokenizer("a b 1", add_special_tokens=False)["input_ids"]:
                # transformers 5 builds an empty tokenizer of the model's type where a directory
                # has no tokenizer files, instead of failing
                raise ValueError("its tokenizer encodes text to no tokens (no tokenizer files there?); "
                                 "pass tokenizer=")
            self.model = transformers.AutoModelForCausalLM.from_pretrained(source, **kw)
        except (OSError, ValueError, KeyError) as exc:
            raise ModelLoadError(f"cannot load hf model {ref}: {exc}", provider=self.name) from exc
        self.model.to(self.device).eval()
        # what model_name reports: the GGUF file itself where one was read, else the reference
        self._ref = name or (str(local / gguf_file) if gguf_file and local.is_dir() else ref)
        self.chat = bool(getattr(self.tokenizer, "chat_template", None)) if chat is None else chat
        eos = getattr(self.model.generation_config, "eos_token_id", None)
        eos = eos if isinstance(eos, (list, tuple)) else [eos]
        self._eos = {int(e) for e in [*eos, self.tokenizer.eos_token_id] if e is not None}
        params = inspect.signature(self.model.forward).parameters
        self._keep_kw = next((k for k in ("logits_to_keep", "num_logits_to_keep") if k in params), None)
        # transformers 5.x renamed past_key_values to cache (the old name warns, then goes).
        self._cache_kw = "cache" if "cache" in params else "past_key_values"
        self._lock = threading.Lock()

    # ---- capabilities -----------------------------------------------------------------------

    @property
    def model_name(self) -> str:
        return self._ref

    @property
    def context_length(self) -> int | None:
        cfg = self.model.config
        for key in ("max_position_embeddings", "n_positions", "max_sequence_length", "seq_length"):
            value = getattr(cfg, key, None)
            if isinstance(value, int) and value > 0:
                return value
        return None

    @property
    def supports_logprobs(self) -> bool:
        return True

    def tokenize(self, text: str) -> list[int]:
        return list(self.tokenizer(text, add_special_tokens=True)["input_ids"])

    def count_tokens(self, text: str) -> int:
        return len(self.tokenize(text))

    def apply_chat_template(self, messages: list[dict[str, str]]) -> str | None:
        if not getattr(self.tokenizer, "chat_template", None):
            return None
        return self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)

    def close(self) -> None:
        self._decoders.clear()
        model = self.__dict__.pop("model", None)
        if model is not None and self.device.startswith("cuda"):
            del model
            self._torch.cuda.empty_cache()

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
        with self._lock, self._torch.inference_mode():
            for pi, (prompt, ids) in enumerate(zip(prompts, encoded)):
                start = time.perf_counter()
                try:
                    comps = self._sample(pi, ids, params, on_token)
                except RuntimeError as exc:  # CUDA out of memory, a device-side assert, ...
                    raise BackendError(f"hf model {self._ref} failed: {str(exc).splitlines()[0]}",
                                       provider=self.name) from exc
                usage = Usage(prompt_tokens=len(ids), completion_tokens=sum(c.num_tokens for c in comps),
                              calls=1, wall_s=time.perf_counter() - start)
                out.append(Generation(prompt, tuple(comps), usage))
        return out

    def _processors(self, params: SamplingParams) -> Any:
        from transformers.generation.logits_process import (
            LogitsProcessorList,
            RepetitionPenaltyLogitsProcessor,
            TemperatureLogitsWarper,
            TopKLogitsWarper,
            TopPLogitsWarper,
        )

        procs = LogitsProcessorList()
        if params.repetition_penalty != 1.0:
            procs.append(RepetitionPenaltyLogitsProcessor(params.repetition_penalty))
        if not params.greedy:
            procs.append(TemperatureLogitsWarper(params.temperature))
            if params.top_k:
                procs.append(TopKLogitsWarper(params.top_k))
            if params.top_p < 1.0:
                procs.append(TopPLogitsWarper(params.top_p))
        return procs

    def _forward(self, input_ids: Any, cache: Any) -> Any:
        kw = {self._keep_kw: 1} if self._keep_kw else {}
        kw[self._cache_kw] = cache
        return self.model(input_ids=input_ids, use_cache=True, **kw)

    def _static_decoder(self, n: int, need: int) -> StaticDecoder | None:
        """The fixed-shape decoder for ``n`` rows and ``need`` positions, built (and its graph
        captured) on first use; None where this model cannot use one (then: the eager loop)."""
        mode = self._mode()
        if mode == "eager" or self._static_error is not None:
            return None
        rows = 1 << (n - 1).bit_length()  # buckets, so that a few graphs serve every request
        length = -(-need // _LEN_BUCKET) * _LEN_BUCKET
        limit = self.context_length
        key = (rows, min(length, limit) if limit else length)
        decoder = self._decoders.pop(key, None)
        if decoder is None:
            while len(self._decoders) >= _MAX_DECODERS:  # each holds a KV cache: keep a few
                self._decoders.pop(next(iter(self._decoders)))
            try:
                decoder = StaticDecoder(self.model, *key, cache_kw=self._cache_kw, keep_kw=self._keep_kw,
                                        graph=mode == "graph", compile=self.compile)
            except (Unsupported, RuntimeError, TypeError, ValueError, AttributeError) as exc:
                self._static_error = f"{type(exc).__name__}: {exc}"
                log.warning("hf backend: %s decoding unavailable for %s (%s); using the eager loop",
                            mode, self._ref, self._static_error)
                return None
        self._decoders[key] = decoder  # most recently used last
        return decoder

    def _mode(self) -> str:
        if self.decode == "auto":
            return "graph" if self.device.startswith("cuda") else "eager"
        return self.decode

    def _sample(
        self, pi: int, prompt_ids: list[int], params: SamplingParams, on_token: TokenCallback | None
    ) -> list[Completion]:
        torch = self._torch
        limit = self.context_length
        max_tokens = min(params.max_tokens, limit - len(prompt_ids)) if limit else params.max_tokens
        gen = None
        if params.seed is not None and not params.greedy:
            gen = torch.Generator(device=self.device).manual_seed(params.seed)
        picker = _Picker(self._processors(params), params, gen)
        samples = _Samples(self, pi, prompt_ids, params, on_token)

        prompt = torch.tensor([prompt_ids], dtype=torch.long, device=self.device)
        out = self._forward(prompt, None)  # the one prefill
        cache = getattr(out, self._cache_kw)
        if isinstance(cache, tuple):  # transformers < 4.47 hands some models' caches back as tuples
            from transformers import DynamicCache

            cache = DynamicCache.from_legacy_cache(cache)
        logits = out.logits[:, -1, :].float()
        decoder = self._static_decoder(params.n, len(prompt_ids) + max_tokens) if max_tokens > 1 else None
        if decoder is not None:
            decoder.start(cache, len(prompt_ids))
            del cache
            self._decode_static(decoder, prompt, logits, max_tokens, picker, samples)
        else:
            self._decode_eager(cache, prompt, logits, max_tokens, picker, samples)
        return samples.completions()

    def _decode_eager(self, cache: Any, prompt: Any, logits: Any, max_tokens: int,
                      picker: _Picker, samples: _Samples) -> None:
        """Dynamic cache; a finished sample leaves the batch with its cache rows."""
        torch, n = self._torch, samples.n
        logits = logits.expand(n, -1)
        if n > 1:
            cache.batch_repeat_interleave(n)
        seqs = prompt.expand(n, -1) if picker.needs_history else None
        rows = list(range(n))  # batch row -> sample index
        for step in range(max_tokens):
            nxt, chosen_lp = picker(seqs, logits)
            toks = nxt.tolist()  # the one host sync per step
            lps = chosen_lp.tolist() if chosen_lp is not None else None
            keep = [r for r, (i, tok) in enumerate(zip(rows, toks))
                    if samples.accept(i, tok, lps[r] if lps is not None else None)]
            if not keep or step == max_tokens - 1:
                break
            if len(keep) < len(rows):
                idx = torch.tensor(keep, device=self.device)
                cache.batch_select_indices(idx)
                nxt = nxt[idx]
                if seqs is not None:
                    seqs = seqs[idx]
                rows = [rows[r] for r in keep]
            if seqs is not None:
                seqs = torch.cat([seqs, nxt[:, None]], dim=1)
            logits = self._forward(nxt[:, None], cache).logits[:, -1, :].float()

    def _decode_static(self, decoder: StaticDecoder, prompt: Any, logits: Any, max_tokens: int,
                       picker: _Picker, samples: _Samples) -> None:
        """Fixed-shape steps (CUDA-graph replays on a GPU); every row decodes to the end.

        Tokens reach the host every step only when they must (streaming, stop strings);
        otherwise every ``_SYNC_EVERY`` steps, so that the host queues steps ahead of the GPU
        instead of waiting on each one. A sample may then run up to that many steps past its
        EOS; those tokens are dropped."""
        torch, rows = self._torch, decoder.batch
        logits = logits.expand(rows, -1)
        seqs = prompt.expand(rows, -1) if picker.needs_history else None
        every = 1 if samples.live else _SYNC_EVERY
        active = set(range(samples.n))  # rows >= n are padding up to the bucket
        pending: list[Any] = []
        pending_lp: list[Any] = []
        for step in range(max_tokens):
            nxt, chosen_lp = picker(seqs, logits)
            pending.append(nxt)
            if chosen_lp is not None:
                pending_lp.append(chosen_lp)
            last = step == max_tokens - 1
            if len(pending) == every or last:
                toks = torch.stack(pending, 1).tolist()  # the host sync
                lps = torch.stack(pending_lp, 1).tolist() if pending_lp else None
                pending, pending_lp = [], []
                for i in sorted(active):
                    for j, tok in enumerate(toks[i]):
                        if not samples.accept(i, tok, lps[i][j] if lps is not None else None):
                            active.discard(i)
                            break
                if not active:
                    break
            if last:
                break
            if seqs is not None:
                seqs = torch.cat([seqs, nxt[:, None]], dim=1)
            logits = decoder.step(nxt).float()


class _Picker:
    """Next tokens from logits: transformers' logits processors, then argmax or a draw."""

    def __init__(self, procs: Any, params: SamplingParams, gen: Any) -> None:
        import torch

        self._torch, self._procs, self._params, self._gen = torch, procs, params, gen
        self.needs_history = params.repetition_penalty != 1.0

    def __call__(self, seqs: Any, logits: Any) -> tuple[Any, Any]:
        torch = self._torch
        scores = self._procs(seqs, logits) if len(self._procs) else logits
        if self._params.greedy:
            nxt = scores.argmax(dim=-1)
        else:
            nxt = torch.multinomial(torch.softmax(scores, dim=-1), 1, generator=self._gen).squeeze(1)
        lp = None
        if self._params.logprobs:
            lp = torch.log_softmax(logits, dim=-1).gather(1, nxt[:, None]).squeeze(1)
        return nxt, lp


class _Samples:
    """The n samples while decoding (``CompletionBuilder``s), with their detokenizers."""

    def __init__(self, backend: HFBackend, pi: int, prompt_ids: Sequence[int], params: SamplingParams,
                 on_token: TokenCallback | None) -> None:
        self.n = params.n
        self._eos = backend._eos
        self.out = [CompletionBuilder(i, params, prompt_index=pi, on_token=on_token) for i in range(self.n)]
        self.detok = [_Detokenizer(backend.tokenizer, prompt_ids) for _ in range(self.n)]
        # Text is needed while decoding only to stream it or to find stop strings; otherwise
        # each sample is detokenized once at the end (16 rows x 2 decodes a step add up).
        self.live = on_token is not None or bool(params.stop)

    def accept(self, i: int, tok: int, lp: float | None) -> bool:
        """Take sample ``i``'s next token; False once the sample is finished."""
        if tok in self._eos:
            self.out[i].end_of_sequence()
            return False
        return self.out[i].accept(tok, self.detok[i].push(tok) if self.live else None, lp)

    def completions(self) -> list[Completion]:
        return [out.finish(detok.finish() if self.live else detok.whole(out.ids))
                for out, detok in zip(self.out, self.detok)]
