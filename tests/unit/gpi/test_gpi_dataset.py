"""Dataset-level language GPI: loaders, graders, and the evaluate -> rewrite -> keep-if-better loop."""

from __future__ import annotations

import json

import pytest

from nlrl._exceptions import ConfigError, DatasetError, UnknownNameError
from nlrl.backends import ScriptedBackend
from nlrl.gpi.dataset import (
    DatasetGPI,
    Record,
    default_grader,
    grade_choice,
    grade_exact,
    grade_number,
    grade_yesno,
    load_records,
    split,
)
from nlrl.gpi.llm import JsonCaller


def test_vendored_loaders():
    g = load_records("gsm8k", limit=2)
    assert len(g) == 2 and g[0].reference == "18" and g[0].question.startswith("Janet")
    s = load_records("strategyqa", limit=1)[0]
    assert s.reference in ("yes", "no")
    c = load_records("commonsenseqa", limit=1)[0]
    assert c.reference == "A" and "\nA. bank\nB. library" in c.question
    m = load_records("math500", limit=1)[0]
    assert m.question.startswith("Convert the point") and m.reference


def test_data_dir_override_and_malformed_rows(tmp_path, monkeypatch):
    (tmp_path / "gsm8k").mkdir()
    f = tmp_path / "gsm8k" / "test.jsonl"
    f.write_text(json.dumps({"question": "1+1?", "answer": "so #### 2"}) + "\n{broken\n")
    monkeypatch.setenv("NLRL_DATA_DIR", str(tmp_path))
    with pytest.raises(DatasetError, match="test.jsonl:2"):
        load_records("gsm8k")
    f.write_text(json.dumps({"question": "1+1?", "answer": "so #### 1,002"}) + "\n" + json.dumps({"q": 1}) + "\n")
    assert load_records("gsm8k", limit=1)[0].reference == "1002"
    with pytest.raises(DatasetError, match="malformed gsm8k record"):
        load_records("gsm8k")
    with pytest.raises(UnknownNameError, match="known: commonsenseqa, gsm8k"):
        load_records("mnist")


def test_builtin_graders():
    assert grade_number("3 + 4 = 7. Answer: 7", "7") and not grade_number("Answer: 8", "7")
    assert grade_number("so 1,250 in total", "1250") and not grade_number("no number", "3")
    assert grade_number("Answer: 18 dollars, not 20", "18")  # the number right after Answer:
    assert grade_yesno("It swims. Answer: No", "no") and not grade_yesno("Answer: yes", "no")
    assert grade_choice("Answer: B", "B") and not grade_choice("Answer: C", "B")
    assert grade_exact("Answer: $\\boxed{12}$", "12")


def test_default_grader_grades():
    grade, label = default_grader("gsm8k")
    assert label in ("nlrl.verifiers:math", "builtin:number")
    assert grade("4 * 6 = 24. Answer: 24", "24") and not grade("Answer: 25", "24")


def test_split_is_disjoint_and_checked():
    recs = [Record(str(i), f"q{i}", str(i)) for i in range(5)]
    tr, ho = split(recs, 2, 3)
    assert [r.id for r in tr] == ["0", "1"] and [r.id for r in ho] == ["2", "3", "4"]
    with pytest.raises(ConfigError):
        split(recs, 3, 3)
    with pytest.raises(ConfigError):
        split(recs, 0, 1)


RECORDS = [Record(f"r{i}", f"What is {i} + {i}?", str(2 * i)) for i in range(1, 7)]
ANSWERS = {r.question: r.reference for r in RECORDS}


def solver_model(rewrite_to: str, *, rewrite_ok: bool = True) -> ScriptedBackend:
    """Solves correctly only when the instruction asks for steps; the rewrite is scripted."""

    def script(prompt: str, index: int) -> str:
        if prompt.startswith("A solver is given an instruction"):
            return 'It never computes.", "final_evaluation": "Ask for steps and an Answer line."}\n'
        if prompt.startswith("Improve a solver's instruction"):
            return f'Ask for steps.", "instruction": "{rewrite_to}"}}\n' if rewrite_ok else "sorry\n"
        instruction = prompt.split("\n", 1)[0]
        question = prompt.rsplit("Question: ", 1)[1].split("\n", 1)[0]
        return f" Answer: {ANSWERS[question]}" if "steps" in instruction else " I do not know."

    return ScriptedBackend(script)


