"""OpenAI response objects and stream chunks built from strategy results and trace events.

A multi-sample strategy's progress is written as ``reasoning_content`` (what DeepSeek-R1-style
servers send and chat front-ends show): each sample's gists under a ``[sample k]`` header, then
one line per trace event (a sample's answer, scores, the vote tally, the difficulty probe and
``auto``'s choice). The structured event rides along in the chunk's ``nlrl`` field.
"""

from __future__ import annotations

import json
from typing import Any, Sequence

from ..backends import TokenEvent, Usage
from ..gists import Gist
from ..strategies import TraceEvent
from .engine import ChoiceResult


def sse(obj: Any) -> bytes:
    return b"data: " + json.dumps(obj, ensure_ascii=False, default=str).encode() + b"\n\n"


DONE = b"data: [DONE]\n\n"


def usage_dict(u: Usage) -> dict[str, int]:
    return {"prompt_tokens": u.prompt_tokens, "completion_tokens": u.completion_tokens,
            "total_tokens": u.total_tokens}


def total_usage(choices: Sequence[ChoiceResult]) -> Usage:
    return Usage.total([c.result.usage for c in choices])


def nlrl_summary(choices: Sequence[ChoiceResult], *, request_id: str, strategy: str, source: str,
                 samples: int, return_trace: bool) -> dict[str, Any]:
    by_kind: dict[str, Usage] = {}
    for c in choices:
        for k, u in c.result.usage_by_kind.items():
            by_kind[k] = by_kind.get(k, Usage()) + u
    total = total_usage(choices)
    out: dict[str, Any] = {
        "request_id": request_id, "strategy": strategy, "strategy_source": source, "samples": samples,
        "usage": {**total.to_dict(), "by_kind": {k: u.to_dict() for k, u in sorted(by_kind.items())}},
        "choices": [],
    }
    for c in choices:
        entry: dict[str, Any] = {"index": c.index, "strategy": c.result.strategy,
                                 "final_answer": c.result.final_answer, "score": c.result.score,
                                 "usage": c.result.usage.to_dict()}
        if return_trace:
            entry["trace"] = [ev.to_dict() for ev in c.result.trace]
        out["choices"].append(entry)
    return out


def chat_logprobs(tokens: Sequence[TokenEvent]) -> dict[str, Any]:
    return {"content": [{"token": t.text, "logprob": t.logprob, "bytes": list(t.text.encode()),
                         "top_logprobs": []} for t in tokens if t.logprob is not None]}


def completion_logprobs(tokens: Sequence[TokenEvent]) -> dict[str, Any]:
    kept = [t for t in tokens if t.logprob is not None]
    offsets, pos = [], 0
    for t in kept:
        offsets.append(pos)
        pos += len(t.text)
    return {"tokens": [t.text for t in kept], "token_logprobs": [t.logprob for t in kept],
            "top_logprobs": None, "text_offset": offsets}


def _compact(data: dict[str, Any], limit: int = 160) -> str:
    text = json.dumps({k: v for k, v in data.items() if k not in ("groups", "members")},
                      ensure_ascii=False, default=str)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def describe(ev: TraceEvent) -> str:
    """One human-readable line for a trace event."""
    d = dict(ev.data)
    if ev.kind == "sample":
        return f"\n→ sample {d.get('index')}: answer {d.get('answer')!r} ({d.get('tokens')} tokens)\n"
    if ev.kind == "vote":
        tally = ", ".join(f"{g.get('answer')!r}×{g.get('count')}" for g in d.get("groups") or [])
        return f"vote: {ev.text!r} wins (agreement {d.get('agreement')}; {tally or 'no answers'})\n"
    if ev.kind == "score":
        return f"score of sample {d.get('index')}: {d.get('score')}\n"
    if ev.kind == "difficulty":
        return f"difficulty: {ev.text} (agreement {d.get('agreement')}, probe of {d.get('probe')} samples)\n"
    if ev.kind == "choice":
        return f"auto chose {ev.text} ({d.get('strategy')}, n={d.get('n')})\n"
    head = ev.text if len(ev.text) <= 200 else ev.text[:199] + "…"
    return f"{ev.kind}: {head} {_compact(d)}\n".replace("  ", " ")


class ReasoningWriter:
    """Turns one choice's gists and events into reasoning text, with a header per sample."""

    def __init__(self) -> None:
        self.sample: int | None = None

    def gist(self, g: Gist) -> str:
        head = ""
        if g.sample != self.sample:
            head = ("\n" if self.sample is not None else "") + f"[sample {g.sample}] "
            self.sample = g.sample
        return head + g.text

    def event(self, ev: TraceEvent) -> str:
        self.sample = None if ev.kind == "sample" else self.sample
        return describe(ev)
