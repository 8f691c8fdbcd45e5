"""A process reward model served over HTTP: ``prm:http://host:8000/pooling`` or a plain score endpoint.

**vLLM's pooling API** (a URL whose path ends in ``/pooling``): vLLM serves PRMs as pooling models
with ``STEP`` pooling, which returns, for every step-tag token of the input, the softmax over the
PRM's labels (Qwen2.5-Math-PRM: ``[negative, positive]``; Math-Shepherd served with
``returned_token_ids`` = the ids of ``+`` and ``-``: ``[P(+), P(-)]``). nlrl sends::

    POST /pooling  {"model": M, "messages": [...]}        qwen-prm (chat)
    POST /pooling  {"model": M, "input": "..."}           math-shepherd (plain text)

written exactly as the family's model card says (:mod:`nlrl.rewards.prm`), and reads
``data[0].data``: one row per step, the step's score the family's good-label column (column 1 for
the two-label head, column 0 for ``+``/``-``). ``M`` defaults to the first model of ``/v1/models``.

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
    (``auto`` means ``qwen-prm`` on a pooling URL)."""

    def __init__(self, url: str, *, family: str = "auto", aggregation: str = "last", model: str | None = None,
                 timeout_s: float = 60.0, api_key: str | None = None,
                 transport: httpx.BaseTransport | None = None) -> None:
        super().__init__(aggregation)
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ConfigError(f"a PRM server URL must be http(s)://host[:port]/path, got {url!r}")
        self.url = url
        self.pooling = parts.path.rstrip("/").endswith("/pooling")
        self.family = FAMILIES["qwen-prm"] if family == "auto" else family_named(family)
        if self.pooling and not self.family.step_tag:
            raise ConfigError(f"vLLM's STEP pooling reads scores at a step tag, which family "
                              f"{self.family.name} has not; use qwen-prm or math-shepherd (or a score endpoint)")
        self.name = f"prm:{self.family.name}" if self.pooling else "prm:score"
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
