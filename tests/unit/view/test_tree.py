"""The search trees of mcts, dvts and particle-filter, rebuilt from the traces of real searches
(the strategies run on the scripted step model) and drawn as SVG. The browser test that opens
such runs is tests/e2e/test_view_browser.py::test_search_trees_draw_every_node_and_edge."""

from __future__ import annotations

import re

import pytest

from nlrl.strategies import Budget
from nlrl.strategies.dvts import DVTS
from nlrl.strategies.mcts import MCTS
from nlrl.strategies.particle_filter import ParticleFilter
from nlrl.view import svg, tree
from nlrl.view.trace import blocks

from helpers.search import StepReward, step_backend, step_script
from helpers.strategies import math_task
from helpers.view_runs import XSS_IMG, XSS_SCRIPT


def events(res) -> list[dict]:
    return [e.to_dict() for e in res.trace]  # as results.jsonl stores them


def path_to(nodes: dict[str, dict], leaf: str) -> list[str]:
    out = []
    while leaf is not None:
        out.append(leaf)
        leaf = nodes[leaf]["parent"]
    return out[::-1]


def test_mcts_tree_has_every_expanded_child_with_its_last_backed_up_numbers():
    res = MCTS(iterations=8)(math_task(), step_backend(), reward=StepReward(), budget=Budget(n=1, seed=0))
    ev = events(res)
    t = tree.mcts(ev)
    nodes = {n["id"]: n for n in t["nodes"]}
    children = [c for e in ev if e["kind"] == "expand" for c in e["children"]]
    assert set(nodes) == {"0"} | {str(c["id"]) for c in children}
    for e in ev:
        if e["kind"] == "expand":
            for c in e["children"]:
                n = nodes[str(c["id"])]
                assert (n["parent"], n["text"], n["done"]) == (str(e["node"]), c["text"], c["done"])
                assert n["stats"]["value"] == c["value"] and n["depth"] == nodes[str(e["node"])]["depth"] + 1
    backups = [e for e in ev if e["kind"] == "backup"]
    for nid, n in nodes.items():
        last = [(b["visits"][b["path"].index(int(nid))], b["q"][b["path"].index(int(nid))])
                for b in backups if int(nid) in b["path"]]
        if last:
            assert (n["stats"]["visits"], n["stats"]["q"]) == last[-1]
        else:  # never backed up: no visits, Q is its own evaluation
            assert n["stats"]["visits"] == 0 and n["stats"]["q"] == n["stats"]["value"]
    assert nodes["0"]["stats"]["visits"] == len(backups)
    stop = ev[-1]
    assert t["chosen"] == str(stop["chosen"]) and nodes[t["chosen"]]["done"]
    assert {i for i, n in nodes.items() if n["chosen"]} == set(path_to(nodes, t["chosen"]))
    assert t["facts"]["expansions"] == sum(e["kind"] == "expand" for e in ev)


def test_mcts_with_the_language_value_keeps_its_reasoning_and_rollouts_as_notes():
    res = MCTS(iterations=3, evaluator="value", rollout=True)(math_task(), step_backend(),
                                                              budget=Budget(n=1, seed=0))
    t = tree.mcts(events(res))
    nodes = {n["id"]: n for n in t["nodes"]}
    first = [e for e in events(res) if e["kind"] == "expand"][0]["children"]
    good, bad = (nodes[str(c["id"])] for c in first)
    assert good["text"] == "good start" and good["note"].startswith("language value 0.8: fine\nrollout (")
    assert bad["text"] == "bad start" and bad["note"] == "language value 0.2: bad step"
    rolled = [str(e["node"]) for e in events(res) if e["kind"] == "rollout"]
    assert rolled and all("rollout (" in nodes[i]["note"] for i in rolled)


