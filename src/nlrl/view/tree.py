"""The search trees of ``beam``, ``mcts``, ``dvts`` and ``particle-filter``, rebuilt from their trace
events (the events carry node and parent ids for this; see each strategy's module docstring).

A tree is a plain dict: ``kind``, ``nodes`` (parents before children, the root first), ``chosen``
(the id of the node whose path gave the answer, or ``None``) and ``facts`` (counts for a one-line
summary). A node is::

    {"id": "3", "parent": "1", "depth": 2, "text": "the step", "stats": {"value": 0.9, ...},
     "done": bool, "pruned": bool, "chosen": bool, "note": "..."}

``done``: the path wrote its final-answer line; ``pruned``: the search dropped it (a candidate
not kept, a particle not drawn at resampling); ``chosen``: on the answer's path; ``note``: what
else the trace says of it (the language value's reasoning, a rollout). Ids are strings, unique
in a tree. Nothing here is drawn or escaped: :func:`nlrl.view.svg.search_tree` draws a tree.

>>> t = mcts([{"kind": "expand", "node": 0, "children": [{"id": 1, "parent": 0, "text": "x = 2",
...           "value": 0.8, "done": False}]}, {"kind": "backup", "path": [0, 1], "visits": [1, 1],
...           "q": [0.8, 0.8]}, {"kind": "stop", "chosen": 1}])
>>> [(n["id"], n["parent"], n["stats"]["visits"], n["chosen"]) for n in t["nodes"]]
[('0', None, 1, True), ('1', '0', 1, True)]
"""

from __future__ import annotations

from typing import Any, Sequence

ROOT_TEXT = "(question)"
Event = dict[str, Any]


def _node(nid: str, parent: str | None, depth: int, text: Any, **stats: Any) -> dict[str, Any]:
    return {"id": nid, "parent": parent, "depth": depth, "text": "" if text is None else str(text),
            "stats": stats, "done": False, "pruned": False, "chosen": False, "note": ""}


def _num(x: Any) -> float | None:
    return float(x) if isinstance(x, (int, float)) and not isinstance(x, bool) else None


def _mark_path(nodes: dict[str, dict[str, Any]], leaf: str | None) -> None:
    seen: set[str] = set()
    while leaf is not None and leaf in nodes and leaf not in seen:  # a cycle in a bad trace ends the walk
        seen.add(leaf)
        nodes[leaf]["chosen"] = True
        leaf = nodes[leaf]["parent"]


def _last(events: Sequence[Event], kind: str, key: str) -> Event | None:
    return next((e for e in reversed(events) if e["kind"] == kind and key in e), None)


def _tree(kind: str, nodes: dict[str, dict[str, Any]], chosen: str | None, /, **facts: Any) -> dict[str, Any]:
    _mark_path(nodes, chosen)
    return {"kind": kind, "nodes": list(nodes.values()), "chosen": chosen if chosen in nodes else None,
            "facts": facts}


