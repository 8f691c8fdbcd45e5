"""Trained process reward models (PRMs): ``prm:PATH`` runs one with transformers, ``prm:URL`` asks a
server (:mod:`nlrl.rewards.prm_http`).

Three published families, each read the way its model card says (the formatting is data, in
:data:`FAMILIES`):

- ``qwen-prm`` (Qwen2.5-Math-PRM-7B/72B): a token-classification head with two labels. The
  solution is the assistant turn of the model's chat template (system: "Please reason step by
  step, ..."), steps joined and ended by ``<extra_0>``; a step's score is the softmax probability of
  the positive label (index 1) at its ``<extra_0>``.
- ``math-shepherd`` (peiyi9979/math-shepherd-mistral-7b-prm) and ``rlhflow`` (RLHFlow/Llama3.1-8B-PRM-*):
  a causal LM whose next token after a step is ``+`` (good) or ``-`` (bad); a step's score is
  ``softmax(logit[+], logit[-])[+]``. Math-Shepherd reads it at the step tag ``ки`` ending each
  step of ``"{question} {step 1} ки\\n{step 2} ки"``; RLHFlow writes each step as a user turn
  (the question before the first) answered by an assistant ``+``, read where that ``+`` is predicted.
- ``outcome``: an outcome reward model with a scalar head (sequence classification, one label);
  the score is ``sigmoid(logit)`` of the question and the answer as a chat (user, assistant). Its
  step scores are the scores of each prefix of the solution, as if it stopped there.

``family="auto"`` picks by the checkpoint's architecture: ``*ForTokenClassification`` /
``*ProcessRewardModel`` → qwen-prm, ``*ForSequenceClassification`` / ``*RewardModel`` → outcome,
``*ForCausalLM`` → rlhflow when the tokenizer has a chat template, else math-shepherd.

A whole output is scored by splitting it into steps (paragraphs when it has blank lines, else
lines) and aggregating the step scores (``aggregation``: ``last`` | ``min`` | ``prod`` | ``mean``,
the choices of search-and-learn). Loaded checkpoints are kept per (path, device, dtype), so a
reward built for every run of a benchmark loads its model once.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass
from typing import Any, Sequence

from .._exceptions import ConfigError, ModelLoadError, VerifierError
from .base import ProcessReward

AGGREGATIONS = ("last", "min", "prod", "mean")


def aggregate_steps(scores: Sequence[float], how: str = "last") -> float:
    """One score from step scores: the last step's, the lowest, the product or the mean."""
    if how not in AGGREGATIONS:
        raise ConfigError(f"reward aggregation must be one of {', '.join(AGGREGATIONS)}, got {how!r}")
    if not scores:
        raise VerifierError("no steps to score")
    if how == "last":
        return float(scores[-1])
    if how == "min":
        return float(min(scores))
    if how == "prod":
        return float(math.prod(scores))
    return math.fsum(scores) / len(scores)


def split_solution(output: str) -> list[str]:
    """The steps of a solution: its paragraphs when it has blank lines, else its non-empty lines."""
    text = (output or "").strip()
    parts = [p.strip() for p in text.split("\n\n")] if "\n\n" in text else text.splitlines()
    return [p.strip() for p in parts if p.strip()]


@dataclass(frozen=True)
class Family:
    """How a family of PRMs wants its input written and where its scores are read."""

    name: str
    head: str  # "token-classification" | "plus-minus" | "outcome"
    chat: bool  # the input is rendered with the tokenizer's chat template
    step_tag: str = ""  # written after every step (qwen-prm, math-shepherd)
    system: str | None = None  # system message of the chat
    good: str = "+"
    bad: str = "-"

    def messages(self, question: str, steps: Sequence[str]) -> list[dict[str, str]]:
        """The chat a chat family scores (qwen-prm, rlhflow, outcome)."""
        sys = [{"role": "system", "content": self.system}] if self.system else []
        if self.head == "token-classification":
            body = "".join(s + self.step_tag for s in steps)
            return [*sys, {"role": "user", "content": question}, {"role": "assistant", "content": body}]
        if self.head == "plus-minus":  # each step a user turn answered by the verdict
            out = list(sys)
            for k, step in enumerate(steps):
                out += [{"role": "user", "content": f"{question} {step}" if k == 0 else step},
                        {"role": "assistant", "content": self.good}]
            return out
        return [*sys, {"role": "user", "content": question}, {"role": "assistant", "content": "\n\n".join(steps)}]

    def text(self, question: str, steps: Sequence[str]) -> str:
        """The plain text a non-chat family scores (math-shepherd)."""
        return f"{question} " + "\n".join(f"{s} {self.step_tag}" for s in steps)


