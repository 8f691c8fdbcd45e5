import json

from helpers.cli import gsm8k_answers, script
from typer.testing import CliRunner

from nlrl.cli import app

cli = CliRunner()


def bench(tmp_path, out, *args):
    return cli.invoke(app, ["bench", "--out", str(out), "--run-dir", str(tmp_path / "run"), "-q", "--no-plots",
                            *args])


def test_bench_runs_a_vendored_dataset(tmp_path):
    s = script(tmp_path / "s.json", *gsm8k_answers(2), " I think 5.\nFinal Answer: 5\n")
    r = bench(tmp_path, tmp_path / "out", "--dataset", "gsm8k", "--limit", "3", "-b", "scripted", "-m", s)
    assert r.exit_code == 0, r.output
    assert r.stdout.startswith("gsm8k · cot · records=3 · accuracy 66.7% (95% CI")
    rows = [json.loads(x) for x in (tmp_path / "out" / "results.jsonl").read_text().splitlines()]
    assert [x["correct"] for x in rows] == [True, True, False]
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["config"]["backend"] == "scripted" and summary["config"]["seed"] == 0


def test_backend_failure_exits_1_and_the_rerun_resumes(tmp_path):
    out = tmp_path / "out"
    answers = gsm8k_answers(3)
    r = bench(tmp_path, out, "--dataset", "gsm8k", "--limit", "3", "-b", "scripted",
              "-m", script(tmp_path / "a.json", *answers[:2]))
    assert r.exit_code == 1
    assert "ran out of outputs" in r.stderr and "stopped after 2/3 samples" in r.stderr
    assert "run the same command again to resume" in r.stderr and "Traceback" not in r.output
    r = bench(tmp_path, out, "--dataset", "gsm8k", "--limit", "3", "-b", "scripted",
              "-m", script(tmp_path / "b.json", answers[2]), "--json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["correct"] == 3


def test_bad_input_is_one_line(tmp_path):
    s = script(tmp_path / "s.json", "Final Answer: 1\n")
    r = bench(tmp_path, tmp_path / "o", "--dataset", "gsm9k", "-b", "scripted", "-m", s)
    assert r.exit_code == 1 and "unknown dataset 'gsm9k'; known:" in r.stderr and "gsm8k" in r.stderr
    r = bench(tmp_path, tmp_path / "o", "--dataset", "gsm8k", "--shard", "3/3", "-b", "scripted", "-m", s)
    assert r.exit_code == 1 and "--shard must be i/k with 0 <= i < k, got 3/3" in r.stderr
    r = bench(tmp_path, tmp_path / "o", "--dataset", "gsm8k", "--field", "prompt", "-b", "scripted", "-m", s)
    assert r.exit_code == 1 and "--field expects KEY=VALUE" in r.stderr
    r = bench(tmp_path, tmp_path / "o", "--dataset", "gsm8k", "--strategy", "nope", "-b", "scripted", "-m", s)
    assert r.exit_code == 1 and "unknown strategy 'nope'" in r.stderr


def test_another_configuration_needs_force(tmp_path):
    out = tmp_path / "out"
    args = ["--dataset", "gsm8k", "--limit", "1", "-b", "scripted"]
    assert bench(tmp_path, out, *args, "-m", script(tmp_path / "a.json", *gsm8k_answers(1))).exit_code == 0
    r = bench(tmp_path, out, *args, "--max-tokens", "50", "-m", script(tmp_path / "b.json", *gsm8k_answers(1)))
    assert r.exit_code == 1 and "another configuration" in r.stderr and "--force" in r.stderr
    r = bench(tmp_path, out, *args, "--max-tokens", "50", "--force", "-m", script(tmp_path / "c.json", *gsm8k_answers(1)))
    assert r.exit_code == 0, r.output


def test_local_file_with_fields_and_malformed_lines(tmp_path):
    data = tmp_path / "mine.jsonl"
    data.write_text('{"q": "What is 1 + 1?", "gold": "2"}\n{oops\n{"q": "What is 2 + 3?", "gold": "5"}\n')
    s = script(tmp_path / "s.json", "Final Answer: 2\n", "Final Answer: 5\n")
    r = bench(tmp_path, tmp_path / "o", "--dataset", str(data), "--field", "prompt=q", "--field", "reference=gold",
              "--checker", "math", "-b", "scripted", "-m", s)
    assert r.exit_code == 0, r.output
    assert f"warning: skipped {data}:2: not valid JSON" in r.stderr and "records=2 · accuracy 100.0%" in r.stdout
    r = bench(tmp_path, tmp_path / "o2", "--dataset", str(data), "--field", "prompt=q", "--field", "reference=gold",
              "--strict", "-b", "scripted", "-m", s)
    assert r.exit_code == 1 and f"{data}:2: not valid JSON" in r.stderr


def test_report_compares_runs_and_redraws_plots(tmp_path):
    for name, outputs in [("a", gsm8k_answers(2)), ("b", ["Final Answer: 0\n"] * 2)]:
        r = bench(tmp_path, tmp_path / name, "--dataset", "gsm8k", "--limit", "2", "-b", "scripted",
                  "-m", script(tmp_path / f"{name}.json", *outputs))
        assert r.exit_code == 0, r.output
    r = cli.invoke(app, ["report", str(tmp_path / "a"), str(tmp_path / "b"), "--out", str(tmp_path / "plots"),
                         "--json"])
    assert r.exit_code == 0, r.output
    rows = [json.loads(x) for x in r.stdout.splitlines()]
    assert [x["accuracy %"] for x in rows] == ["100.0", "0.0"] and rows[0]["dataset"] == "gsm8k"
    assert (tmp_path / "plots" / "accuracy_vs_tokens.png").is_file()
    r = cli.invoke(app, ["report", str(tmp_path / "a"), "--no-plots"])
    assert r.exit_code == 0 and "100.0" in r.stdout and "gsm8k" in r.stdout
    r = cli.invoke(app, ["report", str(tmp_path / "a"), str(tmp_path / "plots" / "accuracy_vs_tokens.png"),
                         "--no-plots"])
    assert r.exit_code == 0 and "skipping" in r.stderr
    r = cli.invoke(app, ["report", str(tmp_path / "nothing")])
    assert r.exit_code == 1 and "not a benchmark run directory" in r.stderr


def test_out_that_is_a_file_is_a_one_line_error(tmp_path):
    from typer.testing import CliRunner

    from nlrl.cli import app

    blocker = tmp_path / "taken"
    blocker.write_text("x")
    script = tmp_path / "s.json"
    script.write_text('["Final Answer: 1\\n"]')
    r = CliRunner().invoke(app, ["bench", "--dataset", "gsm8k", "--limit", "1", "-b", "scripted", "-m",
                                 str(script), "--out", str(blocker / "run"), "--run-dir", str(tmp_path)])
    assert r.exit_code == 1 and r.stderr.startswith("error: cannot use") and r.stderr.count("\n") == 1
