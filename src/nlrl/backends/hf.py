"""Hugging Face transformers: any causal LM, on CPU, CUDA or MPS.

Why our own decode loop instead of ``model.generate(num_return_sequences=n)``: that call copies
the prompt n times *before* the prefill, so the prompt is encoded n times. Here the prompt is
encoded once (batch 1), its KV cache is repeated n times, and the n samples decode together as
one batch; a sample that finishes (EOS, stop string, ``max_tokens``, or ``on_token`` returning
True) is dropped from the batch and its cache rows with it. Owning the loop also gives per-sample
streaming, stop strings and log-probabilities without a streamer that only supports batch 1.
Logits processing (temperature, top-k, top-p, repetition penalty) is transformers' own.

Seeds: a request's samples share one generator seeded with ``params.seed``, so the same request
(prompt, params) reproduces the same n samples; per-row generators would cost n kernel launches
per step on a GPU.
"""

from __future__ import annotations

import inspect
import os
import threading
import time
from pathlib import Path
from typing import Any, Sequence

from .._exceptions import ConfigError, ModelLoadError
from ._stops import StopBuffer
from .base import (
    Backend,
    Completion,
    Generation,
    SamplingParams,
    TokenCallback,
    TokenEvent,
    Usage,
    encode_prompts,
)

_DTYPES = {"float32": "float32", "fp32": "float32", "float16": "float16", "fp16": "float16",
           "half": "float16", "bfloat16": "bfloat16", "bf16": "bfloat16"}
_PROMPT_TAIL = 6  # prompt tokens kept as context when detokenizing (SentencePiece spaces)


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
    directory to load the tokenizer from, or a tokenizer object.
    """

    name = "hf"

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
    ) -> None:
        if not model:
            raise ConfigError("the hf backend needs --model: a hub id or a local model directory")
        torch, transformers = _import_torch()
        self._torch = torch
        self.device = pick_device(device)
        self.dtype = pick_dtype(dtype, self.device)
        ref = str(model)
        local = Path(ref).expanduser()
        looks_local = ref.startswith((".", "/", "~")) or ref.count("/") > 1
        if looks_local and not local.is_dir():
            raise ModelLoadError(f"model directory not found: {ref}", provider=self.name)
        source = str(local) if local.is_dir() else ref
        kw: dict[str, Any] = {"trust_remote_code": trust_remote_code}
        if attn_implementation:
            kw["attn_implementation"] = attn_implementation
        # transformers renamed torch_dtype to dtype in 4.56; older versions would silently
        # store an unknown "dtype" kwarg on the config instead.
        major, minor = (int(x) for x in transformers.__version__.split(".")[:2])
        kw["dtype" if (major, minor) >= (4, 56) else "torch_dtype"] = self.dtype
        try:
            if tokenizer is None or isinstance(tokenizer, (str, os.PathLike)):
                tokenizer = transformers.AutoTokenizer.from_pretrained(
                    str(tokenizer or source), trust_remote_code=trust_remote_code)
            self.tokenizer = tokenizer
            self.model = transformers.AutoModelForCausalLM.from_pretrained(source, **kw)
        except (OSError, ValueError, KeyError) as exc:
            raise ModelLoadError(f"cannot load hf model {ref}: {exc}", provider=self.name) from exc
        self.model.to(self.device).eval()
        self._ref = ref
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
                comps = self._sample(pi, ids, params, on_token)
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

    def _sample(
        self, pi: int, prompt_ids: list[int], params: SamplingParams, on_token: TokenCallback | None
    ) -> list[Completion]:
        torch = self._torch
        n = params.n
        limit = self.context_length
        max_tokens = min(params.max_tokens, limit - len(prompt_ids)) if limit else params.max_tokens
        procs = self._processors(params)
        gen = None
        if params.seed is not None and not params.greedy:
            gen = torch.Generator(device=self.device).manual_seed(params.seed)

        prompt = torch.tensor([prompt_ids], device=self.device)
        out = self._forward(prompt, None)  # the one prefill
        cache = getattr(out, self._cache_kw)
        if isinstance(cache, tuple):  # transformers < 4.47 hands some models' caches back as tuples
            from transformers import DynamicCache

            cache = DynamicCache.from_legacy_cache(cache)
        logits = out.logits[:, -1, :].float().expand(n, -1)
        if n > 1:
            cache.batch_repeat_interleave(n)
        seqs = prompt.expand(n, -1) if params.repetition_penalty != 1.0 else None

        rows = list(range(n))  # batch row -> sample index
        ids: list[list[int]] = [[] for _ in range(n)]
        lps: list[list[float]] = [[] for _ in range(n)]
        bufs = [StopBuffer(params.stop) for _ in range(n)]
        detok = [_Detokenizer(self.tokenizer, prompt_ids) for _ in range(n)]
        finish = ["length"] * n
        # Text is needed while decoding only to stream it or to find stop strings; otherwise
        # each sample is detokenized once at the end (16 rows x 2 decodes a step add up).
        live = on_token is not None or bool(params.stop)
        for step in range(max_tokens):
            scores = procs(seqs, logits) if len(procs) else logits
            if params.greedy:
                nxt = scores.argmax(dim=-1)
            else:
                nxt = torch.multinomial(torch.softmax(scores, dim=-1), 1, generator=gen).squeeze(1)
            chosen_lp = None
            if params.logprobs:
                chosen_lp = torch.log_softmax(logits, dim=-1).gather(1, nxt[:, None]).squeeze(1).tolist()
            toks = nxt.tolist()  # the one host sync per step
            keep = []
            for r, (i, tok) in enumerate(zip(rows, toks)):
                if tok in self._eos:
                    finish[i] = "stop"
                    continue
                ids[i].append(tok)
                lp = chosen_lp[r] if chosen_lp is not None else None
                if lp is not None:
                    lps[i].append(lp)
                if not live:
                    keep.append(r)
                    continue
                released, stopped = bufs[i].feed(detok[i].push(tok))
                if released and on_token is not None and on_token(TokenEvent(pi, i, released, tok, lp)):
                    finish[i] = "answer"
                    continue
                if stopped:
                    finish[i] = "stop"
                    continue
                keep.append(r)
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

        comps = []
        for i in range(n):
            buf = bufs[i]
            if not live:
                buf.feed(detok[i].whole(ids[i]))
                buf.flush()
            elif finish[i] != "answer" and not buf.stopped:
                tail, stopped = buf.feed(detok[i].finish())
                if stopped:
                    finish[i] = "stop"
                else:
                    tail += buf.flush()
                if tail and on_token is not None:
                    on_token(TokenEvent(pi, i, tail, None, None))
            comps.append(Completion(i, buf.text, tuple(ids[i]),
                                    tuple(lps[i]) if params.logprobs else None,
                                    finish[i]))  # type: ignore[arg-type]
        return comps