FAMILIES: dict[str, Family] = {
    "qwen-prm": Family("qwen-prm", "token-classification", chat=True, step_tag="<extra_0>",
                       system="Please reason step by step, and put your final answer within \\boxed{}."),
    "math-shepherd": Family("math-shepherd", "plus-minus", chat=False, step_tag="ки"),
    "rlhflow": Family("rlhflow", "plus-minus", chat=True),
    "outcome": Family("outcome", "outcome", chat=True),
}


def family_named(name: str) -> Family:
    if name not in FAMILIES:
        raise ConfigError(f"unknown PRM family {name!r}; known: auto, {', '.join(FAMILIES)}")
    return FAMILIES[name]


def build_prm(arg: str | None = None, *, backend: Any = None, aggregation: str = "last",
              family: str = "auto", **options: Any) -> ProcessReward:
    """Registry factory of ``prm:PATH-OR-URL`` (``backend`` unused: a PRM is its own model)."""
    if not arg:
        raise ConfigError("reward prm needs a checkpoint or a server: prm:/path/to/prm or "
                          "prm:http://host:8000/pooling")
    if aggregation not in AGGREGATIONS:
        raise ConfigError(f"reward aggregation must be one of {', '.join(AGGREGATIONS)}, got {aggregation!r}")
    if arg.startswith(("http://", "https://")):
        from .prm_http import HTTPProcessReward

        return HTTPProcessReward(arg, family=family, aggregation=aggregation, **options)
    return HFProcessReward(arg, family=family, aggregation=aggregation, **options)


class PRMBase(ProcessReward):
    """What every PRM shares: a whole output is its steps' aggregated score."""

    name = "prm"

    def __init__(self, aggregation: str = "last") -> None:
        if aggregation not in AGGREGATIONS:
            raise ConfigError(f"reward aggregation must be one of {', '.join(AGGREGATIONS)}, got {aggregation!r}")
        self.aggregation = aggregation

    def score(self, prompt: str, output: str) -> float:
        steps = split_solution(output)
        if not steps:
            raise VerifierError("the output has no steps to score")
        return aggregate_steps(self.score_steps(prompt, steps), self.aggregation)


# ---- transformers ---------------------------------------------------------------------------

_LOADED: dict[tuple[str, str, str, bool], Any] = {}
_TOKENIZERS: dict[tuple[str, bool], tuple[str, Any]] = {}
_LOAD_LOCK = threading.Lock()


def _architecture(path: str, trust_remote_code: bool) -> str:
    from transformers import AutoConfig

    cfg = AutoConfig.from_pretrained(path, trust_remote_code=trust_remote_code)
    return " ".join(getattr(cfg, "architectures", None) or [])


def _tokenizer(path: str, trust_remote_code: bool) -> tuple[str, Any]:
    """(architectures, tokenizer) of a checkpoint, loaded once per process."""
    from transformers import AutoTokenizer

    key = (path, trust_remote_code)
    with _LOAD_LOCK:
        if key not in _TOKENIZERS:
            try:
                _TOKENIZERS[key] = (_architecture(path, trust_remote_code),
                                    AutoTokenizer.from_pretrained(path, trust_remote_code=trust_remote_code))
            except (OSError, ValueError) as exc:
                raise ModelLoadError(f"cannot load PRM {path}: {exc}", provider="hf") from exc
        return _TOKENIZERS[key]


