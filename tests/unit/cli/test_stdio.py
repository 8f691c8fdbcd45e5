"""LiveCodeBench- and APPS-layout files through ``nlrl bench`` (scripted backend) and ``nlrl grade``."""

import json
from pathlib import Path

from typer.testing import CliRunner

from nlrl.cli import app

DATA = Path(__file__).resolve().parents[1] / "bench" / "data"  # the layouts' sample rows


def _lcb_rows():
    return [json.loads(x) for x in (DATA / "livecodebench_layout.jsonl").read_text().splitlines()]


def _apps_rows():
    return [json.loads(x) for x in (DATA / "apps_layout.jsonl").read_text().splitlines()]

cli = CliRunner()

LCB_GOOD = ["```python\na, b = map(int, input().split())\nprint(a + b)\n```\n",
            "```python\nclass Solution:\n    def shift(self, nums, k):\n        return [x + k for x in nums]\n```\n"]
LCB_HALF = ["```python\nprint(3)\n```\n",  # passes the public test only
            "```python\nclass Solution:\n    def shift(self, nums, k):\n        return nums\n```\n"]
APPS_GOOD = ["```python\nn = int(input())\nprint(n * n)\n```\n", "```python\ndef bigger(a, b):\n    return max(a, b)\n```\n"]


def _jsonl(path, rows):
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    return path


def _bench(tmp_path, data, outputs, name, *extra):
    script = tmp_path / f"{name}.script.json"
    script.write_text(json.dumps(outputs))
    r = cli.invoke(app, ["bench", "--dataset", str(data), "--out", str(tmp_path / name), "--run-dir",
                         str(tmp_path / "run"), "-q", "--no-plots", "-b", "scripted", "-m", str(script), "--json", *extra])
    assert r.exit_code == 0, r.output
    rows = [json.loads(x) for x in (tmp_path / name / "results.jsonl").read_text().splitlines()]
    return json.loads(r.stdout), rows


def test_bench_reads_a_livecodebench_file(tmp_path):
    data = _jsonl(tmp_path / "lcb.jsonl", _lcb_rows())
    summary, rows = _bench(tmp_path, data, LCB_GOOD, "good")
    assert summary["correct"] == 2 and [r["checker"] for r in rows] == ["stdio", "stdio"]
    summary, rows = _bench(tmp_path, data, LCB_HALF, "half", "--checker", "stdio")
    assert summary["correct"] == 0 and [r["score"] for r in rows] == [0.5, 0.5]
    assert "test 1 (wrong answer): input '7 8\\n', expected '15\\n', got '3\\n'" in rows[0]["verdict"]["detail"]


def test_bench_reads_an_apps_file(tmp_path):
    data = _jsonl(tmp_path / "apps.jsonl", _apps_rows())
    summary, rows = _bench(tmp_path, data, APPS_GOOD, "apps")
    assert summary["correct"] == 2 and {r["id"] for r in rows} == {"4001", "4002"}


def test_grade_against_a_livecodebench_and_an_apps_file(tmp_path):
    lcb = _jsonl(tmp_path / "lcb.jsonl", _lcb_rows())
    apps = _jsonl(tmp_path / "apps.jsonl", _apps_rows())
    preds = _jsonl(tmp_path / "p.jsonl", [{"id": "abc001_a", "output": LCB_GOOD[0]}, {"id": "3000", "output": LCB_HALF[1]}])
    out = tmp_path / "v.jsonl"
    r = cli.invoke(app, ["grade", str(preds), "--dataset", str(lcb), "--out", str(out)])
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout.strip().splitlines()[-1]) == {"n": 2, "correct": 1, "accuracy": 0.5, "errors": 0}
    verdicts = [json.loads(x) for x in out.read_text().splitlines()]
    assert verdicts[1]["score"] == 0.5 and "test 0 (wrong answer)" in verdicts[1]["detail"]
    preds = _jsonl(tmp_path / "q.jsonl", [{"id": 4001, "output": APPS_GOOD[0]}, {"id": 4002, "output": APPS_GOOD[1]}])
    r = cli.invoke(app, ["grade", str(preds), "--dataset", str(apps)])
    assert json.loads(r.stdout.strip().splitlines()[-1])["correct"] == 2


def test_grade_inline_stdio_references_in_both_layouts(tmp_path):
    lcb, apps = _lcb_rows()[0], _apps_rows()[1]
    preds = _jsonl(tmp_path / "p.jsonl", [
        {"output": LCB_GOOD[0], "checker": "stdio",
         "reference": {k: lcb[k] for k in ("public_test_cases", "private_test_cases", "metadata")}},
        {"output": APPS_GOOD[1], "checker": "stdio", "reference": {"input_output": apps["input_output"]}},
        {"output": "print(1)", "checker": "stdio", "reference": {"tests": "nope"}},
    ])
    r = cli.invoke(app, ["grade", str(preds)])
    summary = json.loads(r.stdout.strip().splitlines()[-1])
    assert summary["correct"] == 2 and summary["errors"] == 1
    assert "needs 'tests'" in r.stderr


def test_bench_reads_a_plain_tests_file_with_checker_stdio_and_float_tolerance(tmp_path):
    data = _jsonl(tmp_path / "p.jsonl", [
        {"id": "third", "prompt": "Print 1/n.", "float_tol": 1e-6,
         "tests": [{"input": "3\n", "output": "0.333333333\n"}, {"input": "8\n", "output": "0.125"}]},
        {"id": "words", "prompt": "Print the words of the line, one per line.",
         "tests": [{"input": "a  b c\n", "output": "a\nb\nc\n"}]},
    ])
    outputs = ["```python\nprint(f'{1 / int(input()):.7f}')\n```\n", "```python\nprint(input())\n```\n"]
    summary, rows = _bench(tmp_path, data, outputs, "plain", "--checker", "stdio")
    assert summary["correct"] == 2 and [r["checker"] for r in rows] == ["stdio", "stdio"]
