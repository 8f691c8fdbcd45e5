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
        ch.check("A", 10)  # labels default to A-J
    with pytest.raises(VerifierError):
        ch.check("A", {"answer": "E", "labels": "ABCD"})


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


ANSWER_FORMS = ["Answer: ({})", "Answer: {}", "the answer is {}", "The correct answer is ({}).", "{}.", "{}",
                "**{}**", "\\boxed{{{}}}", "$\\boxed{{\\text{{{}}}}}$", "Final Answer: {}", "Final Answer: **({})**",
                "({})", "{})", "Therefore, the answer is {} because it fits.", "I think the best option is {}.",
                "Let me check each option.\n\nAnswer: {}"]


@pytest.mark.parametrize("letter", list("ABCDEFGHIJ"))
@pytest.mark.parametrize("form", ANSWER_FORMS)
def test_choice_letters_a_to_j_in_every_common_form(letter, form):
    text = form.format(letter)
    assert extract_choice(text) == letter, text
    assert get_verifier("choice").check(text, letter).correct


@pytest.mark.parametrize("text", [
    "I have no idea", "I think so.", "A barnyard is where animals live.", "Jupiter is the largest planet.",
    "It is Hydrogen, made In a star.", "I'm not sure.", "Answer: It depends on the context.",
    "Einstein, Bohr and Heisenberg disagreed.", "Final Answer: Jupiter", "Answer: A lot of people think so.",
    "Clearly, Dalton was right; Gauss too.", "He said: I agree.",
    # HotpotQA questions that open with a name's initial
    "J. Searle Dawley and Ken Annakin were both directors of what?",
    "A. N. Prabhu Deva is the former vice chancellor of a university located in what state?",
    "C. Bernard Jackson founded the center that started the career of which actor?",
])
def test_ordinary_words_are_never_read_as_choice_letters(text):
    assert extract_choice(text) is None


def test_a_label_before_a_connective_or_after_words_is_still_read():
    assert extract_choice("The answer is A because the sock is red.") == "A"
    assert extract_choice("I believe the answer is I.") == "I"
    assert extract_choice("Answer: I think it is H") == "H"  # "I think" is the pronoun
    assert extract_choice("Options (B) and (F) look close; the answer is (F).") == "F"
    # GPQA: four options, shuffled; a letter outside the labels is not an answer
    assert get_verifier("choice").check("Answer: C", {"answer": "C", "labels": "ABCD"}).correct
    assert extract_choice("Answer: E", "ABCD") is None


def test_no_letter_is_read_out_of_real_questions():
    """Ordinary English from the vendored sets (questions opening with "A", "I", initials ...)."""
    from nlrl.bench import load_dataset

    for name in ("commonsenseqa", "hotpotqa-distractor", "strategyqa"):
        texts = [r.prompt.split("\n")[0] for r in load_dataset(name)]
        assert [t for t in texts if extract_choice(t)] == [], name
