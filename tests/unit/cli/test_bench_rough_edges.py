"""`nlrl bench` and `nlrl report` on paths they cannot write, options they must refuse before any
model loads, and the plots of one run and of several.

Read-only is simulated two ways: a path where a directory should be is a file, or a file the
command writes is a directory (both fail for root too), and, when not root, real permission bits.
"""

import os
import stat

import pytest
from helpers.cli import gsm8k_answers, one_line_error, script
from typer.testing import CliRunner

from nlrl.cli import app

cli = CliRunner()


def _permission_bits_hold():
    """False for root (or any process with CAP_DAC_OVERRIDE): it writes into read-only directories."""
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        os.chmod(d, stat.S_IRUSR | stat.S_IXUSR)
        try:
            open(os.path.join(d, "probe"), "w").close()
        except PermissionError:
            return True
        finally:
            os.chmod(d, stat.S_IRWXU)
        return False


not_root = pytest.mark.skipif(not _permission_bits_hold(), reason="permission bits are not enforced (root)")


def run_bench(tmp_path, out, *args, plots=False):
    return cli.invoke(app, ["bench", "--out", str(out), "--run-dir", str(tmp_path / "cache"), "-q",
                            *([] if plots else ["--no-plots"]), *args])


@pytest.mark.parametrize("args, needle", [
    (["--n", "0"], "n=0"),
    (["--temperature", "-0.5"], "temperature=-0.5"),
    (["--max-tokens", "0"], "max_tokens=0"),
    (["--strategy", "nope"], "unknown strategy 'nope'"),
    (["--strategy", "self-consistency", "-O", "bogus=1"], "bogus"),
    (["--max-tokens", "64", "--max-total-tokens", "10"], "max_total_tokens=10"),
    (["--difficulty", "extreme"], "--difficulty must be one of"),
    (["--dataset", "imagenet"], "unknown dataset 'imagenet'"),
])
def test_bad_options_fail_before_the_model_loads(tmp_path, loads, args, needle):
    r = run_bench(tmp_path, tmp_path / "out", *(["--dataset", "gsm8k"] if "--dataset" not in args else []), *args)
    one_line_error(r, needle)
    assert loads == []  # the embedded model (the default backend) was never constructed


def test_an_out_that_cannot_be_used_fails_before_the_model_loads(tmp_path, loads):
    blocker = tmp_path / "file"
    blocker.write_text("")
    one_line_error(run_bench(tmp_path, blocker / "run", "--dataset", "gsm8k"), "cannot use")
    assert loads == []


def test_an_existing_run_that_cannot_be_written_is_one_line(tmp_path, loads):
    out = tmp_path / "run"
    s = script(tmp_path / "s.json", *gsm8k_answers(1))
    assert run_bench(tmp_path, out, "--dataset", "gsm8k", "--limit", "1", "-b", "scripted", "-m", s).exit_code == 0
    loads.clear()
    (out / ".lock").unlink()
    (out / ".lock").mkdir()  # the lock cannot be opened, for root too
    one_line_error(run_bench(tmp_path, out, "--dataset", "gsm8k", "--limit", "1", "-b", "scripted", "-m", s),
                   f"cannot write to {out}")
    assert loads == []


@not_root
def test_a_read_only_run_is_one_line(tmp_path):
    out = tmp_path / "run"
    s = script(tmp_path / "s.json", *gsm8k_answers(1))
    assert run_bench(tmp_path, out, "--dataset", "gsm8k", "--limit", "1", "-b", "scripted", "-m", s).exit_code == 0
    (out / ".lock").unlink()
    out.chmod(stat.S_IRUSR | stat.S_IXUSR)
    try:
        one_line_error(run_bench(tmp_path, out, "--dataset", "gsm8k", "--limit", "1", "-b", "scripted", "-m", s),
                       f"cannot write to {out}: Permission denied")
    finally:
        out.chmod(stat.S_IRWXU)