def test_dvts_tree_hangs_each_round_under_the_node_its_subtree_kept():
    res = DVTS(n=4, width=2)(math_task(), step_backend(), reward=StepReward(), budget=Budget(n=4, seed=0))
    ev = events(res)
    t = tree.dvts(ev)
    nodes = {n["id"]: n for n in t["nodes"]}
    rounds = [e for e in ev if e["kind"] == "subtree"]
    assert len(nodes) == 1 + sum(len(e["candidates"]) for e in rounds)
    tips: dict[int, str] = {}
    for e in rounds:
        here = [n for n in t["nodes"] if n["stats"].get("subtree") == e["subtree"] and n["depth"] == e["depth"]]
        assert [n["text"] for n in here] == [c["text"] for c in e["candidates"]]
        assert [n["stats"]["score"] for n in here] == [c["score"] for c in e["candidates"]]
        assert all(n["parent"] == tips.get(e["subtree"], "r") for n in here)
        assert [n["pruned"] for n in here] == [j != e["kept"] for j in range(len(here))]
        tips[e["subtree"]] = here[e["kept"]]["id"]
    stop = ev[-1]
    assert t["chosen"] == tips[stop["chosen"]] and nodes[t["chosen"]]["done"]
    assert all(not nodes[i]["pruned"] for i in path_to(nodes, t["chosen"]))
    assert t["facts"]["pruned"] == sum(len(e["candidates"]) - 1 for e in rounds)


def test_particle_tree_follows_resampling_and_marks_the_dropped():
    res = ParticleFilter(n=4)(math_task(), step_backend(), reward=StepReward(), budget=Budget(n=4, seed=1))
    ev = events(res)
    t = tree.particles(ev)
    nodes = {n["id"]: n for n in t["nodes"]}
    rounds = [e for e in ev if e["kind"] == "particles"]
    assert len(nodes) == 1 + sum(len(e["particles"]) for e in rounds)
    for d, e in enumerate(rounds, start=1):
        for i, p in enumerate(e["particles"]):
            n = nodes[f"{d}.{i}"]
            assert n["parent"] == ("r" if d == 1 else f"{d - 1}.{p['parent']}")
            assert (n["text"], n["stats"]["weight"], n["done"]) == (p["text"], p["weight"], p["done"])
            assert bool(n.get("carried")) == (i not in e["extended"])
    parents = {n["parent"] for n in t["nodes"]}
    for n in t["nodes"]:
        assert n["pruned"] == (0 < n["depth"] < len(rounds) and n["id"] not in parents)
    resamples = [e for e in ev if e["kind"] == "resample"]
    for d, e in enumerate(resamples, start=1):  # a particle no pick drew is dropped
        assert {j for j in range(len(e["picks"])) if nodes[f"{d}.{j}"]["pruned"]} == \
            set(range(len(e["picks"]))) - set(e["picks"])
    assert t["chosen"] == f"{len(rounds)}.{ev[-1]['chosen']}"


@pytest.mark.parametrize("bad", [
    [{"kind": "expand"}, {"kind": "backup", "path": [0, 9]}, {"kind": "stop", "chosen": 42}],
    [{"kind": "expand", "node": 5, "children": [{"id": 1, "parent": 1}, "junk"]}, {"kind": "stop", "chosen": 1}],
    [{"kind": "subtree", "subtree": 0, "candidates": None}, {"kind": "stop", "chosen": 3}],
    [{"kind": "particles", "particles": [{"parent": 7}, 3]}, {"kind": "stop", "chosen": "x"}],
])
def test_a_broken_trace_still_draws(bad):
    for b in blocks(bad):
        assert b["type"] in ("search", "notes")
        if b["type"] == "search":
            assert str(b["chart"]).startswith("<svg") or not b["nodes"]


def test_the_svg_draws_each_node_and_edge_and_escapes_the_steps():
    def script(prompt: str, index: int) -> str:
        out = step_script(prompt, index)
        return out.replace("good start", f"good start {XSS_IMG} {XSS_SCRIPT}")

    res = MCTS(iterations=6)(math_task(), step_backend(script), reward=StepReward(), budget=Budget(n=1, seed=0))
    t = tree.mcts(events(res))
    html = str(svg.search_tree(t))
    assert "<img" not in html and "<script" not in html and "&lt;img" in html
    drawn = re.findall(r'<g class="([^"]*)"[^>]* data-node="([^"]*)" data-parent="([^"]*)"', html)
    assert sorted(d[1] for d in drawn) == sorted(n["id"] for n in t["nodes"])
    edges = set(re.findall(r'data-from="([^"]*)" data-to="([^"]*)"', html))
    assert edges == {(n["parent"], n["id"]) for n in t["nodes"] if n["parent"] is not None}
    assert {d[1] for d in drawn if "chosen" in d[0].split()} == {n["id"] for n in t["nodes"] if n["chosen"]}
    full = next(n["text"] for n in t["nodes"] if n["text"].startswith("good start"))
    assert len(full) > 32  # clipped on the node, whole in its data-text and tooltip
    assert html.count(str(svg.escape(full))) >= 2


