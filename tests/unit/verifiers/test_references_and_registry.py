import json

import pytest

from nlrl._exceptions import DatasetError, UnknownNameError
from nlrl._exceptions import VerifierError
from nlrl.verifiers import VERIFIERS, Verdict, get_verifier
from nlrl.verifiers.references import data_dir, dataset_names, load_references


def test_checker_registry():
    assert VERIFIERS.names() == ["choice", "code", "collie", "math", "qa", "yesno"]
    with pytest.raises(UnknownNameError, match="unknown checker 'regex'; known: choice, code, collie, math, qa, yesno"):
        get_verifier("regex")


def test_verdict_validates_score():
    assert Verdict(True, 1).score == 1.0
    for bad in (1.5, -0.1, float("nan"), True, "1"):
        with pytest.raises(VerifierError):
            Verdict(False, bad)


def test_references_of_vendored_datasets():
    assert dataset_names() == ["aime24", "collie", "commonsenseqa", "gsm8k", "hotpotqa", "hotpotqa_distractor",
                               "humaneval", "math", "math500", "mbpp", "strategyqa"]
    m = load_references("MATH-500")
    assert len(m) == 500 and m["test/precalculus/807.json"].reference == "\\left( 3, \\frac{\\pi}{2} \\right)"
    g = load_references("gsm8k")
    assert (g["0"].checker, g["0"].reference) == ("math", "18")
    assert load_references("aime24")["0"].checker == "math"
    he = load_references("humaneval")
    assert he["HumanEval/163"].reference["entry_point"] == "generate_integers"
    assert load_references("mbpp")["2"].checker == "code"
    assert load_references("strategyqa")["0"].reference in (True, False)
    assert load_references("commonsenseqa")["0"].reference["answerKey"] == "A"
    assert set(load_references("collie")["0"].reference) == {"constraint", "targets"}


def test_data_dir_override(tmp_path, monkeypatch):
    (tmp_path / "gsm8k").mkdir()
    (tmp_path / "gsm8k" / "test.jsonl").write_text(json.dumps({"question": "q", "answer": "x\n#### 1,234"}) + "\n{bad\n")
    monkeypatch.setenv("NLRL_DATA_DIR", str(tmp_path))
    assert data_dir() == tmp_path
    with pytest.raises(DatasetError, match=r"test.jsonl:2: invalid JSON"):
        load_references("gsm8k")
    (tmp_path / "gsm8k" / "test.jsonl").write_text(json.dumps({"question": "q", "answer": "x\n#### 1,234"}) + "\n")
    assert load_references("gsm8k")["0"].reference == "1234"
    with pytest.raises(DatasetError, match="cannot read"):
        load_references("mbpp")
    with pytest.raises(UnknownNameError, match="unknown dataset 'imagenet'"):
        load_references("imagenet")
