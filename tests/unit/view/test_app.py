"""``nlrl view`` without a browser: reading runs, the pages' HTML (escaping, numbers, messages),
the routes' refusal of paths outside the runs, the export, and the CLI's errors. The browser tests
are in tests/e2e/test_view_browser.py."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from helpers import view_runs
from nlrl import RunStoreError
from nlrl.bench.store import RunStore, SampleKey
from nlrl.cli import app
from nlrl.view import create_app, export_html, open_run
from nlrl.view.pages import script_json
from nlrl.view.runs import BenchRun, paired_flips

starlette = pytest.importorskip("starlette", reason="the view extra (starlette) is not installed")
from starlette.testclient import TestClient  # noqa: E402


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    return {"cot": view_runs.cot_run(root), "sc": view_runs.sc_run(root), "beam": view_runs.beam_run(root),
            "gpi": view_runs.gpi_run(root)}


@pytest.fixture(scope="module")
def client(runs):
    opened = [open_run(runs[k]) for k in ("cot", "sc", "beam", "gpi")]
    return TestClient(create_app(opened), raise_server_exceptions=False)


def results(path: Path) -> list[dict]:
    return [json.loads(x) for x in (path / "results.jsonl").read_text().splitlines() if x.strip()]


def summary(path: Path) -> dict:
    return json.loads((path / "summary.json").read_text())


# -- reading runs --------------------------------------------------------------------------------

def test_numbers_equal_the_runs_summary(runs):
    for key in ("cot", "sc", "beam"):
        run = open_run(runs[key])
        s = summary(runs[key])
        assert isinstance(run, BenchRun) and run.status == "finished"
        for k in ("n", "correct", "accuracy", "ci95", "errors", "tokens_per_sample", "breakdown"):
            assert run.summary[k] == s[k], (key, k)
        assert [r["id"] for r in run.rows] == [r["id"] for r in results(runs[key])]


@pytest.mark.parametrize("make, message", [
    (lambda p: p / "missing", "no such directory"),
    (lambda p: (p / "f.txt").write_text("x") and p / "f.txt", "is not a directory"),
    (lambda p: (p / "empty").mkdir() or p / "empty", "is not a run directory"),
])
def test_not_a_run_is_one_clear_error(tmp_path, make, message):
    with pytest.raises(RunStoreError, match=message):
        open_run(make(tmp_path))


def test_gpi_results_that_are_not_gpi_are_refused(tmp_path):
    (tmp_path / "results.json").write_text(json.dumps({"hello": 1}))
    with pytest.raises(RunStoreError, match="not a GPI result"):
        open_run(tmp_path)


def test_cli_errors_are_one_line(tmp_path):
    r = CliRunner().invoke(app, ["view", str(tmp_path), "--no-browser"])
    assert r.exit_code == 1
    assert r.stderr.strip().count("\n") == 0 and "is not a run directory" in r.stderr


def test_status_running_while_the_bench_lock_is_held_and_refresh_sees_new_samples(runs, tmp_path):
    import fcntl

    live = tmp_path / "live"
    shutil.copytree(runs["cot"], live)
    (live / "summary.json").unlink()
    run = open_run(live)
    assert run.status == "interrupted"
    n = len(run.rows)
    with open(live / ".lock", "a+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        with RunStore(live / "run.sqlite") as store:
            row = dict(run.rows[0], id="extra", index=99)
            store.add(SampleKey(row["dataset"], "extra", "c", "m", "0"), "d", True, row)
        assert run.refresh()
        assert run.status == "running" and len(run.rows) == n + 1
        assert run.summary["n"] == n + 1
    assert run.refresh() and run.status == "interrupted"


def test_a_corrupt_store_falls_back_to_results_jsonl_with_a_warning(runs, tmp_path):
    bad = tmp_path / "bad"
    shutil.copytree(runs["cot"], bad)
    for p in bad.glob("run.sqlite*"):
        p.unlink()
    (bad / "run.sqlite").write_bytes(b"not a database at all" * 50)
    run = open_run(bad)
    assert len(run.rows) == len(results(runs["cot"]))
    assert any("cannot be read" in w and "results.jsonl instead" in w for w in run.warnings)


def test_paired_flips(runs):
    a, b = open_run(runs["cot"]), open_run(runs["sc"])
    ra = {r["id"]: r["correct"] for r in results(runs["cot"])}
    rb = {r["id"]: r["correct"] for r in results(runs["sc"])}
    f = paired_flips(a, b)
    assert f["a_only"] == [k for k in ra if ra[k] and not rb[k]]
    assert f["b_only"] == [k for k in ra if rb[k] and not ra[k]]
    assert f["paired"] == len(ra) and f["both_right"] + f["both_wrong"] + len(f["a_only"]) + len(f["b_only"]) == len(ra)


def test_beam_trace_records_the_tree(runs):
    for row in results(runs["beam"]):
        rounds = [e for e in row["trace"] if e["kind"] == "beam"]
        assert rounds
        prev_kept = 1  # the root
        for e in rounds:
            assert e["candidates"] == len(e["kept"]) + len(e["pruned"])
            for node in e["kept"] + e["pruned"]:
                assert (node["parent"] == -1) if e["depth"] == 1 else (0 <= node["parent"] < prev_kept)
            prev_kept = len(e["kept"])
        stop = next(e for e in row["trace"] if e["kind"] == "stop")
        depth, slot = stop["chosen"]
        chosen = rounds[depth - 1]["kept"][slot]
        assert chosen["done"] and chosen["score"] == stop["score"]


# -- pages ---------------------------------------------------------------------------------------

def test_every_page_type_renders(client, runs):
    assert client.get("/").status_code == 200
    assert client.get("/runs/0").status_code == 200
    assert client.get("/runs/3").status_code == 200  # GPI
    assert client.get("/compare?run=0&run=1").status_code == 200
    for i, key in enumerate(("cot", "sc", "beam")):
        for row in results(runs[key]):
            r = client.get(f"/runs/{i}/sample", params={"id": row["id"]})
            assert r.status_code == 200, r.text
            assert "Content-Security-Policy" in r.headers


def test_runs_page_numbers(client, runs):
    html = client.get("/").text
    s = summary(runs["cot"])
    row = re.search(r'<tr data-run="0".*?</tr>', html, re.S).group(0)
    assert f"{100 * s['accuracy']:.1f}%" in row
    assert f"[{100 * s['ci95'][0]:.1f}, {100 * s['ci95'][1]:.1f}]" in row


def test_model_text_is_escaped(client, runs):
    rows = results(runs["cot"])
    xss = next(r for r in rows if view_runs.XSS_IMG in r["output"])
    html = client.get("/runs/0/sample", params={"id": xss["id"]}).text
    for payload in (view_runs.XSS_SCRIPT, view_runs.XSS_IMG, view_runs.XSS_LINK):
        assert payload not in html
    assert "&lt;script&gt;window.__xss=1" in html
    assert 'href="javascript:' not in html
    table = client.get("/runs/0").text  # the rows' JSON cannot close its script element
    data = re.search(r'<script type="application/json" id="rows-0">(.*?)</script>', table, re.S).group(1)
    assert "<" not in data and json.loads(data)[2]["answer"] == xss["final_answer"]
    gpi = client.get("/runs/3").text
    assert view_runs.XSS_SCRIPT not in gpi and view_runs.XSS_IMG not in gpi
    assert "even game &lt;script&gt;window.__xss=1" in gpi


def test_script_json_never_closes_the_element():
    text = str(script_json({"a": "</script><script>alert(1)</script>", "b": "\u2028&"}))
    assert "<" not in text and ">" not in text and "&" not in text
    assert json.loads(text) == {"a": "</script><script>alert(1)</script>", "b": "\u2028&"}


@pytest.mark.parametrize("path", [
    "/runs/0/files/../../../../etc/passwd", "/runs/0/files/..%2f..%2f..%2fetc%2fpasswd",
    "/runs/0/files/%2e%2e/%2e%2e/etc/passwd", "/runs/0/files//etc/passwd", "/runs/0/files/%2Fetc%2Fpasswd",
    "/runs/0/files/run.sqlite", "/runs/0/files/outside.json", "/runs/0/files/sub/summary.json",
    "/static/../runs.py", "/static/..%2fruns.py", "/static/%2e%2e%2fserver.py", "/runs/9/files/summary.json",
])
def test_only_the_runs_own_files_are_served(client, runs, tmp_path, path):
    secret = tmp_path / "secret.json"
    secret.write_text('{"secret": true}')
    link = runs["cot"] / "outside.json"
    if not link.exists():
        os.symlink(secret, link)
    (runs["cot"] / "sub").mkdir(exist_ok=True)
    (runs["cot"] / "sub" / "summary.json").write_text('{"secret": true}')
    r = client.get(path)
    assert r.status_code in (400, 404)
    assert "secret" not in r.text and "root:" not in r.text and "import " not in r.text


def test_a_run_file_is_served(client, runs):
    assert client.get("/runs/0/files/summary.json").json()["n"] == summary(runs["cot"])["n"]
    assert client.get("/static/view.js").headers["content-type"].startswith("text/javascript")


@pytest.mark.parametrize("path, status, text", [
    ("/runs/7", 404, "there is no run 7"),
    ("/runs/0/sample?id=nope", 404, "no sample with id"),
    ("/runs/0/sample", 400, "add ?id="),
    ("/runs/3/sample?id=x", 404, "is a gpi run"),
    ("/compare?run=0", 400, "two or more"),
    ("/compare?run=0&run=x", 400, "run numbers"),
    ("/compare?run=0&run=3", 400, "only benchmark runs"),
    ("/nowhere", 404, "no page at this address"),
])
def test_bad_addresses_get_a_page_with_a_message(client, path, status, text):
    r = client.get(path)
    assert r.status_code == status and text in r.text and 'id="message"' in r.text


def test_api_rows_for_live_refresh(client, runs):
    body = client.get("/api/runs/0").json()
    assert len(body["rows"]) == len(results(runs["cot"]))
    assert body["head"]["accuracy"] == summary(runs["cot"])["accuracy"] and body["status"] == "finished"
    again = client.get("/api/runs/0", params={"since": body["version"]}).json()
    assert "rows" not in again and again["version"] == body["version"]


def test_export_is_self_contained(runs, tmp_path):
    out = tmp_path / "report.html"
    r = CliRunner().invoke(app, ["view", str(runs["cot"]), str(runs["beam"]), str(runs["gpi"]), "--export", str(out)])
    assert r.exit_code == 0, r.output
    html = out.read_text()
    assert not re.search(r'(src|href)="(https?:)?//', html)
    assert "<link" not in html.replace('<link rel="icon" href="data:,">', "")
    csp = re.search(r'Content-Security-Policy" content="([^"]+)"', html).group(1)
    js = re.search(r'<script id="nlrl-view-js">(.*?)</script>', html, re.S).group(1)
    digest = base64.b64encode(hashlib.sha256(js.encode()).digest()).decode()
    assert f"script-src 'sha256-{digest}'" in csp and "default-src 'none'" in csp
    for row in results(runs["cot"]):
        assert f'id="run-0-s{row["index"]}"' in html
    assert view_runs.XSS_SCRIPT not in html and view_runs.XSS_IMG not in html


def test_gpi_results_record_the_games_and_the_page_draws_them(client, runs):
    data = json.loads((runs["gpi"] / "results.json").read_text())
    rounds = [data["baselines"]["language_policy"]] + data["iterations"]
    for rnd in rounds:
        assert len(rnd["episode_log"]) == rnd["episodes"]
        assert sum(len(e["moves"]) for e in rnd["episode_log"]) == rnd["steps"]
        for ep in rnd["episode_log"]:
            assert all(m["state"].startswith("Board") and m["source"] for m in ep["moves"])
    html = client.get("/runs/3").text
    assert html.count('<details class="episode">') == sum(r["episodes"] for r in rounds)
    assert html.count('<li class="move">') == sum(r["steps"] for r in rounds)


def test_code_sample_shows_the_verdict_and_the_program_with_its_asserts(tmp_path):
    out = view_runs.code_run(tmp_path)
    row = results(out)[0]
    assert row["checker"] == "code" and not row["correct"]
    html = TestClient(create_app([open_run(out)])).get("/runs/0/sample", params={"id": row["id"]}).text
    assert row["verdict"]["detail"] in html
    first_assert = row["reference"]["test_list"][0]
    from markupsafe import escape

    assert str(escape(first_assert)) in html and "debug &lt;b&gt;" in html and "debug <b>" not in html
    # the verdict's particulars: the failing assert as the judge saw it, the program's output, escaped
    info = row["verdict"]["info"]
    assert info["failed_test"] == first_assert and info["stdout"].startswith("debug <b>")
    assert f'<code class="failed-test">{escape(first_assert)}</code>' in html
    assert f'<pre class="text stdout">{escape(info["stdout"])}</pre>' in html
    assert f'<pre class="text stderr">{escape(info["stderr"])}</pre>' in html
    assert view_runs.XSS_SCRIPT in info["stderr"] and view_runs.XSS_SCRIPT not in html
    assert "<img src=x" not in html and 'href="javascript:' not in html


def test_math_sample_shows_the_extracted_and_gold_values(runs, client):
    rows = results(runs["cot"])
    wrong = next(r for r in rows if r["verdict"] and not r["correct"] and r["verdict"]["extracted"] == "12345")
    html = client.get("/runs/0/sample", params={"id": wrong["id"]}).text
    gold = wrong["verdict"]["info"]["gold"]
    assert wrong["verdict"]["info"]["extracted"] == "12345"
    from markupsafe import escape

    assert '<div data-field="gold"><dt>gold value</dt><dd>' + str(escape(gold)) + "</dd></div>" in html
    assert '<div data-field="extracted"><dt>extracted value</dt><dd>12345</dd></div>' in html
    xss = next(r for r in rows if r["verdict"] and "<img" in str(r["verdict"]["info"]["extracted"]))
    html = client.get("/runs/0/sample", params={"id": xss["id"]}).text
    assert "<img src=x" not in html
    assert f'<div data-field="extracted"><dt>extracted value</dt><dd>{escape(xss["verdict"]["extracted"])}</dd></div>' in html


def test_view_without_arguments_finds_the_runs_in_the_current_directory(runs, tmp_path, monkeypatch):
    monkeypatch.chdir(runs["cot"].parent)
    out = tmp_path / "all.html"
    r = CliRunner().invoke(app, ["view", "--export", str(out)])
    assert r.exit_code == 0, r.output
    html = out.read_text()
    for key in ("cot", "sc", "beam", "gpi"):
        assert str(runs[key]) in html
    monkeypatch.chdir(tmp_path)
    r = CliRunner().invoke(app, ["view", "--export", str(out)])
    assert r.exit_code == 1 and "none found in the current directory" in r.stderr


def test_export_to_an_unwritable_place_is_one_line(runs, tmp_path):
    r = CliRunner().invoke(app, ["view", str(runs["cot"]), "--export", str(tmp_path / "no" / "such" / "r.html")])
    assert r.exit_code == 1 and r.stderr.startswith("error: cannot write") and r.stderr.count("\n") == 1


def test_a_run_removed_while_viewed_keeps_the_server_up(runs, tmp_path):
    gone, gpi = tmp_path / "gone", tmp_path / "gpi"
    shutil.copytree(runs["cot"], gone)
    shutil.copytree(runs["gpi"], gpi)
    c = TestClient(create_app([open_run(gone), open_run(gpi)]), raise_server_exceptions=False)
    assert c.get("/runs/0").status_code == 200
    shutil.rmtree(gone)
    (gpi / "results.json").write_text("{ half written")
    r = c.get("/runs/0")
    assert r.status_code == 200 and "interrupted" in r.text
    r = c.get("/runs/1")
    assert r.status_code == 200 and "could not re-read the run" in r.text
    assert c.get("/").status_code == 200


def test_the_cli_serves_on_loopback_and_stops_cleanly_on_ctrl_c(runs):
    import signal
    import socket
    import subprocess
    import sys

    import httpx

    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[3] / "src") + os.pathsep
           + os.environ.get("PYTHONPATH", "")}
    proc = subprocess.Popen([sys.executable, "-m", "nlrl", "view", str(runs["cot"]), "--no-browser"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        url = re.search(r"http://127\.0\.0\.1:(\d+)/", proc.stdout.readline())
        assert url, proc.stderr.read()
        assert httpx.get(url.group(0), timeout=10).status_code == 200
        busy = CliRunner().invoke(app, ["view", str(runs["cot"]), "--no-browser", "--port", url.group(1)])
        assert busy.exit_code == 1 and busy.stderr.startswith("error: cannot listen on 127.0.0.1:")
        with socket.socket() as s:  # loopback only
            host = socket.gethostbyname(socket.gethostname())
            if not host.startswith("127."):
                assert s.connect_ex((host, int(url.group(1)))) != 0
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=20)
        assert proc.returncode == 0 and "stopped" in err
    finally:
        if proc.poll() is None:
            proc.kill()


def test_the_runs_page_version_changes_when_a_sample_lands(runs, tmp_path):
    live = tmp_path / "live"
    shutil.copytree(runs["cot"], live)
    c = TestClient(create_app([open_run(live)]))
    before = c.get("/api/version").json()
    assert c.get("/api/version").json() == before
    row = results(live)[0]
    with RunStore(live / "run.sqlite") as store:
        store.add(SampleKey(row["dataset"], "late", "c", "m", "0"), "d", True, dict(row, id="late", index=99))
    after = c.get("/api/version").json()
    assert after["version"] != before["version"]
    assert len(c.get("/api/runs/0").json()["rows"]) == len(results(runs["cot"])) + 1


def test_serve_request_log_page(tmp_path):
    out = view_runs.serve_log(tmp_path)
    recs = [json.loads(x) for x in (out / "serve-requests.jsonl").read_text().splitlines()]
    c = TestClient(create_app([open_run(out)]), raise_server_exceptions=False)
    home = c.get("/").text
    errors = sum(1 for r in recs if r["status"] >= 400)
    assert f"{len(recs)} requests, {errors} errors" in home
    page = c.get("/runs/0").text
    assert f'data-stat="requests">{len(recs)}<' in page and f'data-stat="errors">{errors}<' in page
    for strategy in ("cot", "self-consistency", "best-of-n"):
        row = re.search(rf'<tr data-strategy="{strategy}">(.*?)</tr>', page, re.S).group(1)
        assert f'<td class="num">{sum(1 for r in recs if r["strategy"] == strategy)}</td>' in row
    assert page.count("<tr data-status=") == 100 and "page 1 of 2" in page  # newest first, 100 a page
    only = c.get("/runs/0", params={"status": "error"}).text
    assert only.count("<tr data-status=") == errors and f"{errors} of {len(recs)} requests" in only
    assert view_runs.XSS_IMG not in only and "bad request &lt;img" in only
    assert c.get("/runs/0", params={"page": "x"}).status_code == 400
    assert c.get("/runs/0/sample", params={"id": "a"}).status_code == 404
    html = export_html([open_run(out)])
    assert html.count("<tr data-status=") == len(recs) and view_runs.XSS_IMG not in html