def test_better_instruction_is_kept():
    b = solver_model("Work in steps, then write Answer: <number>.")
    gpi = DatasetGPI(b, RECORDS[:3], RECORDS[3:], grade_number, dataset="gsm8k")
    result = gpi.run(iterations=2)
    assert result["baselines"]["language_policy"]["accuracy"] == 0.0
    it1, it2 = result["iterations"]
    assert it1["accepted"] and it1["accuracy"] == 1.0 and it1["train_accuracy"] == 0.0
    assert it1["evaluation"] == "It never computes. Ask for steps and an Answer line."
    assert it1["instruction"].startswith("Work in steps")
    # iteration 2: no failures on train -> nothing to evaluate, the policy stays
    assert it2["train_accuracy"] == 1.0 and it2["candidate"] is None and it2["accuracy"] == 1.0
    assert result["final_instruction"].startswith("Work in steps")
    roles = result["usage"]["by_role"]
    assert roles["evaluate"]["calls"] == 1 and roles["rewrite"]["calls"] == 1
    assert roles["solve"]["requests"] == 3 + 3 + 3 + 3  # held-out x2 instructions, train x2


def test_worse_instruction_is_rejected_on_heldout():
    b = solver_model("Be brief.")
    result = DatasetGPI(b, RECORDS[:3], RECORDS[3:], grade_number, dataset="gsm8k").run(iterations=1)
    it = result["iterations"][0]
    assert not it["accepted"] and it["candidate"] == "Be brief." and it["candidate_accuracy"] == 0.0
    assert it["instruction"] == "Solve the math word problem." and it["accuracy"] == 0.0


def test_unparseable_rewrite_is_counted_and_policy_kept():
    b = solver_model("", rewrite_ok=False)
    caller = JsonCaller(b, retries=1)
    result = DatasetGPI(b, RECORDS[:3], RECORDS[3:], grade_number, dataset="gsm8k", caller=caller).run(1)
    it = result["iterations"][0]
    assert it["candidate"] is None and not it["accepted"]
    assert it["parse_failures"] == 2 and it["fallbacks"] == 1


def test_greedy_scores_are_reused():
    b = solver_model("Be brief.")
    gpi = DatasetGPI(b, RECORDS[:3], RECORDS[3:], grade_number, dataset="gsm8k")
    gpi.run(iterations=2)  # iteration 2 re-scores the same instruction on train: no new calls
    solves = [r for r in b.requests if r.prompt.startswith("Solve the math")]
    assert len(solves) == 6


def test_dataset_gpi_input_errors():
    b = solver_model("x")
    with pytest.raises(ConfigError):
        DatasetGPI(b, [], RECORDS, grade_number)
    with pytest.raises(UnknownNameError):
        DatasetGPI(b, RECORDS, RECORDS, grade_number, dataset="nope")
    with pytest.raises(ConfigError, match="iterations"):
        DatasetGPI(b, RECORDS[:1], RECORDS[1:2], grade_number).run(0)


@pytest.mark.parametrize("name", ["gsm8k", "math500", "strategyqa", "commonsenseqa"])
def test_every_dataset_has_its_prompt_pieces(name):
    rec = load_records(name, limit=1)
    b = ScriptedBackend(["x"])
    gpi = DatasetGPI(b, rec, rec, grade_exact, dataset=name)
    solve = gpi.solve_prompt(gpi.instruction, rec[0])
    assert solve.startswith(gpi.instruction) and solve.endswith(f"{rec[0].question}\nSolution:")
    for kind, extra in (("evaluate", {"failures": [], "wrong": 1, "total": 1}), ("rewrite", {"evaluation": "e"})):
        text = gpi.prompts.render(kind, instruction="i", ex=gpi.example, **extra)
        examples = [json.loads(line) for line in text.splitlines() if line.startswith('{"thought"')]
        assert len(examples) == 1 and all(examples[0].values())  # a valid one-line JSON example