def mcts(events: Sequence[Event]) -> dict[str, Any]:
    """MCTS: ``expand`` adds a node's children (their prior value), ``backup`` sets the visits
    and Q of the nodes on its path (the last backup through a node is its final state),
    ``evaluate`` (the language value) and ``rollout`` become notes, ``stop``'s ``chosen`` is the
    answer's node. A node no backup passed through has 0 visits and its Q is its prior."""
    events = [e for e in events if isinstance(e, dict)]
    nodes = {"0": _node("0", None, 0, ROOT_TEXT, value=None, visits=0, q=None)}
    pending: list[Event] = []  # the language value's evaluate events come before their expand
    expansions = backups = rollouts = 0
    for e in events:
        k = e.get("kind")
        if k == "evaluate":
            pending.append(e)
        elif k == "expand":
            expansions += 1
            parent = str(e.get("node", 0))
            kids = [c for c in e.get("children") or [] if isinstance(c, dict) and "id" in c]
            for j, c in enumerate(kids):
                p = str(c.get("parent", parent))
                depth = nodes[p]["depth"] + 1 if p in nodes else int(e.get("depth") or 0) + 1
                n = _node(str(c["id"]), p if p in nodes else "0", depth, c.get("text"), value=_num(c.get("value")),
                          visits=0, q=_num(c.get("value")))
                n["done"] = bool(c.get("done"))
                if j < len(pending) and pending[j].get("step") == c.get("text"):
                    ev = pending[j]
                    n["note"] = f"language value {ev.get('final')}: {ev.get('text') or ''}".strip()
                nodes[n["id"]] = n
            pending = []
        elif k == "rollout":
            rollouts += 1
            n = nodes.get(str(e.get("node")))
            if n is not None:
                end = f"answer {e['answer']}" if e.get("answer") is not None else "unfinished"
                n["note"] = (n["note"] + "\n" if n["note"] else "") + \
                    f"rollout ({end}, value {e.get('value')}): {e.get('text') or ''}".rstrip()
            pending = []
        elif k == "backup":
            backups += 1
            path, visits, q = e.get("path") or [], e.get("visits") or [], e.get("q") or []
            for i, nid in enumerate(path):
                n = nodes.get(str(nid))
                if n is None:
                    continue
                if i < len(visits):
                    n["stats"]["visits"] = visits[i]
                if i < len(q):
                    n["stats"]["q"] = _num(q[i])
    stop = _last(events, "stop", "chosen")
    chosen = None if stop is None else str(stop["chosen"])
    return _tree("mcts", nodes, chosen, nodes=len(nodes), expansions=expansions, backups=backups,
                 rollouts=rollouts, finished=sum(n["done"] for n in nodes.values()),
                 stopped=None if stop is None else stop.get("text"))


def dvts(events: Sequence[Event]) -> dict[str, Any]:
    """DVTS: each ``subtree`` event is one round of one subtree; its candidates hang under the
    node the subtree kept the round before (the root in its first round); the one at ``kept``
    is kept, the others are pruned. ``stop``'s ``chosen`` names the subtree whose path answered."""
    events = [e for e in events if isinstance(e, dict)]
    nodes = {"r": _node("r", None, 0, ROOT_TEXT)}
    tip: dict[Any, str] = {}  # subtree -> its kept node so far
    rounds = kept = pruned = 0
    for e in events:
        if e.get("kind") != "subtree":
            continue
        t = e.get("subtree")
        parent = tip.get(t, "r")
        depth = nodes[parent]["depth"] + 1
        cands = [c for c in e.get("candidates") or [] if isinstance(c, dict)]
        if not cands:
            nodes[parent]["note"] = f"subtree {t}: no new step, ended unfinished"
            continue
        rounds += 1
        for j, c in enumerate(cands):
            n = _node(f"{t}.{depth}.{j}", parent, depth, c.get("text"), score=_num(c.get("score")), subtree=t)
            n["done"] = bool(c.get("done"))
            n["pruned"] = j != e.get("kept")
            nodes[n["id"]] = n
            if n["pruned"]:
                pruned += 1
            else:
                kept += 1
                tip[t] = n["id"]
    stop = _last(events, "stop", "chosen")
    chosen = None if stop is None else tip.get(stop["chosen"])
    return _tree("dvts", nodes, chosen, nodes=len(nodes), subtrees=len(tip), rounds=rounds, kept=kept,
                 pruned=pruned, finished=sum(n["done"] and not n["pruned"] for n in nodes.values()),
                 stopped=None if stop is None else stop.get("text"))


