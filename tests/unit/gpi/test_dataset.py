"""Dataset-level language GPI: benchmark records, verifier grading, and the evaluate -> rewrite ->
keep-if-better loop."""

from __future__ import annotations

import json

import pytest

from nlrl._exceptions import ConfigError, DatasetError, UnknownNameError
from nlrl.backends import ScriptedBackend
from nlrl.bench import Record, load_dataset
from nlrl.gpi import known_datasets
from nlrl.gpi.dataset import DatasetGPI, final_answer, split
from nlrl.gpi.llm import JsonCaller


def _gpi(records, dataset="gsm8k", **kw):
    return DatasetGPI(ScriptedBackend(["x"]), records, records, dataset=dataset, **kw)


def test_benchmark_records_feed_the_solver():
    g = load_dataset("gsm8k", strict=True)[:2]
    assert len(g) == 2 and g[0].reference == "18" and g[0].prompt.startswith("Janet")
    s = load_dataset("strategyqa", strict=True)[0]
    assert s.reference in ("yes", "no")
    c = load_dataset("commonsenseqa", strict=True)[0]
    assert c.reference == "A" and "\nA. bank\nB. library" in c.prompt
    m = load_dataset("math500", strict=True)[0]
    assert m.prompt.startswith("Convert the point") and m.reference
    assert _gpi(list(g)).solve_prompt("Solve it.", g[0]).endswith(f"Question: {g[0].prompt}\nSolution:")


def test_data_dir_override_and_malformed_rows(tmp_path, monkeypatch):
    (tmp_path / "gsm8k").mkdir()
    f = tmp_path / "gsm8k" / "test.jsonl"
    f.write_text(json.dumps({"question": "1+1?", "answer": "so #### 2"}) + "\n{broken\n")
    monkeypatch.setenv("NLRL_DATA_DIR", str(tmp_path))
    with pytest.raises(DatasetError, match="test.jsonl:2"):
        load_dataset("gsm8k", strict=True)
    f.write_text(json.dumps({"question": "1+1?", "answer": "so #### 1,002"}) + "\n" + json.dumps({"q": 1}) + "\n")
    assert load_dataset("gsm8k")[0].reference == "1002"
    with pytest.raises(DatasetError, match="test.jsonl:2: missing field"):
        load_dataset("gsm8k", strict=True)
    assert known_datasets() == ["commonsenseqa", "gsm8k", "math500", "strategyqa"]
    with pytest.raises(UnknownNameError, match="known: commonsenseqa, gsm8k, math500, strategyqa"):
        _gpi([Record("0", "q", "1", "math", "math")], dataset="mnist")


def _math(ref):
    return Record("m", "What is it?", ref, "math", "math")


def test_verifier_grading_reads_the_answer_line():
    gpi = _gpi([_math("7")])
    assert gpi.is_correct("3 + 4 = 7. Answer: 7", _math("7")) and not gpi.is_correct("Answer: 8", _math("7"))
    assert gpi.is_correct("so 1,250 in total", _math("1250")) and not gpi.is_correct("no number", _math("3"))
    assert gpi.is_correct("Answer: 18 dollars, not 20", _math("18"))  # the number right after Answer:
    assert gpi.is_correct("Answer: 19 pens.\nThat is all.", _math("19"))
    yes_no = lambda ref: Record("y", "Can fish swim?", ref, "commonsense", "yesno")  # noqa: E731
    assert gpi.is_correct("It swims. Answer: No", yes_no("no")) and not gpi.is_correct("Answer: yes", yes_no("no"))
    # the answer line, not the output's first word ("No, ..." was read as no when graded whole)
    assert gpi.is_correct("No, it was not shared. Answer: yes", yes_no("yes"))
    choice = Record("c", "Pick one\nA. x\nB. y\nC. z", "B", "commonsense", "choice")
    assert gpi.is_correct("Answer: B", choice) and not gpi.is_correct("Answer: C", choice)
    assert gpi.is_correct("A. doctor. Answer: B", choice)  # not the "A." that opens the output
    assert gpi.is_correct("Answer: $\\boxed{12}$", _math("12"))


