"""``nlrl sweep``: the grid, one run directory per cell, finished cells skipped, a stopped sweep
resumed, a combined report; bad specs are one-line errors. (On Ray: tests/integration/test_bench_ray.py.)"""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from nlrl import ConfigError
from nlrl.bench import load_dataset
from nlrl.bench.sweep import Cell, SweepSpec
from nlrl.cli import app

cli = CliRunner()
SPEC = """
out: {out}
limit: 3
temperature: 0.7
strategy_options:
  self-consistency: {{temperature: 0.9}}
grid:
  dataset: gsm8k
  strategy: [cot, self-consistency]
  n: [1, 2]
  seed: [0, 1]
"""


def script(path, copies):
    """Each question answered the same way every time it is asked, ``copies`` times at most."""
    recs = load_dataset("gsm8k").select(limit=3)
    path.write_text(json.dumps({r.prompt: [f" Working.\nFinal Answer: {r.reference if i % 2 else 3}\n"] * copies
                                for i, r in enumerate(recs)}))
    return str(path)


def sweep(tmp_path, spec, model, *args):
    return cli.invoke(app, ["sweep", str(spec), "-b", "scripted", "-m", model, "--run-dir", str(tmp_path / "run"),
                            "--no-plots", *args])


def test_the_grid_is_the_product_of_its_axes_in_order():
    spec = SweepSpec.from_dict({"grid": {"dataset": ["gsm8k", "data/my.jsonl"], "n": [1, 4], "budget": [None, 512]}})
    assert len(spec.cells) == 8 and spec.cells[0] == Cell("gsm8k", "cot", 1, None, 0)
    assert spec.cells[1] == Cell("gsm8k", "cot", 1, 512, 0) and spec.cells[-1].dataset == "data/my.jsonl"
    assert [c.name for c in spec.cells[:2]] == ["gsm8k-cot-n1-bnone-s0", "gsm8k-cot-n1-b512-s0"]
    assert spec.cells[-1].name == "my-cot-n4-b512-s0"


@pytest.mark.parametrize("data,message", [
    ({"grid": {"strategy": "cot"}}, "the grid needs at least one dataset"),
    ({"grid": {"dataset": "gsm8k", "width": [1]}}, "unknown grid axis width; known: dataset, strategy, n, budget, seed"),
    ({"grid": {"dataset": "gsm8k"}, "outdir": "x"}, "unknown key(s) outdir; known:"),
    ({"grid": {"dataset": "gsm8k", "n": [0]}}, "grid.n values must be positive integers, got 0"),
    ({"grid": {"dataset": "gsm8k", "budget": ["big"]}}, "grid.budget values must be positive integers or null"),
    ({"grid": {"dataset": "gsm8k", "seed": [1, 1]}}, "the grid repeats a cell"),
    ({"grid": {"dataset": "gsm8k"}, "limit": 0}, "limit must be a positive integer, got 0"),
    (["gsm8k"], "expected a mapping with a 'grid'"),
])
def test_bad_specs_are_config_errors(data, message):
    with pytest.raises(ConfigError) as info:
        SweepSpec.from_dict(data)
    assert message in str(info.value)


