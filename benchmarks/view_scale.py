"""How ``nlrl view`` scales with the size of a run: 100, 1,000 and 10,000 samples.

    python benchmarks/view_scale.py            # writes benchmarks/results/view_scale.json

The rows are those of a real scripted ``nlrl bench`` run (CoT on MATH-500, graded), repeated under
new ids to the size asked, written as ``results.jsonl`` + ``summary.json``. For each size:

* server side (Starlette's test client, in-process): reading the run, rendering the samples page,
  the live-refresh JSON, one sample page, and the export (seconds and bytes);
* in headless Chromium (when chromium and chromedriver are installed): loading the samples page
  until the table is drawn, and, timed inside the page with ``performance.now()``, a verdict
  filter, a text search, a sort and a page turn (each redraws the table synchronously).

Each figure is the median of ``--repeat`` runs; ``ratio_vs_100`` divides by the 100-sample figure
measured in the same run. No figure is asserted anywhere: this records what the machine did.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Iterator, Sequence

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

SIZES = (100, 1000, 10000)


def seed_run(root: Path) -> Path:
    from nlrl.backends import ScriptedBackend
    from nlrl.bench import BenchRunner, load_dataset

    ds = load_dataset("math500")
    refs = [str(r.reference) for r in ds.select(limit=20)]
    outputs = [f" Working it out step by step.\nFinal Answer: {ref if i % 3 else 42}\n" for i, ref in enumerate(refs)]
    out = root / "seed"
    BenchRunner(ScriptedBackend(outputs), progress=False, plots=False).run(ds, out, limit=20)
    return out


def scaled_run(root: Path, seed: Path, n: int) -> Path:
    from nlrl.bench.metrics import summarize
    from nlrl.bench.store import dumps

    rows = [json.loads(x) for x in (seed / "results.jsonl").read_text().splitlines() if x.strip()]
    config = json.loads((seed / "summary.json").read_text())["config"]
    out = root / f"n{n}"
    out.mkdir()
    big = [dict(rows[k % len(rows)], id=f"{rows[k % len(rows)]['id']}#{k}", index=k) for k in range(n)]
    (out / "results.jsonl").write_text("".join(dumps(r) + "\n" for r in big), encoding="utf-8")
    (out / "summary.json").write_text(json.dumps(summarize(big, config=config, selected=n, wall_s=1.0)))
    return out


def timed(fn, repeat: int):
    times, result = [], None
    for _ in range(repeat):
        t = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), result


def server_side(run_dir: Path, repeat: int) -> dict:
    from starlette.testclient import TestClient

    from nlrl.view import create_app, export_html, open_run

    open_s, run = timed(lambda: open_run(run_dir), repeat)
    client = TestClient(create_app([run]))
    page_s, page = timed(lambda: client.get("/runs/0"), repeat)
    api_s, api = timed(lambda: client.get("/api/runs/0"), repeat)
    sid = run.rows[len(run.rows) // 2]["id"]
    sample_s, _ = timed(lambda: client.get("/runs/0/sample", params={"id": sid}), repeat)
    export_s, html = timed(lambda: export_html([run]), 1)
    return {"open_s": open_s, "samples_page_s": page_s, "samples_page_bytes": len(page.content),
            "api_rows_s": api_s, "api_rows_bytes": len(api.content), "sample_page_s": sample_s,
            "export_s": export_s, "export_bytes": len(html.encode()),
            "results_jsonl_bytes": (run_dir / "results.jsonl").stat().st_size}


IN_PAGE = """
const root = document.querySelector('div.samples'); const t0 = performance.now();
const sel = root.querySelector('select[data-filter=verdict]'); sel.value = 'correct';
sel.dispatchEvent(new Event('change')); const t1 = performance.now();
const q = root.querySelector('input[data-filter=q]'); q.value = 'algebra';
q.dispatchEvent(new Event('input')); const t2 = performance.now();
q.value = ''; q.dispatchEvent(new Event('input')); sel.value = ''; sel.dispatchEvent(new Event('change'));
const t3 = performance.now(); root.querySelector('th[data-sort=tokens]').click(); const t4 = performance.now();
root.querySelector('[data-role=next]').click(); const t5 = performance.now();
return {filter_ms: t1 - t0, search_ms: t2 - t1, sort_ms: t4 - t3, next_page_ms: t5 - t4,
        shown: root.querySelectorAll('tbody[data-role=body] tr').length};
"""


@contextlib.contextmanager
def viewer_in_chromium(dirs: Sequence[Path], prefix: str) -> Iterator[tuple[Any, str] | None]:
    """`nlrl view` serving DIRS and a headless Chromium driving it: yields (driver, base URL), or
    None where Chromium or chromedriver is missing. Shared by the viewer benchmarks."""
    chromium, driver_path = shutil.which("chromium"), shutil.which("chromedriver")
    if not chromium or not driver_path:
        yield None
        return
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = chromium
    profile = tempfile.mkdtemp(prefix=prefix)
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage", f"--user-data-dir={profile}"):
        opts.add_argument(flag)
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    proc = subprocess.Popen([sys.executable, "-m", "nlrl", "view", "--no-browser", *map(str, dirs)],
                            stdout=subprocess.PIPE, text=True, env=env)
    try:
        url = proc.stdout.readline().split()[2]
        driver = webdriver.Chrome(service=Service(driver_path), options=opts)
        try:
            yield driver, url
        finally:
            driver.quit()
    finally:
        proc.terminate()
        shutil.rmtree(profile, ignore_errors=True)


def browser_side(dirs: dict[int, Path], repeat: int) -> dict[int, dict] | None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    with viewer_in_chromium(list(dirs.values()), "nlrl-view-bench-") as browser:
        if browser is None:
            return None
        driver, url = browser
        out = {}
        for i, n in enumerate(dirs):
            loads, marks = [], []
            for _ in range(repeat):
                t = time.perf_counter()
                driver.get(f"{url}runs/{i}")
                WebDriverWait(driver, 60).until(
                    lambda d: d.find_element(By.CSS_SELECTOR, "[data-role=count]").text.startswith(f"{n} of"))
                loads.append(time.perf_counter() - t)
                marks.append(driver.execute_script(IN_PAGE))
            out[n] = {"load_to_table_s": statistics.median(loads),
                      **{k: statistics.median(m[k] for m in marks) for k in marks[0] if k != "shown"},
                      "rows_drawn": marks[0]["shown"]}
        return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "view_scale.json")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        seed = seed_run(root)
        dirs = {n: scaled_run(root, seed, n) for n in SIZES}
        server = {n: server_side(dirs[n], args.repeat) for n in SIZES}
        browser = browser_side(dirs, args.repeat)
    sizes = {}
    for n in SIZES:
        row = {"server": server[n], "browser": None if browser is None else browser[n]}
        for part in ("server", "browser"):
            if row[part] is None:
                continue
            base = server[SIZES[0]] if part == "server" else browser[SIZES[0]]
            row[part]["ratio_vs_100"] = {k: round(v / base[k], 2) for k, v in row[part].items()
                                         if isinstance(v, float) and base.get(k)}
            row[part] = {k: (round(v, 4) if isinstance(v, float) else v) for k, v in row[part].items()}
        sizes[str(n)] = row
    result = {"benchmark": "view_scale", "sizes": sizes, "repeat": args.repeat,
              "machine": {"python": platform.python_version(), "platform": platform.platform(),
                          "cpus": os.cpu_count()},
              "browser": None if browser is None else "headless chromium (Debian), selenium",
              "note": "rows of a scripted MATH-500 CoT run repeated to each size; medians"}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(sizes, indent=1))


if __name__ == "__main__":
    main()
