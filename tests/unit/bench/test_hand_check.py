"""Graded accuracy agrees with a hand check of real model outputs.

The files in ``data/`` hold the outputs the embedded model (Gemma 3 270M, Q4_K_M, llama.cpp) wrote
for the first 20 records of a dataset in a real ``nlrl bench`` run (cot, greedy, adaptive stop;
max_tokens 384 for GSM8K, 96 for CommonsenseQA), each labelled right or wrong by hand with a note.
Here they are replayed through the scripted backend and the harness grades them again: every
verdict must equal its hand label.

(One CommonsenseQA output, "Final Answer: A barnyard is ...", once caught the choice grader reading
the article as label A; the grader was fixed and the sample stays as its regression test.)
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from nlrl import ScriptedBackend
from nlrl.bench import BenchRunner, load_dataset

DATA = Path(__file__).parent / "data"
RECORDINGS = {
    "gsm8k": DATA / "gsm8k_gemma3_270m_cot_20.jsonl",
    "commonsenseqa": DATA / "commonsenseqa_gemma3_270m_cot_20.jsonl",
}
def regrade(dataset: str, tmp_path: Path) -> tuple[list[dict], dict[str, dict], dict]:
    recorded = [json.loads(line) for line in RECORDINGS[dataset].read_text(encoding="utf-8").splitlines()]
    records = load_dataset(dataset).select(limit=20)
    assert len(recorded) == 20 and [r.id for r in records] == [x["id"] for x in recorded]
    by_question = {r.prompt.strip(): x["output"] for r, x in zip(records, recorded)}

    def replay(prompt: str, i: int) -> str:
        question = prompt.rsplit("Question:", 1)[1].rsplit("Answer:", 1)[0].strip()
        return by_question[question]

    summary = BenchRunner(ScriptedBackend(replay), progress=False, plots=False).run(records, tmp_path)
    graded = {}
    for line in (tmp_path / "results.jsonl").read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        graded[row["id"]] = row
    return recorded, graded, summary


@pytest.mark.parametrize("dataset", sorted(RECORDINGS))
def test_graded_accuracy_agrees_with_the_hand_check(dataset, tmp_path):
    recorded, graded, summary = regrade(dataset, tmp_path)
    for x in recorded:
        assert graded[x["id"]]["output"] == x["output"]  # the replay is the recorded output
    disagree = [(x["id"], x["hand_note"], graded[x["id"]]["verdict"]) for x in recorded
                if graded[x["id"]]["correct"] != x["hand_correct"]]
    assert not disagree
    assert summary["correct"] == sum(x["hand_correct"] for x in recorded)