def test_bench_logs_into_its_run_and_the_user_cache_not_the_cwd(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.delenv("NLRL_RUN_DIR", raising=False)
    s = script(tmp_path / "s.json", *gsm8k_answers(1))
    r = cli.invoke(app, ["bench", "--dataset", "gsm8k", "--limit", "1", "-b", "scripted", "-m", s,
                         "--out", str(tmp_path / "run"), "-q", "--no-plots"])
    assert r.exit_code == 0, r.output
    assert "bench gsm8k: 1 selected" in (tmp_path / "run" / "nlrl.log").read_text()
    assert (tmp_path / "xdg" / "nlrl" / "nlrl.log").is_file()
    assert not (tmp_path / "cache").exists()


@pytest.fixture
def two_runs(tmp_path):
    from nlrl.bench import load_dataset

    refs = [r.reference for r in load_dataset("math500").select(limit=6)]
    a = [f" Long working {'step ' * (5 * i)}.\nFinal Answer: {ref if i % 3 else 0}\n" for i, ref in enumerate(refs)]
    b = ["Final Answer: 0\n"] * 6
    for name, outputs in (("a", a), ("b", b)):
        r = run_bench(tmp_path, tmp_path / name, "--dataset", "math500", "--limit", "6", "-b", "scripted",
                      "-m", script(tmp_path / f"{name}.json", *outputs), plots=True)
        assert r.exit_code == 0, r.output
    return tmp_path / "a", tmp_path / "b"


def _png(path):
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000, path
    return data


def test_one_run_gets_an_overview_several_get_the_comparison(two_runs, tmp_path):
    a, b = two_runs
    _png(a / "run_overview.png")  # written by bench itself
    assert not (a / "accuracy_vs_tokens.png").exists()
    r = cli.invoke(app, ["report", str(a), "--out", str(tmp_path / "one")])
    assert r.exit_code == 0, r.output
    assert sorted(p.name for p in (tmp_path / "one").iterdir()) == ["run_overview.png"]
    r = cli.invoke(app, ["report", str(a), str(b), "--out", str(tmp_path / "many")])
    assert r.exit_code == 0, r.output
    assert sorted(p.name for p in (tmp_path / "many").iterdir()) == ["accuracy_by_level.png",
                                                                       "accuracy_vs_tokens.png"]
    for p in (tmp_path / "many").iterdir():
        _png(p)


def test_overview_groups_by_level_with_wilson_intervals(two_runs):
    from nlrl.bench.report import _groups, load_run

    key, groups = _groups(load_run(two_runs[0]))
    assert key == "level" and sum(g["n"] for g in groups.values()) == 6
    for g in groups.values():
        assert g["ci95"][0] <= (g["accuracy"] or 0) <= g["ci95"][1]


def test_overview_falls_back_to_domain_then_to_the_whole_run(tmp_path):
    from nlrl.bench.report import RunInfo, _groups, plot_run_overview

    rows = [{"domain": d, "correct": c, "usage": {"completion_tokens": t}}
            for d, c, t in (("math", True, 10), ("math", False, 30), ("coding", True, 20))]
    summary = {"n": 3, "correct": 2, "accuracy": 2 / 3, "ci95": [0.2, 0.94], "breakdown": {},
               "tokens_per_sample": {"generated": 20.0}, "config": {"dataset": "mine", "strategy": "cot"}}
    key, groups = _groups(RunInfo(tmp_path, summary, rows))
    assert key == "domain" and {g: v["correct"] for g, v in groups.items()} == {"coding": 1, "math": 1}
    key, groups = _groups(RunInfo(tmp_path, summary, rows[:2]))
    assert key == "all" and groups["all"]["n"] == 3
    _png(plot_run_overview(RunInfo(tmp_path, summary, []), tmp_path / "empty.png"))  # no rows: still a figure


def test_report_out_that_cannot_be_written_is_one_line(two_runs, tmp_path):
    a, _ = two_runs
    blocker = tmp_path / "file"
    blocker.write_text("")
    r = cli.invoke(app, ["report", str(a), "--out", str(blocker / "plots")])
    assert r.exit_code == 1 and "Traceback" not in r.output
    assert "accuracy %" in r.stdout  # the table came first
    assert r.stderr == f"error: cannot write plots to {blocker / 'plots'}: Not a directory\n"


def test_report_on_a_run_it_cannot_write_prints_the_table_and_says_so(two_runs):
    a, _ = two_runs
    (a / "run_overview.png").unlink()
    (a / "run_overview.png").mkdir()  # savefig cannot replace it, for root too
    r = cli.invoke(app, ["report", str(a)])
    assert r.exit_code == 0, r.output
    assert "accuracy %" in r.stdout and "math500" in r.stdout
    assert r.stderr.startswith(f"warning: plots not written: cannot write plots to {a}")
    assert r.stderr.count("\n") == 1 and "Traceback" not in r.output


@not_root
def test_report_on_a_read_only_run(two_runs):
    a, _ = two_runs
    (a / "run_overview.png").unlink()  # a file already there stays writable in a read-only directory
    a.chmod(stat.S_IRUSR | stat.S_IXUSR)
    try:
        r = cli.invoke(app, ["report", str(a)])
    finally:
        a.chmod(stat.S_IRWXU)
    assert r.exit_code == 0 and "accuracy %" in r.stdout
    assert "warning: plots not written" in r.stderr and "Permission denied" in r.stderr
