"""A sample's trace (the strategy's events, ``results.jsonl`` ``trace``) as the blocks the sample
page draws: samples, a vote tally, best-of-N scores, self-refine steps, divide-and-conquer
sub-questions, the search trees of ``beam``, ``mcts``, ``dvts`` and ``particle-filter``
(:mod:`.tree`), ``auto``'s probe and choice, and any other events as notes.

Blocks are plain dicts; charts in them are escaped SVG (:mod:`.svg`).
"""

from __future__ import annotations

from typing import Any, Sequence

from . import svg, tree

_NOTE_KINDS = ("stop", "fallback", "skipped", "select")


def blocks(trace: Sequence[Any]) -> list[dict[str, Any]]:
    """The blocks of ``trace`` in the order their first event appears."""
    events = [e for e in trace if isinstance(e, dict) and isinstance(e.get("kind"), str)]
    by: dict[str, list[dict[str, Any]]] = {}
    for e in events:
        by.setdefault(e["kind"], []).append(e)
    out: list[dict[str, Any]] = []
    if "difficulty" in by or "choice" in by:
        out.append(_auto(by))
    if "beam" in by:
        out.append(_search(tree.beam(events), "Beam search tree"))
    if "expand" in by or "backup" in by:
        out.append(_search(tree.mcts(events), "MCTS search tree"))
    if "subtree" in by:
        out.append(_search(tree.dvts(events), "DVTS subtrees"))
    if "particles" in by:
        out.append(_search(tree.particles(events), "Particle filter: particles per round"))
    if "decompose" in by or "subquestion" in by:
        out.append(_decompose(by))
    if "critique" in by or "revision" in by:
        out.append(_refine(by))
    elif "sample" in by:
        out.append(_samples(by))
    if "score" in by:
        out.append(_scores(by))
    if "vote" in by:
        out.extend(_vote(e) for e in by["vote"])
    notes = [e for e in events if e["kind"] in _NOTE_KINDS or e["kind"] not in _KNOWN]
    if notes:
        out.append({"type": "notes", "title": "Other events", "events": [_note(e) for e in notes]})
    return out


_KNOWN = frozenset({"difficulty", "choice", "beam", "decompose", "subquestion", "subanswer", "compose",
                    "critique", "revision", "sample", "score", "vote", "expand", "backup", "evaluate", "rollout",
                    "subtree", "particles", "resample", *_NOTE_KINDS})


def _note(e: dict[str, Any]) -> dict[str, Any]:
    return {"kind": e["kind"], "text": e.get("text") or "",
            "data": {k: v for k, v in e.items() if k not in ("kind", "text")}}


