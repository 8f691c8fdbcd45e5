"""A process reward model served over HTTP: ``prm:http://host:8000/pooling``, ``.../classify`` or a
plain score endpoint.

**vLLM's pooling API** (a URL whose path ends in ``/pooling``): vLLM serves PRMs as pooling models
with ``STEP`` pooling, which returns, for every step-tag token of the input, the softmax over the
PRM's labels (Qwen2.5-Math-PRM: ``[negative, positive]``; Math-Shepherd served with
``returned_token_ids`` = the ids of ``+`` and ``-``: ``[P(+), P(-)]``). nlrl sends::

    POST /pooling  {"model": M, "messages": [...]}        qwen-prm (chat)
    POST /pooling  {"model": M, "input": "..."}           math-shepherd (plain text)

written exactly as the family's model card says (:mod:`nlrl.rewards.prm`), and reads
``data[0].data``: one row per step, the step's score the family's good-label column (column 1 for
the two-label head, column 0 for ``+``/``-``). ``M`` defaults to the first model of ``/v1/models``.

**vLLM's classification API** (a URL whose path ends in ``/classify``): vLLM serves
sequence-classification models (``*ForSequenceClassification``: outcome reward models with a
scalar head, or two-label classifiers) there; the head is read at the last token, through a
sigmoid (one label) or a softmax (two). That is the ``outcome`` family (:mod:`nlrl.rewards.prm`):
a step's score is the model's score of the solution cut after that step, so nlrl sends one
chat request per prefix, as the checkpoint is scored locally::

    POST /classify  {"model": M, "messages": [user: question, assistant: steps 1..k]}   k = 1..K

and reads ``data[0].probs``: ``probs[0]`` for a one-label head, ``probs[1]`` (the positive
label) for two. Token-classification PRMs (qwen-prm) and ``+``/``-`` PRMs are not served by
``/classify`` (vLLM's ``Qwen2ForProcessRewardModel`` pools steps only): use ``/pooling``.

**A plain score endpoint** (any other URL)::

    POST URL  {"prompt": QUESTION, "steps": [STEP, ...]}  →  {"scores": [S, ...]}

one score in [0, 1] per step, for PRMs served by anything else.

A failed request, an error status or an answer of the wrong shape raises
:class:`~nlrl.VerifierError`, so a strategy leaves the score out (or stops, when strict).
"""

from __future__ import annotations

import threading
from typing import Any
from urllib.parse import urlsplit

import httpx

from .._exceptions import ConfigError, VerifierError
from .prm import FAMILIES, PRMBase, family_named

_CLIENTS: dict[tuple[float, str | None], httpx.Client] = {}
_CLIENTS_LOCK = threading.Lock()