def test_the_sample_block_of_each_search():
    for strategy, kind in ((MCTS(iterations=4), "mcts"), (DVTS(n=2, width=2), "dvts"),
                           (ParticleFilter(n=2), "particle-filter")):
        res = strategy(math_task(), step_backend(), reward=StepReward(), budget=Budget(n=2, seed=0))
        bs = [b for b in blocks(events(res)) if b["type"] == "search"]
        assert [b["kind"] for b in bs] == [kind]
        assert bs[0]["count"] == len(bs[0]["nodes"]) and bs[0]["edges"] == bs[0]["count"] - 1
        # the search's own events are drawn, not listed as unknown notes
        notes = [e["kind"] for b in blocks(events(res)) if b["type"] == "notes" for e in b["events"]]
        assert set(notes) <= {"stop", "fallback"}


def test_served_and_exported_pages_carry_the_tree_escaped(tmp_path):
    pytest.importorskip("starlette", reason="the view extra (starlette) is not installed")
    from starlette.testclient import TestClient

    from helpers import view_runs
    from nlrl.view import create_app, export_html, open_run

    run = open_run(view_runs.search_run(tmp_path, "mcts", {"iterations": 6}))
    row = run.rows[0]
    nodes = tree.mcts(row["trace"])["nodes"]
    assert any(XSS_IMG in n["text"] for n in nodes)
    page = TestClient(create_app([run])).get("/runs/0/sample", params={"id": row["id"]})
    assert page.status_code == 200 and "script-src 'self'" in page.headers["content-security-policy"]
    for html, trees in ((page.text, 1), (export_html([run]), len(run.rows))):  # the export: every sample
        assert html.count('<svg class="chart tree search-tree"') == trees
        assert "<img src=x" not in html and "&lt;img src=x onerror=" in html
        assert len(re.findall(r'<tr data-node="', html)) >= len(nodes)  # the node table, full steps
        assert 'data-role="node-detail" hidden' in html


def test_a_deep_tree_draws_without_recursion():
    chain = [{"kind": "expand", "node": i, "children": [{"id": i + 1, "parent": i, "text": f"step {i}", "value": 0.5,
                                                          "done": False}]} for i in range(3000)]
    t = tree.mcts(chain + [{"kind": "stop", "chosen": 3000}])
    html = str(svg.search_tree(t))
    assert html.count('class="node') == 3001 and sum(n["chosen"] for n in t["nodes"]) == 3001


def test_beam_tree_links_each_candidate_to_the_kept_path_it_extends():
    from nlrl.strategies.beam import BeamSearch

    res = BeamSearch(2, expansions=2, max_steps=4)(math_task(), step_backend(), reward=StepReward(),
                                                   budget=Budget(n=2, seed=0))
    ev = events(res)
    t = tree.beam(ev)
    nodes = {n["id"]: n for n in t["nodes"]}
    rounds = [e for e in ev if e["kind"] == "beam"]
    assert len(nodes) == 1 + sum(len(e["kept"]) + len(e["pruned"]) for e in rounds)
    for d, e in enumerate(rounds, start=1):
        for tag, items in (("k", e["kept"]), ("p", e["pruned"])):
            for j, c in enumerate(items):
                n = nodes[f"{d}.{tag}{j}"]
                assert n["parent"] == ("r" if d == 1 else f"{d - 1}.k{c['parent']}")
                assert (n["text"], n["stats"]["score"], n["pruned"]) == (c["text"], c["score"], tag == "p")
    d, s = next(e for e in ev if e["kind"] == "stop")["chosen"]
    assert t["chosen"] == f"{d}.k{s}" and sum(n["chosen"] for n in t["nodes"]) == d + 1
    assert t["facts"]["linked"]
    # a trace from before beam search recorded parents: the rounds, without edges past the first
    def unlinked(cands):
        return [{k: v for k, v in c.items() if k != "parent"} for c in cands]

    old = [{**e, "kept": unlinked(e["kept"]), "pruned": unlinked(e["pruned"])} if e["kind"] == "beam" else e
           for e in ev]
    t_old = tree.beam(old)
    assert len(rounds) > 1 and not t_old["facts"]["linked"]
    assert all(n["parent"] is None for n in t_old["nodes"] if n["depth"] > 1)
    assert str(svg.search_tree(t_old)).count("<g class=\"node") == len(nodes)
