"""Distillation: supervised LoRA fine-tuning of the model behind an HF backend (the ``train`` extra).

The examples are (prompt, target) pairs: the prompt is what the model reads when it acts or
evaluates (ending with the opening of the JSON answer), the target is the text it should write.
The loss is the mean cross-entropy over the target's tokens only (the prompt's tokens are
masked out), which is also what :meth:`Distiller.loss` measures before and after training.

The adapter lives *inside* the backend's model (``backend.model`` becomes a peft model), so the
backend generates with the trained weights as soon as :meth:`Distiller.fit` returns: the next
iteration's rollouts and play use the trained model with no reload. Adapters are saved with
:meth:`save` (peft's own format, ``adapter_model.safetensors``) and loaded back with :meth:`load`.

The embedded model is the Gemma 3 270M GGUF; transformers dequantises it (the ``gguf`` package)
into a float32 model, which :func:`load_embedded_hf` wraps in an :class:`~nlrl.backends.hf.HFBackend`.
"""

from __future__ import annotations

import logging
import math
import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

from .._exceptions import ConfigError, ModelLoadError

log = logging.getLogger(__name__)
DEFAULT_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj")


@dataclass(frozen=True)
class Example:
    """One supervised pair; ``kind`` says which target it is (policy, value, ...)."""

    prompt: str
    target: str
    kind: str = "policy"

    def to_dict(self) -> dict[str, str]:
        return {"kind": self.kind, "prompt": self.prompt, "target": self.target}


def _import_peft() -> Any:
    try:
        import peft
    except ImportError as exc:
        raise ModelLoadError("distillation needs peft: pip install 'nlrl[train]'", provider="hf") from exc
    return peft


def load_embedded_hf(device: str = "auto", *, cache: bool = True) -> Any:
    """The embedded Gemma 3 270M GGUF loaded by transformers (dequantised) in an HF backend.

    Dequantising (and converting the GGUF's tokenizer) takes minutes on busy cores, so the result
    is saved once as a transformers directory in the user cache (``cache=False``: never) and
    loaded from there afterwards."""
    import os
    import tempfile

    from ..backends.hf import HFBackend
    from ..backends.llama import default_model_path
    from ..config import default_run_dir

    path = Path(default_model_path())
    saved = default_run_dir() / "hf" / f"{path.stem}-{path.stat().st_size}"
    if cache and (saved / "config.json").is_file():
        # named after the GGUF it was converted from, as a fresh load is: a learning run started
        # before the copy existed must resume with it (its saved settings name the model)
        return HFBackend(str(saved), device=device, dtype="float32", chat=False, name=str(path))
    try:
        import gguf  # noqa: F401  (transformers reads the GGUF with it)
    except ImportError as exc:
        raise ModelLoadError("loading the GGUF in transformers needs gguf: pip install 'nlrl[train]'",
                             provider="hf") from exc
    backend = HFBackend(str(path.parent), gguf_file=path.name, device=device, dtype="float32", chat=False)
    if cache:
        import shutil

        saved.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=saved.parent, prefix=".tmp-"))
        model = backend.model
        try:
            # the weights are plain dequantised tensors now; transformers only refuses because
            # the model still names its GGUF quantizer
            model.hf_quantizer = None
            model.config.__dict__.pop("quantization_config", None)
            model.save_pretrained(str(tmp))
            backend.tokenizer.save_pretrained(str(tmp))
            os.replace(tmp, saved)  # atomic; another process may have won the race
        except Exception as exc:  # noqa: BLE001  (a cache: never lose the loaded model over it)
            log.warning("could not cache the dequantised model in %s: %s", saved, exc)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return backend