def test_a_sweep_runs_every_cell_skips_finished_ones_and_resumes_a_stopped_one(tmp_path):
    out = tmp_path / "sweep"
    spec = tmp_path / "spec.yaml"
    spec.write_text(SPEC.format(out=out))
    # 8 cells of 3 questions, the last axis (seed) fastest; each cell asks each question for one answer
    # (cot) or n answers (self-consistency): 5 answers a question last 5 cells, the 6th stops.
    r = sweep(tmp_path, spec, script(tmp_path / "short.json", 5))
    assert r.exit_code == 1 and "ran out of outputs" in r.stderr and "run the same command again" in r.stderr
    finished = [json.loads((d / "summary.json").read_text()) for d in sorted(out.iterdir())
                if (d / "summary.json").is_file()]
    assert sum(s["complete"] for s in finished) == 5 and not finished[-1]["complete"]
    r = sweep(tmp_path, spec, script(tmp_path / "full.json", 100))
    assert r.exit_code == 0, r.output
    lines = r.stderr.splitlines()
    assert len([x for x in lines if x.startswith("[")]) == 8
    assert lines[0].startswith("[1/8] gsm8k · cot · n=1 · budget - · seed 0: finished earlier · accuracy 33.3% (n=3)")
    assert "[5/8] gsm8k · self-consistency · n=1 · budget - · seed 0: finished earlier" in r.stderr
    assert "[6/8] gsm8k · self-consistency · n=1 · budget - · seed 1: done" in r.stderr
    report = json.loads((out / "sweep.json").read_text())
    assert [c["dir"] for c in report["cells"]] == [c.name for c in SweepSpec.load(spec).cells]
    assert [c["skipped"] for c in report["cells"]] == [True] * 5 + [False] * 3
    assert all(c["complete"] and c["n"] == 3 and c["accuracy"] == pytest.approx(1 / 3) for c in report["cells"])
    for c in report["cells"]:  # each cell is a normal run directory
        s = json.loads((out / c["dir"] / "summary.json").read_text())
        assert s["config"]["strategy"] == c["cell"]["strategy"] and s["config"]["n"] == c["cell"]["n"]
        assert s["config"]["seed"] == c["cell"]["seed"] and s["config"]["temperature"] == 0.7
        assert len((out / c["dir"] / "results.jsonl").read_text().splitlines()) == 3
    assert "benchmark runs" in r.stdout and r.stdout.count("gsm8k-") == 8
    # a third run does nothing but report: a script with no outputs would fail any call
    r = sweep(tmp_path, spec, script(tmp_path / "none.json", 0), "--json", "-q")
    assert r.exit_code == 0, r.output
    assert all(c["skipped"] for c in json.loads(r.stdout)["cells"])


def test_sweep_cli_errors_are_one_line(tmp_path):
    missing = sweep(tmp_path, tmp_path / "nope.yaml", "x.json")
    assert missing.exit_code == 1 and missing.stderr.startswith("error: cannot read sweep spec")
    spec = tmp_path / "spec.yaml"
    spec.write_text("grid: {dataset: gsm8k}\n")
    r = sweep(tmp_path, spec, script(tmp_path / "s.json", 1))
    assert r.exit_code == 1 and r.stderr.strip() == "error: no output directory: give --out or 'out' in the spec"
    spec.write_text(f"out: {tmp_path / 'o'}\nstrategy_options: {{cot: {{wide: 1}}}}\ngrid: {{dataset: gsm8k}}\n")
    r = sweep(tmp_path, spec, script(tmp_path / "s.json", 1))
    assert r.exit_code == 1 and r.stderr.startswith("error: strategy_options for cot: ChainOfThought() takes no arguments")
    assert not (tmp_path / "o").exists()
    spec.write_text("grid: [\n")
    r = sweep(tmp_path, spec, "x.json")
    assert r.exit_code == 1 and "is not valid YAML" in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_grid_progress_counts_every_cell_into_one_bar():
    import io

    from nlrl.bench.sweep import GridProgress

    bar = GridProgress(9, enabled=True, stream=io.StringIO())
    bar.start(3)                                  # cell 1, nothing done before
    bar.advance({"correct": True, "usage": {"completion_tokens": 5}})
    bar.stop()                                    # a cell ends; the bar stays
    bar.start(3, done=3, correct=2)               # cell 2, finished earlier
    bar.start(3, done=1, correct=0)               # cell 3, resumed
    assert (bar.done, bar.correct) == (5, 3)
    task = bar._progress.tasks[0]
    assert (task.total, task.completed) == (9, 5)
    bar.finish()
    assert bar._progress is None
