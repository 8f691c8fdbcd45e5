"""``nlrl view`` in a real headless Chromium (Debian's chromium + chromedriver, driven by Selenium).

The server is the real CLI (``nlrl view --no-browser``) in a subprocess, over runs written by the
real ``nlrl bench`` / ``nlrl gpi`` code with scripted backends. Each test checks what the page
shows against results.jsonl / summary.json / results.json, and that the browser console has no
errors. Screenshots of each page type go to ``$NLRL_VIEW_ARTIFACTS`` (default
``tests/e2e/artifacts``).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import quote

import pytest

from helpers import view_runs

pytestmark = [pytest.mark.integration, pytest.mark.slow]

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
CHROMEDRIVER = shutil.which("chromedriver")
SRC = Path(__file__).resolve().parents[2] / "src"
ARTIFACTS = Path(os.environ.get("NLRL_VIEW_ARTIFACTS") or Path(__file__).parent / "artifacts")


def _skip_reason() -> str | None:
    if not CHROMIUM or not CHROMEDRIVER:
        return "headless browser tests need Debian's chromium and chromium-driver (apt-get install -y chromium chromium-driver)"
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "headless browser tests need selenium (pip install -e '.[test]')"
    return None


if _skip_reason():
    pytest.skip(_skip_reason(), allow_module_level=True)

from selenium import webdriver  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import Select, WebDriverWait  # noqa: E402


# -- fixtures ----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("view-runs")
    made = view_runs.all_runs(root)
    made["big"] = view_runs.big_run(root, made["cot"], 10_000)
    return made


def _env() -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(SRC) + os.pathsep + env.get("PYTHONPATH", "")
    return env


class ViewServer:
    def __init__(self, dirs):
        self.proc = subprocess.Popen([sys.executable, "-m", "nlrl", "view", "--no-browser", *map(str, dirs)],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env())
        line = self.proc.stdout.readline()
        m = re.search(r"(http://127\.0\.0\.1:\d+/)", line)
        if not m:
            self.proc.kill()
            raise AssertionError(f"no URL printed: {line!r} {self.proc.stderr.read()}")
        self.url = m.group(1)

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


ORDER = ["cot", "sc", "beam", "best-of-n", "self-refine", "divide-and-conquer", "auto", "gpi", "big", "code", "serve",
         "mcts", "dvts", "particle-filter"]


@pytest.fixture(scope="module")
def server(runs):
    s = ViewServer([runs[k] for k in ORDER])
    yield s
    s.stop()


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage", "--window-size=1280,900",
                 f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}"):
        opts.add_argument(flag)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()


def console_errors(driver) -> list[str]:
    return [e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE"]


def load(driver, url: str):
    driver.get_log("browser")  # drop what earlier pages logged
    driver.get(url)
    WebDriverWait(driver, 20).until(lambda d: d.execute_script("return document.readyState") == "complete")


def _artifacts() -> Path:
    try:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        if os.access(ARTIFACTS, os.W_OK):
            return ARTIFACTS
    except OSError:
        pass
    fallback = Path(tempfile.gettempdir()) / f"nlrl-view-artifacts-{os.getuid()}"  # a read-only checkout
    fallback.mkdir(exist_ok=True)
    return fallback


def shot(driver, name: str, *, full: bool = True):
    if full:
        height = driver.execute_script("return Math.min(document.body.scrollHeight, 4000)")
        driver.set_window_size(1280, max(900, height + 40))
    driver.save_screenshot(str(_artifacts() / f"{name}.png"))
    driver.set_window_size(1280, 900)


def results(path: Path) -> list[dict]:
    return [json.loads(line) for line in (path / "results.jsonl").read_text().splitlines() if line.strip()]


def summary(path: Path) -> dict:
    return json.loads((path / "summary.json").read_text())


def no_xss(driver):
    assert driver.execute_script("return window.__xss === undefined"), "an injected script ran"
    assert driver.execute_script(
        "return document.querySelectorAll('img[onerror], a[href^=\"javascript:\"], #xss-link, script:not([src])"
        ":not([type=\"application/json\"]):not(#nlrl-view-js)').length") == 0


def table_ids(driver) -> list[str]:
    return [tr.get_attribute("data-id") for tr in driver.find_elements(By.CSS_SELECTOR, "tbody[data-role=body] tr")]


# -- pages -------------------------------------------------------------------------------------

def test_runs_page_shows_every_run_with_its_accuracy(browser, server, runs):
    load(browser, server.url)
    rows = browser.find_elements(By.CSS_SELECTOR, "#runs-table tbody tr")
    assert len(rows) == len(ORDER)
    for i, key in enumerate(ORDER):
        if key in ("gpi", "serve"):
            continue
        s = summary(runs[key])
        acc = browser.find_element(By.CSS_SELECTOR, f"tr[data-run='{i}'] [data-stat=accuracy]").text
        assert acc == f"{100 * s['accuracy']:.1f}%"
        ci = browser.find_element(By.CSS_SELECTOR, f"tr[data-run='{i}'] [data-stat=ci95]").text
        assert ci == f"[{100 * s['ci95'][0]:.1f}, {100 * s['ci95'][1]:.1f}]"
        assert browser.find_element(By.CSS_SELECTOR, f"tr[data-run='{i}'] [data-stat=status]").text == "finished"
    assert len(browser.find_elements(By.CSS_SELECTOR, "svg.acc g.accbar")) == len(ORDER) - 2
    assert console_errors(browser) == []
    no_xss(browser)
    shot(browser, "runs")


def test_samples_page_counts_filters_search_sort(browser, server, runs):
    rows = results(runs["cot"])
    s = summary(runs["cot"])
    load(browser, server.url + "runs/0")
    assert browser.find_element(By.CSS_SELECTOR, "#stats [data-stat=accuracy]").text == f"{100 * s['accuracy']:.1f}%"
    assert browser.find_element(By.CSS_SELECTOR, "#stats [data-stat=correct]").text == str(s["correct"])
    assert table_ids(browser) == [r["id"] for r in rows]
    count = browser.find_element(By.CSS_SELECTOR, "[data-role=count]")
    assert count.text == f"{len(rows)} of {len(rows)} samples"
    Select(browser.find_element(By.CSS_SELECTOR, "select[data-filter=verdict]")).select_by_value("wrong")
    assert set(table_ids(browser)) == {r["id"] for r in rows if not r["correct"] and not r["error"]}
    Select(browser.find_element(By.CSS_SELECTOR, "select[data-filter=verdict]")).select_by_value("correct")
    assert set(table_ids(browser)) == {r["id"] for r in rows if r["correct"]}
    Select(browser.find_element(By.CSS_SELECTOR, "select[data-filter=verdict]")).select_by_value("")
    level = str(rows[0]["metadata"]["level"])
    Select(browser.find_element(By.CSS_SELECTOR, "select[data-filter=level]")).select_by_value(level)
    assert set(table_ids(browser)) == {r["id"] for r in rows if str(r["metadata"]["level"]) == level}
    Select(browser.find_element(By.CSS_SELECTOR, "select[data-filter=level]")).select_by_value("")
    search = browser.find_element(By.CSS_SELECTOR, "input[data-filter=q]")
    search.send_keys("12345")
    assert set(table_ids(browser)) == {r["id"] for r in rows if r["final_answer"] == "12345"}
    search.clear()
    search.send_keys(" ")  # an input event with an empty query: everything again
    assert len(table_ids(browser)) == len(rows)
    browser.find_element(By.CSS_SELECTOR, "th[data-sort=verdict]").click()
    verdicts = [tr.get_attribute("data-verdict") for tr in browser.find_elements(By.CSS_SELECTOR, "tbody[data-role=body] tr")]
    assert verdicts == sorted(verdicts)
    assert console_errors(browser) == []
    no_xss(browser)
    shot(browser, "samples")


def test_ten_thousand_samples_paginate(browser, server, runs):
    load(browser, server.url + f"runs/{ORDER.index('big')}")
    assert browser.find_element(By.CSS_SELECTOR, "[data-role=count]").text == "10000 of 10000 samples"
    assert len(table_ids(browser)) == 50
    assert browser.find_element(By.CSS_SELECTOR, "[data-role=page]").text == "page 1 of 200"
    first = table_ids(browser)
    browser.find_element(By.CSS_SELECTOR, "[data-role=next]").click()
    assert browser.find_element(By.CSS_SELECTOR, "[data-role=page]").text == "page 2 of 200"
    assert set(table_ids(browser)).isdisjoint(first)
    Select(browser.find_element(By.CSS_SELECTOR, "select[data-filter=verdict]")).select_by_value("correct")
    want = sum(1 for r in results(runs["big"]) if r["correct"])
    assert browser.find_element(By.CSS_SELECTOR, "[data-role=count]").text == f"{want} of 10000 samples"
    assert console_errors(browser) == []


def test_sample_page_escapes_model_output(browser, server, runs):
    rows = results(runs["cot"])
    xss = next(r for r in rows if view_runs.XSS_IMG in (r["output"] or ""))
    load(browser, server.url + f"runs/0/sample?id={quote(xss['id'], safe='')}")
    assert browser.find_element(By.CSS_SELECTOR, "[data-role=answer]").text == xss["final_answer"]
    assert browser.find_element(By.CSS_SELECTOR, "[data-role=reference]").text == str(xss["reference"])
    assert view_runs.XSS_SCRIPT in browser.find_element(By.CSS_SELECTOR, "pre.output").text
    time.sleep(0.3)  # an <img onerror> would have fired by now
    no_xss(browser)
    assert console_errors(browser) == []
    shot(browser, "sample-xss")


def test_sample_pages_draw_each_trace(browser, server, runs):
    expect = {"sc": "vote", "beam": "search", "best-of-n": "scores", "self-refine": "refine",
              "divide-and-conquer": "decompose", "auto": "auto", "cot": "samples"}
    for key, block in expect.items():
        i = ORDER.index(key)
        row = results(runs[key])[0]
        load(browser, server.url + f"runs/{i}/sample?id={quote(row['id'], safe='')}")
        assert browser.find_elements(By.CSS_SELECTOR, f"[data-block={block}]"), key
        assert console_errors(browser) == [], key
        no_xss(browser)
        if key == "sc":
            vote = next(e for e in row["trace"] if e["kind"] == "vote")
            bars = browser.find_elements(By.CSS_SELECTOR, "svg.vote g.bar")
            assert [b.get_attribute("data-value") for b in bars] == [str(g["count"]) for g in vote["groups"]]
        if key == "best-of-n":
            scores = [e for e in row["trace"] if e["kind"] == "score"]
            assert len(browser.find_elements(By.CSS_SELECTOR, "svg.scores g.bar")) == len(scores)
        if key == "self-refine":
            n = sum(1 for e in row["trace"] if e["kind"] in ("critique", "revision")) + 1
            assert len(browser.find_elements(By.CSS_SELECTOR, "ol.steps li")) == n
        if key == "divide-and-conquer":
            subqs = [e for e in row["trace"] if e["kind"] == "subquestion"]
            assert len(browser.find_elements(By.CSS_SELECTOR, "ol.subqs li")) == len(subqs)
        shot(browser, f"sample-{key}")


def test_code_sample_shows_the_graded_program(browser, server, runs):
    row = results(runs["code"])[0]
    load(browser, server.url + f"runs/{ORDER.index('code')}/sample?id={quote(row['id'], safe='')}")
    assert browser.find_element(By.CSS_SELECTOR, "pre.detail").text == row["verdict"]["detail"]
    program = browser.find_element(By.CSS_SELECTOR, "details.program pre").text
    assert row["reference"]["test_list"][0] in program and "print('debug <b>', a)" in program
    info = row["verdict"]["info"]
    assert browser.find_element(By.CSS_SELECTOR, "code.failed-test").text == info["failed_test"]
    assert browser.find_element(By.CSS_SELECTOR, "pre.stdout").text == info["stdout"].strip()
    assert browser.find_element(By.CSS_SELECTOR, "pre.stderr").text == info["stderr"].strip()  # shown as text
    assert console_errors(browser) == []
    no_xss(browser)
    shot(browser, "sample-code")


def test_beam_tree_has_one_node_per_candidate(browser, server, runs):
    i = ORDER.index("beam")
    for row in results(runs["beam"]):
        load(browser, server.url + f"runs/{i}/sample?id={quote(row['id'], safe='')}")
        rounds = [e for e in row["trace"] if e["kind"] == "beam"]
        kept = sum(len(e["kept"]) for e in rounds)
        pruned = sum(len(e["pruned"]) for e in rounds)
        assert len(browser.find_elements(By.CSS_SELECTOR, "svg.tree g.node")) == 1 + kept + pruned
        assert len(browser.find_elements(By.CSS_SELECTOR, "svg.tree g.node.pruned")) == pruned
        chosen = browser.find_elements(By.CSS_SELECTOR, "svg.tree g.node.chosen")
        stop = next(e for e in row["trace"] if e["kind"] == "stop")
        assert len(chosen) == stop["chosen"][0] + 1  # the root and one node per round on the path
        assert len(browser.find_elements(By.CSS_SELECTOR, "svg.tree path.edge")) == kept + pruned
        assert len(browser.find_elements(By.CSS_SELECTOR, "svg.tree path.edge.chosen")) == stop["chosen"][0]
        titles = browser.execute_script(
            "return Array.from(document.querySelectorAll('svg.tree g.node title')).map(t => t.textContent)")
        assert any(e["kept"][0]["text"] in t for e in rounds for t in titles)
        assert console_errors(browser) == []
        no_xss(browser)
    shot(browser, "sample-beam-tree")


def expected_tree(strategy: str, trace: list[dict]) -> tuple[dict[str, str | None], dict[str, str], str]:
    """The nodes (id -> parent id), their step texts and the chosen node, read off the trace by
    the ids each strategy's events give (mcts: node ids; dvts: subtree.depth.candidate;
    particle-filter: round.particle)."""
    parent: dict[str, str | None] = {}
    text: dict[str, str] = {}
    stop = next(e for e in trace if e["kind"] == "stop")
    if strategy == "mcts":
        parent["0"] = None
        for e in trace:
            for c in e.get("children", []) if e["kind"] == "expand" else []:
                parent[str(c["id"])], text[str(c["id"])] = str(e["node"]), c["text"]
        return parent, text, str(stop["chosen"])
    parent["r"] = None
    if strategy == "dvts":
        tip: dict[int, str] = {}
        for e in (e for e in trace if e["kind"] == "subtree"):
            for j, c in enumerate(e["candidates"]):
                nid = f"{e['subtree']}.{e['depth']}.{j}"
                parent[nid], text[nid] = tip.get(e["subtree"], "r"), c["text"]
            tip[e["subtree"]] = f"{e['subtree']}.{e['depth']}.{e['kept']}"
        return parent, text, tip[stop["chosen"]]
    rounds = [e for e in trace if e["kind"] == "particles"]
    for d, e in enumerate(rounds, start=1):
        for i, p in enumerate(e["particles"]):
            parent[f"{d}.{i}"], text[f"{d}.{i}"] = "r" if d == 1 else f"{d - 1}.{p['parent']}", p["text"]
    return parent, text, f"{len(rounds)}.{stop['chosen']}"


def test_search_trees_draw_every_node_and_edge(browser, server, runs):
    for strategy in ("mcts", "dvts", "particle-filter"):
        i = ORDER.index(strategy)
        for row in results(runs[strategy]):
            load(browser, server.url + f"runs/{i}/sample?id={quote(row['id'], safe='')}")
            parent, text, chosen = expected_tree(strategy, row["trace"])
            drawn = browser.execute_script(
                "return Array.from(document.querySelectorAll('svg.search-tree g.node')).map(g => "
                "[g.getAttribute('data-node'), g.getAttribute('data-parent'), g.getAttribute('data-text'), "
                "g.classList.contains('chosen')])")
            assert {d[0]: d[1] or None for d in drawn} == parent, strategy
            assert {d[0]: d[2] for d in drawn if d[0] in text} == text
            edges = browser.execute_script(
                "return Array.from(document.querySelectorAll('svg.search-tree path.edge')).map(p => "
                "[p.getAttribute('data-from'), p.getAttribute('data-to')])")
            assert sorted(map(tuple, edges)) == sorted((p, c) for c, p in parent.items() if p is not None)
            on_path, k = set(), chosen
            while k is not None:
                on_path.add(k)
                k = parent[k]
            assert {d[0] for d in drawn if d[3]} == on_path
            assert len(browser.find_elements(By.CSS_SELECTOR, "svg.search-tree path.edge.chosen")) == len(on_path) - 1
            # the full step of a node, shown as text on click (an XSS step included)
            xss = next((c for c, t in text.items() if view_runs.XSS_IMG in t), None)
            target = xss or chosen
            node = browser.find_element(By.CSS_SELECTOR, f"svg.search-tree g.node[data-node='{target}']")
            browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", node)
            node.click()
            panel = browser.find_element(By.CSS_SELECTOR, "[data-role=node-detail]")
            assert panel.is_displayed() and panel.get_attribute("data-node") == target
            assert panel.find_element(By.CSS_SELECTOR, "[data-field=text]").text == text[target]
            assert f"node {target}" in panel.find_element(By.CSS_SELECTOR, "[data-field=info]").text
            time.sleep(0.2)
            no_xss(browser)
            assert console_errors(browser) == [], strategy
        shot(browser, f"sample-{strategy}-tree")


def test_compare_two_runs_lists_paired_flips(browser, server, runs):
    load(browser, server.url)
    browser.find_element(By.CSS_SELECTOR, "input[name=run][value='0']").click()
    browser.find_element(By.CSS_SELECTOR, "input[name=run][value='1']").click()
    browser.find_element(By.ID, "compare-button").click()
    WebDriverWait(browser, 10).until(lambda d: "/compare" in d.current_url)
    a, b = {r["id"]: r["correct"] for r in results(runs["cot"])}, {r["id"]: r["correct"] for r in results(runs["sc"])}
    a_only = [k for k in a if a[k] and not b.get(k)]
    b_only = [k for k in a if b.get(k) and not a[k]]
    assert a_only and b_only
    shown_a = [e.text for e in browser.find_elements(By.CSS_SELECTOR, "[data-role=a-only] li a:first-child")]
    shown_b = [e.text for e in browser.find_elements(By.CSS_SELECTOR, "[data-role=b-only] li a:first-child")]
    assert shown_a == a_only and shown_b == b_only
    accs = [e.text for e in browser.find_elements(By.CSS_SELECTOR, ".compare-table [data-stat=accuracy]")]
    assert accs == [f"{100 * summary(runs[k])['accuracy']:.1f}%" for k in ("cot", "sc")]
    assert console_errors(browser) == []
    shot(browser, "compare")
    browser.find_element(By.CSS_SELECTOR, "[data-role=a-only] li a").click()  # the flip links to the sample
    WebDriverWait(browser, 10).until(lambda d: "/sample?id=" in d.current_url)
    assert a_only[0] in browser.find_element(By.TAG_NAME, "h1").text


def test_gpi_page(browser, server, runs):
    data = json.loads((runs["gpi"] / "results.json").read_text())
    load(browser, server.url + f"runs/{ORDER.index('gpi')}")
    rows = browser.find_elements(By.CSS_SELECTOR, "#gpi-iterations tbody tr")
    assert len(rows) == len(data["iterations"]) + 1
    metric = data["metric"]
    col = [th.text for th in browser.find_elements(By.CSS_SELECTOR, "#gpi-iterations thead th")].index(metric)
    assert [r.find_elements(By.TAG_NAME, "td")[col].text for r in rows[1:]] == [str(it[metric]) for it in data["iterations"]]
    assert len(browser.find_elements(By.CSS_SELECTOR, "svg.line g.series circle")) >= len(data["iterations"]) + 1
    assert len(browser.find_elements(By.CSS_SELECTOR, ".state")) == len(data["table"])
    rounds = [data["baselines"]["language_policy"]] + data["iterations"]
    assert len(browser.find_elements(By.CSS_SELECTOR, "details.games")) == len(rounds)
    last = browser.find_element(By.CSS_SELECTOR, f"details.games[data-round='{len(rounds) - 1}']")
    episodes = last.find_elements(By.CSS_SELECTOR, "details.episode")
    assert len(episodes) == rounds[-1]["episodes"]
    episodes[0].find_element(By.TAG_NAME, "summary").click()
    boards = episodes[0].find_elements(By.CSS_SELECTOR, "li.move pre.board")
    assert [b.text for b in boards[:-1]] == [m["state"] for m in rounds[-1]["episode_log"][0]["moves"]]
    assert console_errors(browser) == []
    no_xss(browser)
    shot(browser, "gpi")


def test_serve_request_log(browser, server, runs):
    recs = [json.loads(x) for x in (runs["serve"] / "serve-requests.jsonl").read_text().splitlines()]
    load(browser, server.url + f"runs/{ORDER.index('serve')}")
    assert browser.find_element(By.CSS_SELECTOR, "#stats [data-stat=requests]").text == str(len(recs))
    assert len(browser.find_elements(By.CSS_SELECTOR, "svg.latency g.bar")) == 3
    Select(browser.find_element(By.CSS_SELECTOR, "select[name=status]")).select_by_value("error")
    browser.find_element(By.CSS_SELECTOR, "form.filters button").click()
    WebDriverWait(browser, 10).until(lambda d: "status=error" in d.current_url)
    rows = browser.find_elements(By.CSS_SELECTOR, "table.serve-requests tbody tr")
    assert len(rows) == sum(1 for r in recs if r["status"] >= 400)
    assert all(int(r.get_attribute("data-status")) >= 400 for r in rows)
    assert console_errors(browser) == []
    no_xss(browser)
    shot(browser, "serve")


def test_path_traversal_is_refused(server, runs):
    import httpx

    for path in ("runs/0/files/../../../../etc/passwd", "runs/0/files/..%2f..%2f..%2fetc%2fpasswd",
                 "runs/0/files/%2e%2e/%2e%2e/etc/passwd", "runs/0/files//etc/passwd", "runs/0/files/%2Fetc%2Fpasswd",
                 "static/..%2fruns.py", "static/../server.py", "runs/0/files/run.sqlite"):
        r = httpx.get(server.url + path, timeout=10)
        assert r.status_code in (400, 404), path
        assert "root:" not in r.text and "import" not in r.text
    assert httpx.get(server.url + "runs/0/files/summary.json", timeout=10).json()["n"] == summary(runs["cot"])["n"]


def test_export_opens_from_file_without_network(browser, runs, tmp_path):
    out = tmp_path / "report.html"
    r = subprocess.run([sys.executable, "-m", "nlrl", "view", str(runs["cot"]), str(runs["sc"]), str(runs["beam"]),
                        str(runs["gpi"]), "--export", str(out)], capture_output=True, text=True, env=_env())
    assert r.returncode == 0, r.stderr
    load(browser, out.as_uri())
    assert len(browser.find_elements(By.CSS_SELECTOR, "#runs-table tbody tr")) == 4
    acc = browser.find_element(By.CSS_SELECTOR, "#runs tr[data-run='0'] [data-stat=accuracy]").text
    assert acc == f"{100 * summary(runs['cot'])['accuracy']:.1f}%"
    browser.find_element(By.CSS_SELECTOR, "#runs tr[data-run='2'] a.runlink").click()
    assert browser.find_element(By.ID, "run-2").is_displayed() and not browser.find_element(By.ID, "runs").is_displayed()
    link = browser.find_element(By.CSS_SELECTOR, "#run-2 tbody[data-role=body] tr a")
    link.click()
    section = browser.find_element(By.ID, "run-2-s0")
    assert section.is_displayed()
    assert len(section.find_elements(By.CSS_SELECTOR, "svg.tree g.node")) > 1
    browser.execute_script("window.location.hash = '#compare-0-1'")
    assert browser.find_element(By.ID, "compare-0-1").is_displayed()
    browser.execute_script("window.location.hash = '#run-0'")
    Select(browser.find_element(By.CSS_SELECTOR, "#run-0 select[data-filter=verdict]")).select_by_value("wrong")
    wrong = {r["id"] for r in results(runs["cot"]) if not r["correct"] and not r["error"]}
    assert {tr.get_attribute("data-id") for tr in browser.find_elements(
        By.CSS_SELECTOR, "#run-0 tbody[data-role=body] tr")} == wrong
    resources = browser.execute_script(
        "return performance.getEntriesByType('resource').map(e => e.name)")
    assert [u for u in resources if not u.startswith(("file:", "data:"))] == []
    time.sleep(0.3)
    no_xss(browser)
    assert console_errors(browser) == []
    shot(browser, "export")


def test_live_run_refreshes_as_samples_land(browser, tmp_path):
    out = tmp_path / "live"
    writer = subprocess.Popen([sys.executable, "-c", view_runs.SLOW_BENCH, str(out), "6", "0.8"],
                              env=_env(), cwd=str(Path(view_runs.__file__).parent),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 60
        while not (out / "run.sqlite").exists() and time.time() < deadline:
            time.sleep(0.1)
        s = ViewServer([out])
        try:
            load(browser, s.url + "runs/0")
            assert browser.find_element(By.CSS_SELECTOR, "#stats [data-stat=status]").text == "running"
            first = len(table_ids(browser))
            WebDriverWait(browser, 60).until(lambda d: len(table_ids(d)) > first)
            WebDriverWait(browser, 90).until(
                lambda d: d.find_element(By.CSS_SELECTOR, "#stats [data-stat=status]").text == "finished")
            writer.wait(30)
            assert len(table_ids(browser)) == 6
            s6 = summary(out)
            assert browser.find_element(By.CSS_SELECTOR, "#stats [data-stat=accuracy]").text == \
                f"{100 * s6['accuracy']:.1f}%"
            assert console_errors(browser) == []
        finally:
            s.stop()
    finally:
        if writer.poll() is None:
            writer.kill()


def test_corrupt_and_half_written_runs_show_a_message(browser, tmp_path, runs):
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "run.sqlite").write_bytes(b"this is not a database" * 100)
    half = tmp_path / "half"
    shutil.copytree(runs["cot"], half)
    (half / "run.sqlite").unlink()
    text = (half / "results.jsonl").read_text()
    (half / "results.jsonl").write_text(text[: len(text) - 40])  # a kill cut the last line short
    (half / "summary.json").unlink()
    s = ViewServer([bad, half])
    try:
        load(browser, s.url + "runs/0")
        warning = browser.find_element(By.CSS_SELECTOR, "p.warning").text
        assert "run store" in warning and "cannot be read" in warning
        assert browser.find_element(By.CSS_SELECTOR, "[data-role=count]").text == "0 of 0 samples"
        load(browser, s.url + "runs/1")
        assert "could not be read" in browser.find_element(By.CSS_SELECTOR, "p.warning").text
        assert len(table_ids(browser)) == len(text.splitlines()) - 1
        assert browser.find_element(By.CSS_SELECTOR, "#stats [data-stat=status]").text == "interrupted"
        load(browser, s.url + "runs/1/sample?id=nope")
        assert "no sample with id" in browser.find_element(By.ID, "message").text
        assert s.proc.poll() is None  # the server is still up
        shot(browser, "error-page")
    finally:
        s.stop()


def test_a_real_embedded_run(browser, tmp_path):
    """Self-consistency with the embedded Gemma model on two GSM8K questions, then viewed."""
    out = tmp_path / "real"
    env = {**_env(), "NLRL_THREADS": "1"}
    r = subprocess.run([sys.executable, "-m", "nlrl", "bench", "--dataset", "gsm8k", "--limit", "2",
                        "--strategy", "self-consistency", "--n", "2", "--temperature", "0.7", "--max-tokens", "48",
                        "-q", "--no-plots", "--out", str(out), "--run-dir", str(tmp_path / "logs")],
                       capture_output=True, text=True, env=env, timeout=600)
    assert r.returncode == 0, r.stderr
    s, rows = summary(out), results(out)
    server = ViewServer([out])
    try:
        load(browser, server.url + "runs/0")
        assert browser.find_element(By.CSS_SELECTOR, "#stats [data-stat=accuracy]").text == f"{100 * s['accuracy']:.1f}%"
        assert table_ids(browser) == [row["id"] for row in rows]
        assert console_errors(browser) == []
        load(browser, server.url + f"runs/0/sample?id={quote(rows[0]['id'], safe='')}")
        assert browser.find_element(By.CSS_SELECTOR, "pre.output").text.strip() == rows[0]["output"].strip()
        vote = next(e for e in rows[0]["trace"] if e["kind"] == "vote")
        assert len(browser.find_elements(By.CSS_SELECTOR, "svg.vote g.bar")) == len(vote["groups"]) + (
            1 if vote["abstained"] else 0)
        assert console_errors(browser) == []
        no_xss(browser)
        shot(browser, "sample-real-embedded")
    finally:
        server.stop()
