"""``--reward prm:PATH`` and ``--reward-aggregation`` on solve and bench."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

from typer.testing import CliRunner  # noqa: E402

from nlrl.cli import app  # noqa: E402
from nlrl.rewards.prm import HFProcessReward, aggregate_steps  # noqa: E402

from helpers.prm_models import build  # noqa: E402

cli = CliRunner()
OUTS = ["2 + 2 = 5.\n\nFinal Answer: 5\n", "2 + 2 = 4.\n\nSo it is 4.\n\nFinal Answer: 4\n",
        "Two and two.\n\nFinal Answer: 22\n"]


@pytest.fixture(scope="module")
def prm_dir(tmp_path_factory):
    return build("qwen-prm", tmp_path_factory.mktemp("qwen-prm"))


def test_solve_best_of_n_ranks_by_the_prm_with_the_chosen_aggregation(tmp_path, prm_dir):
    script = tmp_path / "s.json"
    script.write_text(json.dumps(OUTS))
    prm = HFProcessReward(str(prm_dir), device="cpu")
    for how in ("min", "mean"):
        r = cli.invoke(app, ["solve", "What is 2 + 2?", "--json", "-b", "scripted", "-m", str(script), "--strategy",
                             "best-of-n", "--n", "3", "--temperature", "0.7", "--reward", f"prm:{prm_dir}",
                             "--reward-aggregation", how, "--run-dir", str(tmp_path)])
        assert r.exit_code == 0, r.output
        d = json.loads(r.stdout)
        scores = [e["score"] for e in d["trace"] if e["kind"] == "score"]
        want = [aggregate_steps(prm.score_steps("What is 2 + 2?", [p.strip() for p in o.strip().split("\n\n")]), how)
                for o in OUTS]
        assert scores == pytest.approx(want, abs=1e-5)
        assert {e.get("reward") for e in d["trace"] if e["kind"] == "score"} == {"prm:qwen-prm"}
        assert d["final_answer"] == ["5", "4", "22"][max(range(3), key=lambda i: (want[i], -i))]


@pytest.mark.parametrize("args, needle", [
    (["--reward-aggregation", "min"], "--reward-aggregation needs --reward"),
    (["--reward", "prm:/x", "--reward-aggregation", "max"], "last, min, prod, mean"),
    (["--reward", "prm:"], "nothing after the colon"),
    (["--reward", "nope:x"], "unknown reward 'nope'"),
])
def test_bad_reward_flags_are_one_line_errors(tmp_path, args, needle):
    for cmd in (["solve", "q"], ["bench", "--dataset", "gsm8k", "--out", str(tmp_path / "o")]):
        r = cli.invoke(app, [*cmd, "-b", "scripted", "-m", "x.json", *args, "--run-dir", str(tmp_path)])
        assert r.exit_code == 1, r.output
        assert r.stderr.startswith("error: ") and r.stderr.count("\n") == 1 and needle in r.stderr, r.stderr


def test_bench_scores_with_the_prm_and_names_it_in_the_run_config(tmp_path, prm_dir):
    from nlrl.bench import load_dataset

    refs = [r.reference for r in load_dataset("gsm8k").select(limit=2)]
    script = tmp_path / "s.json"
    script.write_text(json.dumps([f"Work.\n\nFinal Answer: {x}\n" for x in refs for _ in range(2)]))
    r = cli.invoke(app, ["bench", "--dataset", "gsm8k", "--limit", "2", "--out", str(tmp_path / "o"), "-q",
                         "--no-plots", "-b", "scripted", "-m", str(script), "--strategy", "best-of-n", "--n", "2",
                         "--temperature", "0.7", "--reward", f"prm:{prm_dir}", "--reward-aggregation", "prod",
                         "--run-dir", str(tmp_path / "run"), "--json"])
    assert r.exit_code == 0, r.output
    summary = json.loads(r.stdout)
    assert summary["config"]["reward"] == f"prm:{prm_dir} aggregation=prod"
    rows = [json.loads(x) for x in (tmp_path / "o" / "results.jsonl").read_text().splitlines()]
    assert all(sum(e["kind"] == "score" and e.get("reward") == "prm:qwen-prm" for e in row["trace"]) == 2
               for row in rows)