def detect_family(architectures: str, has_chat_template: bool) -> Family:
    """The family a checkpoint belongs to, from its ``config.architectures``."""
    if "TokenClassification" in architectures or "ProcessRewardModel" in architectures:
        return FAMILIES["qwen-prm"]
    if "SequenceClassification" in architectures or "RewardModel" in architectures:
        return FAMILIES["outcome"]
    if "CausalLM" in architectures:
        return FAMILIES["rlhflow" if has_chat_template else "math-shepherd"]
    raise ConfigError(f"cannot tell the PRM family of architecture {architectures or '(none)'!r}; "
                      f"pass family= one of {', '.join(FAMILIES)}")


class HFProcessReward(PRMBase):
    """A PRM checkpoint run with transformers (see the module docstring for the families).

    ``batch_size`` solutions go through the model in one forward pass (padded on the right)."""

    def __init__(self, path: str, *, family: str = "auto", aggregation: str = "last", device: str = "auto",
                 dtype: str = "auto", batch_size: int = 8, trust_remote_code: bool = False) -> None:
        super().__init__(aggregation)
        from ..backends.hf import _import_torch, pick_device, pick_dtype

        try:
            self._torch, transformers = _import_torch()
        except ModelLoadError as exc:
            raise ModelLoadError("reward prm:PATH needs transformers and torch: pip install 'nlrl[hf]'",
                                 provider="hf") from exc
        if batch_size < 1:
            raise ConfigError(f"batch_size must be >= 1, got {batch_size}")
        self.path, self.batch_size = path, batch_size
        self.device = pick_device(device)
        self.dtype = pick_dtype(dtype, self.device)
        arch, self.tokenizer = _tokenizer(path, trust_remote_code)
        self.family = (detect_family(arch, bool(getattr(self.tokenizer, "chat_template", None)))
                       if family == "auto" else family_named(family))
        self.model = self._load(transformers, arch, trust_remote_code)
        self.name = f"prm:{self.family.name}"
        tok = self.tokenizer
        if self.family.head == "plus-minus":
            ids = tok.encode(f"{self.family.good} {self.family.bad}", add_special_tokens=False)
            if len(ids) != 2:
                raise ConfigError(f"PRM {path}: '{self.family.good} {self.family.bad}' is {len(ids)} tokens, "
                                  "not one each; this is not a +/- PRM tokenizer")
            self._good_bad = ids
        if self.family.step_tag:
            self._tag_id = tok.encode(self.family.step_tag, add_special_tokens=False)[-1]

    def _load(self, transformers: Any, arch: str, trust_remote_code: bool) -> Any:
        key = (self.path, self.device, str(self.dtype), trust_remote_code)
        with _LOAD_LOCK:
            if key not in _LOADED:
                head = self.family.head
                if head == "plus-minus":
                    auto = transformers.AutoModelForCausalLM
                elif head == "outcome":
                    auto = transformers.AutoModelForSequenceClassification
                elif "ProcessRewardModel" in arch:  # Qwen2.5-Math-PRM ships its own head class
                    auto = transformers.AutoModel
                else:
                    auto = transformers.AutoModelForTokenClassification
                try:
                    model = auto.from_pretrained(self.path, dtype=self.dtype,
                                                 trust_remote_code=trust_remote_code)
                except (OSError, ValueError) as exc:
                    raise ModelLoadError(f"cannot load PRM {self.path}: {exc}", provider="hf") from exc
                _LOADED[key] = model.to(self.device).eval()
            return _LOADED[key]

    # -- formatting -----------------------------------------------------------------------------

    def _render(self, question: str, steps: Sequence[str]) -> list[int]:
        fam, tok = self.family, self.tokenizer
        if fam.head == "outcome" and not getattr(tok, "chat_template", None):
            return tok.encode(f"{question}\n\n" + "\n\n".join(steps))
        if not fam.chat:
            return tok.encode(fam.text(question, steps))
        if not getattr(tok, "chat_template", None):
            raise ConfigError(f"PRM {self.path} ({fam.name}) needs a tokenizer with a chat template")
        return self._chat_ids(fam.messages(question, steps), open_end=fam.head == "plus-minus")

    def _chat_ids(self, messages: list[dict[str, str]], *, open_end: bool) -> list[int]:
        """The chat rendered as text by the template (the model cards' way), then encoded without
        adding special tokens (the template writes them); ``open_end``: stop right after the last
        message's content (rlhflow's final "+" is read where it is predicted)."""
        text = self.tokenizer.apply_chat_template(messages, tokenize=False, continue_final_message=open_end)
        return self.tokenizer.encode(text, add_special_tokens=False)

    def _plus_positions(self, question: str, steps: Sequence[str]) -> list[int]:
        """rlhflow: the index of each assistant "+" in the full rendering (each turn's prefix
        rendered up to and including its "+")."""
        out = []
        for k in range(1, len(steps) + 1):
            out.append(len(self._chat_ids(self.family.messages(question, steps[:k]), open_end=True)) - 1)
        return out

    # -- scoring --------------------------------------------------------------------------------

    def score_steps(self, prompt: str, steps: list[str]) -> list[float]:
        return self.score_batch(prompt, [steps])[0]

    def score_batch(self, prompt: str, solutions: Sequence[Sequence[str]]) -> list[list[float]]:
        """Step scores of several partial solutions of one prompt, ``batch_size`` per forward pass."""
        out: list[list[float]] = []
        for i in range(0, len(solutions), self.batch_size):
            out += self._forward(prompt, [list(s) for s in solutions[i:i + self.batch_size]])
        return out

    def _forward(self, prompt: str, solutions: list[list[str]]) -> list[list[float]]:
        torch, fam = self._torch, self.family
        if any(not s for s in solutions):
            raise VerifierError("no steps to score")
        if fam.head == "outcome":
            return [self._outcome(prompt, s) for s in solutions]
        seqs = [self._render(prompt, s) for s in solutions]
        width = max(len(s) for s in seqs)
        pad = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else 0
        ids = torch.tensor([s + [pad] * (width - len(s)) for s in seqs], device=self.device)
        mask = torch.tensor([[1] * len(s) + [0] * (width - len(s)) for s in seqs], device=self.device)
        with torch.inference_mode():
            logits = self.model(input_ids=ids, attention_mask=mask)[0].float()
        results = []
        for b, (seq, steps) in enumerate(zip(seqs, solutions)):
            if fam.head == "token-classification":
                pos = [i for i, t in enumerate(seq) if t == self._tag_id]
                probs = torch.softmax(logits[b, pos], dim=-1)[:, 1].tolist() if pos else []
            else:
                if fam.step_tag:
                    pos = [i for i, t in enumerate(seq) if t == self._tag_id]
                else:
                    plus = self._plus_positions(prompt, steps)
                    if any(p >= len(seq) or seq[p] != self._good_bad[0] for p in plus):
                        raise VerifierError(f"PRM {self.path}: the chat template does not keep each "
                                            f"assistant '{fam.good}' as one token in place")
                    pos = [p - 1 for p in plus]
                pair = logits[b][pos][:, self._good_bad] if pos else logits[b][:0, :2]
                probs = torch.softmax(pair, dim=-1)[:, 0].tolist()
            if len(probs) != len(steps):
                raise VerifierError(f"PRM {self.path}: found {len(probs)} step positions for {len(steps)} steps "
                                    f"(a step containing the step tag, or a template that moved it)")
            results.append(probs)
        return results

    def _outcome(self, prompt: str, steps: list[str]) -> list[float]:
        """sigmoid of the scalar head for each prefix of ``steps``, one unpadded sequence each (the
        head reads the last token, which padding would move)."""
        torch = self._torch
        out = []
        for k in range(1, len(steps) + 1):
            ids = torch.tensor([self._render(prompt, steps[:k])], device=self.device)
            with torch.inference_mode():
                logit = self.model(input_ids=ids)[0].float()[0, 0]
            out.append(float(torch.sigmoid(logit)))
        return out
