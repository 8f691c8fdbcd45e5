import pytest

from nlrl._exceptions import VerifierError
from nlrl.verifiers import get_verifier
from nlrl.verifiers.qa import exact_match, extract_choice, extract_short_answer, extract_yes_no, f1_score, normalize_answer

CSQA = {"answerKey": "B", "question": {"stem": "Where is money kept?",
                                       "choices": [{"label": "A", "text": "sock"}, {"label": "B", "text": "bank"},
                                                   {"label": "C", "text": "tree"}]}}


def test_hotpotqa_normalisation_em_and_f1():
    assert normalize_answer("The  Beatles, an English band!") == "beatles english band"
    assert exact_match("the Beatles.", "Beatles")
    assert f1_score("the big apple", "big apple pie") == pytest.approx(0.8)
    assert f1_score("yes", "no") == 0.0 and f1_score("yes it is", "yes") == 0.0  # yes/no must match exactly
    assert f1_score("red", "blue") == 0.0


def test_qa_verifier():
    qa = get_verifier("qa")
    v = qa.check("Thought: done.\nAction: Finish[The Beatles]", "Beatles")
    assert v.correct and v.score == 1.0 and v.extracted == "The Beatles"
    partial = qa.check("Final Answer: big apple", ["big apple pie", "NYC"])
    assert not partial.correct and partial.score == pytest.approx(0.8)
    assert qa.check("so the answer is: Paris.", {"answer": "Paris"}).correct
    assert qa.check("", "x").detail == "no answer found in the output"
    with pytest.raises(VerifierError):
        qa.check("x", None)


@pytest.mark.parametrize("text,expected", [
    ("Final Answer: (B)", "B"), ("The answer is C.", "C"), ("(A) is wrong, (D) is right", "D"), ("B", "B"),
    ("Answer: bank", "B"), ("so it is option E", "E"), ("A.\nbecause", "A"), ("I have no idea", None),
])
def test_extract_choice(text, expected):
    assert extract_choice(text, "ABCDE", ["sock", "bank", "tree", "car", "hat"]) == expected


def test_choice_verifier_letters_indices_and_records():
    ch = get_verifier("choice")
    assert ch.check("Final Answer: B", "B").correct
    assert ch.check("Final Answer: B", 1).correct  # 0-based index
    assert ch.check("the money goes in the bank", CSQA).correct
    wrong = ch.check("Final Answer: (C)", CSQA)
    assert not wrong.correct and wrong.extracted == "C" and wrong.detail == "chose C, the answer is B"
    with pytest.raises(VerifierError):
        ch.check("A", "Z")
    with pytest.raises(VerifierError):
        ch.check("A", 7)


@pytest.mark.parametrize("text,expected", [
    ("Yes, because", True), ("Final Answer: no", False), ("hmm, so no.", False), ("False.", False), ("maybe", None),
])
def test_extract_yes_no(text, expected):
    assert extract_yes_no(text) is expected


def test_yesno_verifier():
    yn = get_verifier("yesno")
    assert yn.check("No.", False).correct
    assert yn.check("Final Answer: yes", {"answer": True}).correct
    assert not yn.check("yes", "no").correct
    assert yn.check("perhaps", True).detail == "no yes/no answer found in the output"
    with pytest.raises(VerifierError):
        yn.check("yes", "maybe")


def test_extract_short_answer_falls_back_to_last_line():
    assert extract_short_answer("thinking\n\nParis\n") == "Paris"