class HTTPProcessReward(PRMBase):
    """Step scores from a served PRM (module docstring). ``family``: how the input is written
    (``auto`` means ``qwen-prm`` on a pooling URL, ``outcome`` on a classify URL)."""

    def __init__(self, url: str, *, family: str = "auto", aggregation: str = "last", model: str | None = None,
                 timeout_s: float = 60.0, api_key: str | None = None,
                 transport: httpx.BaseTransport | None = None) -> None:
        super().__init__(aggregation)
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ConfigError(f"a PRM server URL must be http(s)://host[:port]/path, got {url!r}")
        self.url = url
        path = parts.path.rstrip("/")
        self.pooling = path.endswith("/pooling")
        self.classify = path.endswith("/classify")
        default = "outcome" if self.classify else "qwen-prm"
        self.family = FAMILIES[default] if family == "auto" else family_named(family)
        if self.pooling and not self.family.step_tag:
            raise ConfigError(f"vLLM's STEP pooling reads scores at a step tag, which family "
                              f"{self.family.name} has not; use qwen-prm or math-shepherd (or a score endpoint)")
        if self.classify and self.family.head != "outcome":
            raise ConfigError(f"vLLM's /classify serves sequence-classification models (family outcome); "
                              f"{self.family.name} is served by /pooling")
        self.name = f"prm:{self.family.name}" if self.pooling or self.classify else "prm:score"
        self.model = model
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        if transport is not None:
            self._client = httpx.Client(timeout=timeout_s, headers=headers, transport=transport)
        else:  # one connection pool per server settings, shared by the reward built for every run
            with _CLIENTS_LOCK:
                key = (timeout_s, api_key)
                if key not in _CLIENTS:
                    _CLIENTS[key] = httpx.Client(timeout=timeout_s, headers=headers)
                self._client = _CLIENTS[key]

    def _post(self, url: str, body: dict[str, Any]) -> Any:
        try:
            resp = self._client.post(url, json=body)
        except httpx.HTTPError as exc:
            raise VerifierError(f"PRM server {url} unreachable: {type(exc).__name__}: {exc}") from exc
        if resp.status_code != 200:
            raise VerifierError(f"PRM server {url} answered {resp.status_code}: {resp.text[:200]}")
        try:
            return resp.json()
        except ValueError as exc:
            raise VerifierError(f"PRM server {url} answered with invalid JSON") from exc

    def _model(self) -> str:
        if self.model is None:
            parts = urlsplit(self.url)
            try:
                resp = self._client.get(f"{parts.scheme}://{parts.netloc}/v1/models")
                self.model = resp.json()["data"][0]["id"]
            except (httpx.HTTPError, ValueError, KeyError, IndexError, TypeError) as exc:
                raise VerifierError(f"cannot read the served model's name from {parts.netloc}/v1/models; "
                                    f"pass model=: {exc}") from exc
        return self.model

    def score_steps(self, prompt: str, steps: list[str]) -> list[float]:
        if not steps:
            raise VerifierError("no steps to score")
        if self.classify:
            return [self._classify(prompt, steps[:k]) for k in range(1, len(steps) + 1)]
        if not self.pooling:
            data = self._post(self.url, {"prompt": prompt, "steps": list(steps)})
            scores = data.get("scores") if isinstance(data, dict) else None
            if not isinstance(scores, list):
                raise VerifierError(f"PRM server {self.url} answered without a 'scores' list")
            return scores
        fam = self.family
        body: dict[str, Any] = {"model": self._model()}
        if fam.chat:
            body["messages"] = fam.messages(prompt, steps)
        else:
            body["input"] = fam.text(prompt, steps)
        data = self._post(self.url, body)
        try:
            rows = data["data"][0]["data"]
        except (KeyError, IndexError, TypeError) as exc:
            raise VerifierError(f"PRM server {self.url} answered without data[0].data") from exc
        if not isinstance(rows, list) or len(rows) != len(steps):
            raise VerifierError(f"PRM server {self.url} returned {len(rows) if isinstance(rows, list) else rows!r} "
                                f"step rows for {len(steps)} steps (is it served with STEP pooling?)")
        col = 0 if fam.head == "plus-minus" else -1
        try:
            return [float(row[col]) if isinstance(row, list) else float(row) for row in rows]
        except (TypeError, ValueError, IndexError) as exc:
            raise VerifierError(f"PRM server {self.url} returned step rows that are not numbers") from exc

    def _classify(self, prompt: str, steps: list[str]) -> float:
        """vLLM ``/classify``: the score of the solution ``steps`` (one label: ``probs[0]``, the
        sigmoid; two: ``probs[1]``, the positive label's softmax probability)."""
        data = self._post(self.url, {"model": self._model(), "messages": self.family.messages(prompt, steps)})
        try:
            probs = data["data"][0]["probs"]
        except (KeyError, IndexError, TypeError) as exc:
            raise VerifierError(f"PRM server {self.url} answered without data[0].probs") from exc
        if not isinstance(probs, list) or len(probs) not in (1, 2):
            raise VerifierError(f"PRM server {self.url} returned {len(probs) if isinstance(probs, list) else probs!r} "
                                f"class probabilities; a reward model has one label (or two: negative, positive)")
        try:
            p = float(probs[-1])
        except (TypeError, ValueError) as exc:
            raise VerifierError(f"PRM server {self.url} returned class probabilities that are not numbers") from exc
        if not 0.0 <= p <= 1.0:
            raise VerifierError(f"PRM server {self.url} returned {p!r}, not a probability (served with "
                                f"use_activation off?)")
        return p