def _samples(by: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    items = [{"index": e.get("index", i), "answer": e.get("answer"), "tokens": e.get("tokens"),
              "finish": e.get("finish_reason"), "text": e.get("text") or ""} for i, e in enumerate(by["sample"])]
    return {"type": "samples", "title": f"Samples ({len(items)})", "list": items}


def _scores(by: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    picked = next((e.get("index") for e in by.get("select", [])), None)
    answers = {e.get("index"): e.get("answer") for e in by.get("sample", [])}
    items = []
    for e in by["score"]:
        i = e.get("index")
        v = e.get("score")
        label = f"#{i}" + (f" · {answers[i]}" if answers.get(i) not in (None, "") else "")
        items.append({"label": label, "value": v if isinstance(v, (int, float)) else 0.0, "hi": i == picked,
                      "title": f"sample {i}: score {v}" + (f" ({e['error']})" if e.get("error") else "")})
    return {"type": "scores", "title": "Best-of-N: reward per sample", "picked": picked,
            "chart": svg.hbars(items, label="reward per sample", fmt="{:.3f}", css="chart scores"),
            "count": len(items)}


def _vote(e: dict[str, Any]) -> dict[str, Any]:
    groups = [g for g in e.get("groups") or [] if isinstance(g, dict)]
    weighted = bool(e.get("weighted"))
    items = [{"label": "(no answer)" if g.get("answer") in (None, "") else g.get("answer"),
              "value": g.get("score") if weighted else g.get("count"), "hi": i == 0,
              "title": f"{g.get('answer')}: {g.get('count')} vote(s), samples {g.get('members')}"}
             for i, g in enumerate(groups)]
    if e.get("abstained"):
        items.append({"label": "(abstained)", "value": e.get("abstained"), "hi": False,
                      "title": f"{e.get('abstained')} sample(s) gave no answer"})
    return {"type": "vote", "title": "Vote tally" + (" (weighted)" if weighted else ""),
            "winner": e.get("text") or None, "agreement": e.get("agreement"), "samples": e.get("samples"),
            "chart": svg.hbars(items, label="vote tally", fmt="{:g}", css="chart vote"), "groups": len(groups)}


def _refine(by: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    steps: list[dict[str, Any]] = []
    first = (by.get("sample") or [None])[0]
    if first is not None:
        steps.append({"step": "draft", "round": 0, "text": first.get("text") or "", "answer": first.get("answer")})
    rounds = sorted({e.get("round", 0) for e in by.get("critique", []) + by.get("revision", [])},
                    key=lambda r: r if isinstance(r, int) else 0)
    for rnd in rounds:
        for e in by.get("critique", []):
            if e.get("round") == rnd:
                steps.append({"step": "critique", "round": rnd, "text": e.get("text") or "",
                              "verdict": e.get("verdict")})
        for e in by.get("revision", []):
            if e.get("round") == rnd:
                steps.append({"step": "revision", "round": rnd, "text": e.get("text") or "", "answer": e.get("answer")})
    stop = next((e for e in by.get("stop", []) if "versions" in e), None)
    return {"type": "refine", "title": "Self-refine: draft → critique → revision", "steps": steps,
            "chosen": None if stop is None else stop.get("chosen"), "stopped": None if stop is None else stop.get("text")}


def _decompose(by: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    chains: dict[Any, dict[str, Any]] = {}

    def chain(e: dict[str, Any]) -> dict[str, Any]:
        return chains.setdefault(e.get("chain", 0), {"chain": e.get("chain", 0), "plan": "", "parts": {},
                                                     "compose": None, "answer": None})

    for e in by.get("decompose", []):
        chain(e)["plan"] = e.get("text") or ""
    for e in by.get("subquestion", []):
        chain(e)["parts"].setdefault(e.get("index"), {})["q"] = e.get("text") or ""
    for e in by.get("subanswer", []):
        chain(e)["parts"].setdefault(e.get("index"), {})["a"] = e.get("text") or ""
    for e in by.get("compose", []):
        c = chain(e)
        c["compose"], c["answer"] = e.get("text") or "", e.get("answer")
    out = []
    for c in chains.values():
        parts = [{"index": k, "q": v.get("q", ""), "a": v.get("a")}
                 for k, v in sorted(c["parts"].items(), key=lambda kv: kv[0] if isinstance(kv[0], int) else 0)]
        out.append({**c, "parts": parts})
    return {"type": "decompose", "title": "Divide and conquer: sub-questions", "chains": out}


def _search(t: dict[str, Any], title: str) -> dict[str, Any]:
    f = t["facts"]
    if t["kind"] == "mcts":
        summary = (f"{f['nodes']} nodes · {f['expansions']} expansions · {f['backups']} backups"
                   + (f" · {f['rollouts']} rollouts" if f["rollouts"] else "") + f" · {f['finished']} finished")
    elif t["kind"] == "beam":
        summary = (f"{f['rounds']} rounds · {f['nodes']} nodes ({f['kept']} kept, {f['pruned']} pruned, "
                   f"plus the root) · {f['finished']} finished")
        if not f["linked"]:
            summary += " · written before beam search recorded each candidate's parent: rounds drawn without edges"
    elif t["kind"] == "dvts":
        summary = (f"{f['subtrees']} subtrees · {f['rounds']} subtree rounds · {f['kept']} kept, "
                   f"{f['pruned']} pruned · {f['finished']} finished")
    else:
        summary = (f"{f['particles']} particles · {f['rounds']} rounds · {f['resamples']} resamplings · "
                   f"{f['dropped']} dropped at resampling · {f['finished']} finished at the end")
    if f.get("stopped"):
        summary += f" · stopped: {f['stopped']}"
    nodes = [{**n, "info": svg.node_info(t["kind"], n)} for n in t["nodes"]]
    return {"type": "search", "kind": t["kind"], "title": title, "summary": summary, "chart": svg.search_tree(t),
            "nodes": nodes, "count": len(nodes), "chosen": t["chosen"],
            "edges": sum(1 for n in t["nodes"] if n["parent"] is not None)}


def _auto(by: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    probe = (by.get("difficulty") or [{}])[0]
    choice = (by.get("choice") or [{}])[0]
    answers = probe.get("answers") or []
    counts: dict[str, int] = {}
    for a in answers:
        key = "(no answer)" if a in (None, "") else str(a)
        counts[key] = counts.get(key, 0) + 1
    items = [{"label": k, "value": v, "hi": False} for k, v in sorted(counts.items(), key=lambda kv: -kv[1])]
    return {"type": "auto", "title": "auto: probe and choice", "bin": probe.get("text"),
            "agreement": probe.get("agreement"), "probe": probe.get("probe"), "reason": probe.get("reason"),
            "chart": svg.hbars(items, label="probe answers", css="chart probe"),
            "choice": choice.get("text"), "strategy": choice.get("strategy"), "n": choice.get("n"),
            "dev_accuracy": choice.get("dev_accuracy"), "dev_tokens": choice.get("dev_tokens")}