def particles(events: Sequence[Event]) -> dict[str, Any]:
    """Particle filtering: each ``particles`` event is the population after one round; particle
    ``i`` hangs under the particle of the round before that it was resampled from (``parent``;
    the root in the first round). A particle not extended that round (it had finished, or the
    budget ran short) is its parent carried forward; a particle no later round drew from was
    dropped by resampling (``pruned``). ``stop``'s ``chosen`` is a particle of the last round."""
    events = [e for e in events if isinstance(e, dict)]
    nodes = {"r": _node("r", None, 0, ROOT_TEXT)}
    last: list[str] = []
    rounds = resamples = 0
    for e in events:
        k = e.get("kind")
        if k == "resample":
            resamples += 1
        if k != "particles":
            continue
        rounds += 1
        pop = [p for p in e.get("particles") or [] if isinstance(p, dict)]
        extended = set(e.get("extended") or [])
        here = []
        for i, p in enumerate(pop):
            j = p.get("parent")
            parent = last[j] if isinstance(j, int) and 0 <= j < len(last) else (last[i] if len(last) == len(pop)
                                                                                and rounds > 1 else "r")
            n = _node(f"{rounds}.{i}", parent, rounds, p.get("text"), score=_num(p.get("score")),
                      weight=_num(p.get("weight")), particle=i)
            n["done"] = bool(p.get("done"))
            if i not in extended:
                n["note"] = "not extended this round: carried forward as it was"
                n["carried"] = True
            nodes[n["id"]] = n
            here.append(n["id"])
        last = here
    parents = {n["parent"] for n in nodes.values()}
    for n in nodes.values():
        if n["id"] != "r" and n["depth"] < rounds and n["id"] not in parents:
            n["pruned"] = True
    stop = _last(events, "stop", "chosen")
    c = None if stop is None else stop["chosen"]
    chosen = last[c] if isinstance(c, int) and 0 <= c < len(last) else None
    return _tree("particle-filter", nodes, chosen, nodes=len(nodes), particles=len(last), rounds=rounds,
                 resamples=resamples, dropped=sum(n["pruned"] for n in nodes.values()),
                 finished=sum(nodes[i]["done"] for i in last), stopped=None if stop is None else stop.get("text"))


def beam(events: Sequence[Event]) -> dict[str, Any]:
    """Beam search: each ``beam`` event is one round, its ``kept`` and ``pruned`` candidates each
    naming its ``parent``, the index of the path it extends among the round before's kept ones;
    ``stop``'s ``chosen`` is ``[round, index among that round's kept]``. A trace written before
    beam search recorded parents draws its rounds as columns without edges."""
    events = [e for e in events if isinstance(e, dict)]
    nodes = {"r": _node("r", None, 0, ROOT_TEXT)}
    rounds = sorted((e for e in events if e.get("kind") == "beam"), key=lambda e: e.get("depth") or 0)
    kept = pruned = 0
    for d, e in enumerate(rounds, start=1):
        for tag, items in (("k", e.get("kept")), ("p", e.get("pruned"))):
            for j, c in enumerate(c for c in items or [] if isinstance(c, dict)):
                p = c.get("parent")
                parent = "r" if d == 1 else f"{d - 1}.k{p}" if isinstance(p, int) and f"{d - 1}.k{p}" in nodes else None
                n = _node(f"{d}.{tag}{j}", parent, d, c.get("text"), score=_num(c.get("score")))
                n["done"], n["pruned"] = bool(c.get("done")), tag == "p"
                nodes[n["id"]] = n
                kept, pruned = kept + (tag == "k"), pruned + (tag == "p")
    stop = _last(events, "stop", "chosen")
    c = None if stop is None else stop["chosen"]
    chosen = f"{c[0]}.k{c[1]}" if isinstance(c, list) and len(c) == 2 and all(isinstance(x, int) for x in c) else None
    return _tree("beam", nodes, chosen, nodes=len(nodes), rounds=len(rounds), kept=kept, pruned=pruned,
                 finished=sum(n["done"] and not n["pruned"] for n in nodes.values()),
                 linked=any(n["parent"] is not None for n in nodes.values() if n["depth"] > 1) or len(rounds) < 2,
                 stopped=None if stop is None else stop.get("text"))
