import random

import pytest

from nlrl._exceptions import VerifierError
from nlrl.verifiers import get_verifier
from nlrl.verifiers.collie import check_constraint, load_collie, sent_tokenize, word_tokenize

WORD_COUNT = {"__class__": "Constraint", "input_level": None,
              "target_level": {"__class__": "TargetLevel", "level": "word"},
              "transformation": {"__class__": "Count", "count_target": None},
              "relation": {"__class__": "Relation", "operand": "=="},
              "reduction": {"__class__": "Reduction", "reduction": None, "value": None}}
LAST_WORDS = {"__class__": "Constraint", "input_level": {"__class__": "InputLevel", "level": "sentence"},
              "target_level": {"__class__": "TargetLevel", "level": "word"},
              "transformation": {"__class__": "ForEach", "func": {"__class__": "Position", "position": -1}},
              "relation": {"__class__": "Relation", "operand": "=="},
              "reduction": {"__class__": "Reduction", "reduction": "all", "value": None}}
BOTH = {"__class__": "All", "callables": [WORD_COUNT, LAST_WORDS]}


@pytest.fixture(scope="module")
def rows():
    return list(load_collie())


def test_each_rows_example_satisfies_its_own_constraint_on_a_sample(rows):
    assert len(rows) == 2080
    sample = random.Random(0).sample(rows, 150)
    failures = [(r["key"], r["index"]) for r in sample
                if not check_constraint(r["constraint"], r["example"], r["targets"])]
    assert failures == []


def test_splitting_follows_collies_nltk():
    # ASCII quotes close a sentence; curly ones do not (NLTK before 3.10, as COLLIE's data was made)
    assert sent_tokenize('He said "stop." Then he left. Dr. Smith stayed.') == \
        ['He said "stop."', "Then he left.", "Dr. Smith stayed."]
    assert len(sent_tokenize("“Go on.” Mr Jones said. Fine.")) == 2
    assert word_tokenize("The score was 8–2, wasn't it?") == ["The", "score", "was", "8–2", ",", "was", "n't", "it", "?"]


def test_collie_verifier_full_and_partial_credit():
    v = get_verifier("collie")
    text = "Cats sleep a lot. Dogs bark loudly."
    ref = {"constraint": BOTH, "targets": [7, ["lot", "loudly"]]}
    ok = v.check(text, ref)
    assert ok.correct and ok.score == 1.0 and ok.detail == "satisfies 2/2 constraints"
    half = v.check("Cats sleep a lot. Dogs bark often.", ref)
    assert not half.correct and half.score == 0.5
    assert v.check("Cats nap.", {"constraint": WORD_COUNT, "targets": 2}).correct
    assert v.check(" LOT. ", {"constraint": LAST_WORDS, "targets": ["lot"]}).correct  # case, dots, spaces
    assert not v.check("", ref).correct
    with pytest.raises(VerifierError):
        v.check("x", {"constraint": BOTH})


def test_relations_and_reductions():
    def node(level, op, reduction=None, value=None, transformation="..."):
        return {"__class__": "Constraint", "input_level": None,
                "target_level": {"__class__": "TargetLevel", "level": level}, "transformation": transformation,
                "relation": {"__class__": "Relation", "operand": op},
                "reduction": {"__class__": "Reduction", "reduction": reduction, "value": value}}
    text = "The cat sat on the mat."
    assert check_constraint(node("word", "in"), text, ["cat", "mat"])
    assert not check_constraint(node("word", "not in"), text, ["dog", "mat"])
    count = {"__class__": "ForEach", "func": {"__class__": "Count", "count_target": None}}
    assert check_constraint(node("word", "<=", "all", transformation=count), text, 3)
    assert check_constraint(node("word", "==", "at least", 2, transformation=count), text, 3)
    assert not check_constraint(node("word", "==", "exactly", 1, transformation=count), text, 3)
    pos = {"__class__": "Position", "position": [0, 9]}
    assert not check_constraint(node("word", "==", transformation=pos), text, ["the", "mat"])  # index 9 is None