class Distiller:
    """LoRA supervised fine-tuning of ``backend.model`` (an :class:`~nlrl.backends.hf.HFBackend`).

    >>> d = Distiller(backend, rank=8)                      # doctest: +SKIP
    >>> d.fit([Example("Board: ...{\\"thought\\": \\"", '5 wins", "action": "5"}\\n')])   # doctest: +SKIP
    """

    def __init__(self, backend: Any, *, rank: int = 8, alpha: int = 16, lr: float = 1e-3,
                 epochs: int = 2, batch_size: int = 8, targets: Sequence[str] = DEFAULT_TARGETS,
                 seed: int = 0) -> None:
        for name, v in (("rank", rank), ("epochs", epochs), ("batch_size", batch_size)):
            if not isinstance(v, int) or v < 1:
                raise ConfigError(f"{name} must be an integer >= 1, got {v!r}")
        if not lr > 0:
            raise ConfigError(f"lr must be > 0, got {lr!r}")
        peft = _import_peft()
        model = getattr(backend, "model", None)
        tokenizer = getattr(backend, "tokenizer", None)
        if model is None or tokenizer is None:
            raise ConfigError("distillation needs an hf backend (a transformers model and tokenizer)")
        import torch

        self._torch = torch
        self.backend = backend
        self.epochs, self.batch_size, self.lr, self.seed = epochs, batch_size, lr, seed
        if not isinstance(model, peft.PeftModel):
            cfg = peft.LoraConfig(r=rank, lora_alpha=alpha, lora_dropout=0.0, target_modules=list(targets),
                                  task_type="CAUSAL_LM")
            torch.manual_seed(seed)
            model = peft.get_peft_model(model, cfg)
            backend.model = model  # the backend now generates through the adapter
        self.model = model
        self.model.eval()
        self.trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
        self.total = sum(p.numel() for p in model.parameters())
        self.reset_optimizer(lr)

    def reset_optimizer(self, lr: float | None = None) -> None:
        """A fresh optimizer (no moments) at ``lr`` (default: the current one)."""
        if lr is not None:
            if not lr > 0:
                raise ConfigError(f"lr must be > 0, got {lr!r}")
            self.lr = lr
        self._opt = self._torch.optim.AdamW([p for p in self.model.parameters() if p.requires_grad], lr=self.lr)

    # ---- batches ------------------------------------------------------------------------------

    def _encode(self, ex: Example) -> tuple[list[int], int]:
        prompt_ids = self.backend.tokenize(ex.prompt)
        full = self.backend.tokenize(ex.prompt + ex.target)
        if full[: len(prompt_ids)] != prompt_ids:
            # the tokenizer merged across the boundary: encode the target on its own
            full = prompt_ids + list(self.backend.tokenizer(ex.target, add_special_tokens=False)["input_ids"])
        return full, len(prompt_ids)

    def _batch(self, examples: Sequence[Example]) -> dict[str, Any]:
        torch = self._torch
        enc = [self._encode(e) for e in examples]
        width = max(len(ids) for ids, _ in enc)
        pad = self.backend.tokenizer.pad_token_id
        pad = 0 if pad is None else pad
        ids = torch.full((len(enc), width), pad, dtype=torch.long)
        labels = torch.full((len(enc), width), -100, dtype=torch.long)
        mask = torch.zeros((len(enc), width), dtype=torch.long)
        for i, (row, cut) in enumerate(enc):  # right padding: positions stay those of generation
            ids[i, : len(row)] = torch.tensor(row)
            mask[i, : len(row)] = 1
            labels[i, cut: len(row)] = torch.tensor(row[cut:])
        dev = self.model.device
        return {"input_ids": ids.to(dev), "attention_mask": mask.to(dev), "labels": labels.to(dev)}

    def _token_loss(self, batch: dict[str, Any]) -> tuple[Any, int]:
        """Summed cross-entropy over target tokens, and how many there are.

        Only the positions that predict a target token go through the output layer (the
        model's ``logits_to_keep``): the prompt's positions have no loss, and on Gemma 3 the
        262k-word output layer costs more than the rest of the model."""
        torch = self._torch
        labels = batch["labels"]
        first = 1
        keep_kw = getattr(self.backend, "_keep_kw", None)
        if keep_kw:
            cols = (labels != -100).any(0).nonzero()
            first = max(int(cols[0]), 1) if len(cols) else 1
        kw = {keep_kw: labels.shape[1] - first + 1} if keep_kw else {}
        out = self.model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], **kw)
        logits = out.logits[:, -(labels.shape[1] - first + 1):][:, :-1].float()
        labels = labels[:, first:]
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), labels.reshape(-1),
                                                 ignore_index=-100, reduction="sum")
        return loss, int((labels != -100).sum())

    # ---- public -------------------------------------------------------------------------------

    def loss(self, examples: Sequence[Example]) -> float:
        """Mean cross-entropy per target token (no training)."""
        if not examples:
            return float("nan")
        self.model.eval()
        total, count = 0.0, 0
        with self._torch.no_grad():
            for i in range(0, len(examples), self.batch_size):
                loss, n = self._token_loss(self._batch(examples[i: i + self.batch_size]))
                total, count = total + float(loss), count + n
        return total / max(count, 1)

    def _trainable_state(self) -> dict[str, Any]:
        return {n: p.detach().clone() for n, p in self.model.named_parameters() if p.requires_grad}

    def _restore(self, state: dict[str, Any]) -> None:
        with self._torch.no_grad():
            for n, p in self.model.named_parameters():
                if n in state:
                    p.copy_(state[n])

    def fit(self, examples: Sequence[Example], *, progress: Callable[[str], None] | None = None,
            select: Callable[[], float] | None = None) -> dict[str, Any]:
        """``epochs`` passes over ``examples`` (shuffled); returns the losses and the time taken.

        ``select`` (epoch selection): called after each epoch with the model in eval mode, it
        scores the weights (e.g. the fraction of training states whose greedy move is the
        target's); the best-scoring epoch's weights are kept (ties: the lower epoch loss, then
        the earlier epoch), not the last. The scores are in ``epoch_scores``, the choice in
        ``selected_epoch`` (1-based)."""
        if not examples:
            raise ConfigError("nothing to train on: no examples")
        say = progress or (lambda _m: None)
        started = time.perf_counter()
        rng = random.Random(self.seed)
        order = list(examples)
        steps, curve = 0, []
        scores: list[float] = []
        best: tuple[tuple[float, float], int, dict[str, Any]] | None = None
        self.model.train()
        try:
            for epoch in range(self.epochs):
                rng.shuffle(order)
                epoch_loss, epoch_tokens = 0.0, 0
                for i in range(0, len(order), self.batch_size):
                    loss, n = self._token_loss(self._batch(order[i: i + self.batch_size]))
                    (loss / max(n, 1)).backward()
                    self._opt.step()
                    self._opt.zero_grad(set_to_none=True)
                    epoch_loss, epoch_tokens, steps = epoch_loss + float(loss.detach()), epoch_tokens + n, steps + 1
                curve.append(round(epoch_loss / max(epoch_tokens, 1), 4))
                note = ""
                if select is not None:
                    self.model.eval()
                    scores.append(round(float(select()), 4))
                    self.model.train()
                    key = (scores[-1], -curve[-1])
                    if best is None or key > best[0]:
                        best = (key, epoch + 1, self._trainable_state())
                    note = f", selection score {scores[-1]}"
                say(f"  epoch {epoch + 1}/{self.epochs}: loss {curve[-1]}{note} ({len(order)} examples, "
                    f"{time.perf_counter() - started:.0f}s)")
        finally:
            self.model.eval()
        selected = {}
        if best is not None:
            self._restore(best[2])
            selected = {"epoch_scores": scores, "selected_epoch": best[1]}
            say(f"  kept epoch {best[1]} (selection score {best[0][0]}, loss {-best[0][1]})")
        if not all(math.isfinite(x) for x in curve):
            raise ConfigError(f"training diverged (epoch losses {curve}); lower the learning rate")
        return {"examples": len(order), "epochs": self.epochs, "steps": steps, "epoch_loss": curve,
                **selected, "train_s": round(time.perf_counter() - started, 2),
                "s_per_example": round((time.perf_counter() - started) / (len(order) * self.epochs), 3)}

    def save(self, path: str | Path) -> Path:
        """Write the adapter (peft format) to ``path``."""
        out = Path(path)
        out.mkdir(parents=True, exist_ok=True)
        self.model.save_pretrained(str(out))
        return out

    def load(self, path: str | Path) -> None:
        """Load an adapter saved by :meth:`save` into this model (the base weights are shared)."""
        peft = _import_peft()
        p = Path(path)
        if not (p / "adapter_config.json").is_file():
            raise ConfigError(f"no adapter at {p}")
        weights = peft.utils.load_peft_weights(str(p), device=str(self.model.device))
        result = peft.set_peft_model_state_dict(self.model, weights)
        missing = [k for k in getattr(result, "unexpected_keys", []) if "lora" in k]
        if missing:
            raise ConfigError(f"adapter at {p} does not fit this model ({missing[0]} ...)")
        self.model.eval()