def test_default_grading_uses_the_records_verifier_and_context():
    csqa = load_dataset("commonsenseqa")[0]
    gpi = _gpi([csqa], dataset="commonsenseqa")
    assert gpi.grader == "nlrl.verifiers:choice"
    assert gpi.is_correct("Banks guard money. Answer: A", csqa)
    assert gpi.is_correct("Answer: bank", csqa)  # the choice's text, through the record's context
    assert not gpi.is_correct("Answer: library", csqa)
    gsm = _gpi([_math("24")])
    assert gsm.grader == "nlrl.verifiers:math"
    assert gsm.is_correct("4 * 6 = 24. Answer: 24", _math("24")) and not gsm.is_correct("Answer: 25", _math("24"))
    assert final_answer("Answer:\n 24\nmore") == "24"
    assert final_answer("24") is None and final_answer("Answer: ") is None


def test_a_grade_callable_replaces_the_verifiers():
    seen = []

    def exact(output, reference):
        seen.append((output, reference))
        return output == reference

    gpi = _gpi([_math("7")], grade=exact)
    assert gpi.grader == "custom:test_a_grade_callable_replaces_the_verifiers.<locals>.exact"
    assert gpi.is_correct("7", _math("7")) and not gpi.is_correct("Answer: 7", _math("7"))
    assert seen == [("7", "7"), ("Answer: 7", "7")]


def test_split_is_disjoint_and_checked():
    recs = [Record(str(i), f"q{i}", str(i), "math", "math") for i in range(5)]
    tr, ho = split(recs, 2, 3)
    assert [r.id for r in tr] == ["0", "1"] and [r.id for r in ho] == ["2", "3", "4"]
    with pytest.raises(ConfigError):
        split(recs, 3, 3)
    with pytest.raises(ConfigError):
        split(recs, 0, 1)


RECORDS = [Record(f"r{i}", f"What is {i} + {i}?", str(2 * i), "math", "math") for i in range(1, 7)]
ANSWERS = {r.prompt: r.reference for r in RECORDS}


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
    gpi = DatasetGPI(b, RECORDS[:3], RECORDS[3:], dataset="gsm8k")
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
    result = DatasetGPI(b, RECORDS[:3], RECORDS[3:], dataset="gsm8k").run(iterations=1)
    it = result["iterations"][0]
    assert not it["accepted"] and it["candidate"] == "Be brief." and it["candidate_accuracy"] == 0.0
    assert it["instruction"] == "Solve the math word problem." and it["accuracy"] == 0.0


def test_unparseable_rewrite_is_counted_and_policy_kept():
    b = solver_model("", rewrite_ok=False)
    caller = JsonCaller(b, retries=1)
    result = DatasetGPI(b, RECORDS[:3], RECORDS[3:], dataset="gsm8k", caller=caller).run(1)
    it = result["iterations"][0]
    assert it["candidate"] is None and not it["accepted"]
    assert it["parse_failures"] == 2 and it["fallbacks"] == 1


def test_greedy_scores_are_reused():
    b = solver_model("Be brief.")
    gpi = DatasetGPI(b, RECORDS[:3], RECORDS[3:], dataset="gsm8k")
    gpi.run(iterations=2)  # iteration 2 re-scores the same instruction on train: no new calls
    solves = [r for r in b.requests if r.prompt.startswith("Solve the math")]
    assert len(solves) == 6


def test_dataset_gpi_input_errors():
    b = solver_model("x")
    with pytest.raises(ConfigError):
        DatasetGPI(b, [], RECORDS)
    with pytest.raises(UnknownNameError):
        DatasetGPI(b, RECORDS, RECORDS, dataset="nope")
    with pytest.raises(ConfigError, match="iterations"):
        DatasetGPI(b, RECORDS[:1], RECORDS[1:2]).run(0)


@pytest.mark.parametrize("name", ["gsm8k", "math500", "strategyqa", "commonsenseqa"])
def test_every_dataset_has_its_prompt_pieces(name):
    rec = list(load_dataset(name).select(limit=1))
    b = ScriptedBackend(["x"])
    gpi = DatasetGPI(b, rec, rec, dataset=name)
    solve = gpi.solve_prompt(gpi.instruction, rec[0])
    assert solve.startswith(gpi.instruction) and solve.endswith(f"{rec[0].prompt}\nSolution:")
    for kind, extra in (("evaluate", {"failures": [], "wrong": 1, "total": 1}), ("rewrite", {"evaluation": "e"})):
        text = gpi.prompts.render(kind, instruction="i", ex=gpi.example, **extra)
        examples = [json.loads(line) for line in text.splitlines() if line.startswith('{"thought"')]
        assert len(examples) == 1 and all(examples[0].values())  # a valid one-line JSON example
