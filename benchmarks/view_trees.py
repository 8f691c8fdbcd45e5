"""How ``nlrl view``'s search trees scale with the size of the search: a sample page of an
``mcts`` and a ``particle-filter`` run whose trees have about 33, 129 and 513 nodes.

    python benchmarks/view_trees.py            # writes benchmarks/results/view_trees.json

The traces are those of real searches (the strategies on a scripted model that never writes an
answer, so every round or iteration adds nodes): particle filtering with 4, 16 and 64 particles
over 8 rounds, MCTS with 16, 64 and 256 iterations of 2 expansions. For each:

* server side (in-process): rebuilding the tree from the trace and drawing it (``blocks``), and
  the whole sample page through Starlette's test client (seconds, bytes);
* in headless Chromium (when chromium and chromedriver are installed): loading the sample page
  until the tree is drawn, and a click on a node showing its detail (``performance.now()``).

Medians of ``--repeat`` runs; ``ratio_vs_smallest`` divides by the smallest tree's figure of the
same strategy in the same run. No figure is asserted anywhere.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from view_scale import timed, viewer_in_chromium  # noqa: E402  (the benchmarks folder is on sys.path)

SIZES = {"particle-filter": [("n", 4), ("n", 16), ("n", 64)],
         "mcts": [("iterations", 16), ("iterations", 64), ("iterations", 256)]}


def endless(prompt: str, index: int) -> str:
    """A step model that never finishes: every step is new text."""
    return f"add the next number and carry the remainder, attempt {index} at depth {prompt.count(chr(10))}\n"


def search_run(root: Path, strategy: str, key: str, value: int) -> Path:
    from nlrl.backends import ScriptedBackend
    from nlrl.bench import BenchRunner, from_dicts

    ds = from_dicts([{"id": "q0", "question": "What is 3 + 4?", "answer": "7"}], name="trees")
    n = value if key == "n" else 1
    options = {"max_steps": 8} if strategy == "particle-filter" else {"iterations": value, "expansions": 2,
                                                                      "max_steps": 8}
    out = root / f"{strategy}-{value}"
    BenchRunner(ScriptedBackend(endless, logprob=lambda tok: -0.1), strategy=strategy, n=n, temperature=0.7,
                max_tokens=64, strategy_options=options, progress=False, plots=False).run(ds, out)
    return out


def server_side(run_dir: Path, repeat: int) -> dict:
    from starlette.testclient import TestClient

    from nlrl.view import create_app, open_run
    from nlrl.view.trace import blocks

    run = open_run(run_dir)
    trace = run.rows[0]["trace"]
    blocks_s, bs = timed(lambda: blocks(trace), repeat)
    tree = next(b for b in bs if b["type"] == "search")
    client = TestClient(create_app([run]))
    page_s, page = timed(lambda: client.get("/runs/0/sample", params={"id": "q0"}), repeat)
    return {"nodes": tree["count"], "trace_events": len(trace), "tree_blocks_s": blocks_s,
            "sample_page_s": page_s, "sample_page_bytes": len(page.content), "svg_bytes": len(str(tree["chart"]))}


CLICK = """
const nodes = document.querySelectorAll('svg.search-tree g.node');
const t0 = performance.now(); nodes[nodes.length - 1].dispatchEvent(new MouseEvent('click', {bubbles: true}));
const t1 = performance.now();
return {click_ms: t1 - t0, drawn: nodes.length,
        shown: document.querySelector('[data-role=node-detail]').getAttribute('data-node')};
"""


def browser_side(dirs: list[Path], repeat: int) -> list[dict] | None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    with viewer_in_chromium(dirs, "nlrl-view-trees-") as browser:
        if browser is None:
            return None
        driver, url = browser
        out = []
        for i, _ in enumerate(dirs):
            loads, marks = [], []
            for _ in range(repeat):
                t = time.perf_counter()
                driver.get(f"{url}runs/{i}/sample?id=q0")
                WebDriverWait(driver, 60).until(lambda d: d.execute_script("return document.readyState") == "complete"
                                                and d.find_elements(By.CSS_SELECTOR, "svg.search-tree g.node"))
                loads.append(time.perf_counter() - t)
                marks.append(driver.execute_script(CLICK))
            out.append({"load_s": statistics.median(loads), "click_ms": statistics.median(m["click_ms"] for m in marks),
                        "nodes_drawn": marks[0]["drawn"], "detail_shown": marks[0]["shown"] is not None})
        return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "view_trees.json")
    args = ap.parse_args()
    cases = [(s, k, v) for s, sizes in SIZES.items() for k, v in sizes]
    with tempfile.TemporaryDirectory() as tmp:
        dirs = [search_run(Path(tmp), s, k, v) for s, k, v in cases]
        server = [server_side(d, args.repeat) for d in dirs]
        browser = browser_side(dirs, args.repeat)
    rows: dict[str, list[dict]] = {}
    for j, (s, k, v) in enumerate(cases):
        row = {k: v, "server": server[j], "browser": None if browser is None else browser[j]}
        rows.setdefault(s, []).append(row)
    for s, items in rows.items():
        for part in ("server", "browser"):
            base = items[0][part]
            for row in items:
                if row[part] is None:
                    continue
                row[part]["ratio_vs_smallest"] = {key: round(val / base[key], 2) for key, val in row[part].items()
                                                  if isinstance(val, float) and base.get(key)}
                row[part] = {key: (round(val, 4) if isinstance(val, float) else val) for key, val in row[part].items()}
    result = {"benchmark": "view_trees", "strategies": rows, "repeat": args.repeat,
              "machine": {"python": platform.python_version(), "platform": platform.platform(),
                          "cpus": os.cpu_count()},
              "browser": None if browser is None else "headless chromium (Debian), selenium",
              "note": "real searches on a scripted model that never finishes; medians; a shared, loaded machine"}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
