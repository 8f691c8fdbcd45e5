import threading
import time

import pytest

from nlrl._exceptions import VerifierError
from nlrl.verifiers import Verdict, get_verifier
from nlrl.verifiers.math import answers_equivalent, extract_math_answer, last_boxed

SLOW = ("(x+1)^{2000}", "(x+2)^{2000}")  # sympy expands these for well over a minute


@pytest.mark.parametrize("a,b", [
    ("1/2", "0.5"), ("\\frac{1}{2}", "0.5"), ("\\dfrac{1}{2}", "1/2"), ("\\frac12", "0.5"),
    ("025", "25"), ("007", "7"), ("1,000", "1000"), ("10,\\!000", "10000"), ("3.50", "3.5"),
    ("\\$18", "18"), ("18.", "18"), ("$\\frac{3}{4}$", "0.75"),
    ("(1,2]", "(1, 2]"), ("\\{1,2\\}", "\\{2,1\\}"), ("\\left( 3, \\frac{\\pi}{2} \\right)", "(3,\\frac{\\pi}{2})"),
    ("10\\%", "10"), ("5\\text{ cm}", "5"), ("x=3", "3"), ("\\sqrt{8}", "2\\sqrt{2}"),
    ("\\frac{\\sqrt{3}}{2}", "\\frac{\\sqrt3}2"), ("\\text{Evelyn}", "Evelyn"), ("\\text{(C)}", "(C)"),
    ("\\boxed{4}", "4"), ("-\\frac{1}{3}", "-1/3"),
])
def test_equivalent_answers(a, b):
    assert answers_equivalent(a, b)
    assert answers_equivalent(b, a)  # symmetric


@pytest.mark.parametrize("a,b", [
    ("2", "3"), ("-2", "2"), ("\\frac{2}{1}", "\\frac{1}{2}"), ("0.33", "1/3"), ("(1,2)", "(2,1)"),
    ("[1,2]", "(1,2)"), ("\\sqrt{2}", "2"), ("x+1", "x-1"), ("26", "025"), ("", "0"), (None, "1"),
])
def test_different_answers(a, b):
    assert not answers_equivalent(a, b)


@pytest.mark.parametrize("text,expected", [
    ("so \\boxed{\\frac{a}{\\sqrt{b}}} is it", "\\frac{a}{\\sqrt{b}}"),
    ("first \\boxed{1} then \\boxed{2}", "2"),
    ("\\boxed{\\{1, \\{2\\}\\}}", "\\{1, \\{2\\}\\}"),
    ("hence $\\boxed 5$.", "5"),
    ("Final Answer: The final answer is $\\frac{1}{2}$. I hope it is correct.", "\\frac{1}{2}"),
    ("2 + 2 = 4.\nFinal Answer: 4\n", "4"),
    ("Final Answer:\n\n42", "42"),
    ("Natalia sold 72 clips.\n#### 72", "72"),
    ("The answer is: 12.", "12"),
    ("x is 5.\nThen y is 1,234.", "1234"),
    ("Thus there are 9 + 6 = 15 liters of water out of the 24 liters.", "15"),
    ("It would take 15 hours to clean 45 rooms.", "15"),
    ("So Mr. Sylas has 160+32 = 192 cows in eight stalls.", "192"),
    ("That is $400 000 - $282 000 = $118 000.", "118000"),
    ("So it took three days.", "3"),
    ("no digits here", None),
    ("", None),
])
def test_extract_math_answer(text, expected):
    assert extract_math_answer(text) == expected


def test_last_boxed_unbalanced_is_none():
    assert last_boxed("\\boxed{1 + {2}") is None


def test_math_verifier_verdicts():
    v = get_verifier("math")
    ok = v.check("We get 0.5.\nFinal Answer: $\\frac{1}{2}$", "\\frac{1}{2}")
    assert ok == Verdict(True, 1.0, ok.detail, "\\frac{1}{2}")
    bad = v.check("Final Answer: 3", "4")
    assert not bad.correct and bad.score == 0.0 and bad.extracted == "3"
    assert bad.to_dict()["info"] == {"extracted": "3", "gold": "4"}
    none = v.check("I do not know", "4")
    assert none.detail == "no final answer found in the output" and none.info == {"extracted": None, "gold": "4"}
    # a gold solution with a boxed answer is accepted as the reference; the gold value is its answer
    boxed = v.check("\\boxed{25}", "so the result is $\\boxed{025}$")
    assert boxed.correct and boxed.info == {"extracted": "25", "gold": "025"}
    with pytest.raises(VerifierError):
        v.check("1", "  ")


def test_timeout_in_main_thread_keeps_callers_timer():
    import signal

    fired = []
    old = signal.signal(signal.SIGALRM, lambda *a: fired.append(1))
    signal.setitimer(signal.ITIMER_REAL, 30.0)
    try:
        start = time.monotonic()
        assert not answers_equivalent(*SLOW, timeout_s=0.5)
        assert time.monotonic() - start < 5
        left, _ = signal.getitimer(signal.ITIMER_REAL)
        assert 20 < left < 30  # the caller's timer is re-armed with what was left
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
    assert not fired


def test_timeout_and_equivalence_in_worker_threads():
    results: dict[str, object] = {}

    def run() -> None:
        start = time.monotonic()
        results["slow"] = answers_equivalent(SLOW[0] + "+0", SLOW[1], timeout_s=0.5)
        results["slow_s"] = time.monotonic() - start
        results["sqrt"] = answers_equivalent("\\sqrt{12}", "2\\sqrt{3}", timeout_s=5)
        results["wrong"] = answers_equivalent("\\sqrt{12}", "3\\sqrt{2}", timeout_s=5)

    t = threading.Thread(target=run)
    t.start()
    t.join(90)
    assert not t.is_alive()
    assert results["slow"] is False
    assert results["sqrt"] is True and results["wrong"] is False


# ---- decoration, units and percentages (issue 11's \underline{34}; issue 20's units) ----------

@pytest.mark.parametrize("decorated", ["\\underline{34}", "\\textbf{34}", "\\mathbf{34}", "\\boldsymbol{34}",
                                       "\\textbf{\\underline{34}}", "$\\underline{34}$", "\\boxed{\\underline{34}}",
                                       "\\text{34}", "\\$34", "\\mbox{34}", "\\textbf{\\$34}"])
def test_typographic_wrappers_are_stripped_for_grading_and_voting_alike(decorated):
    from nlrl.strategies.voting import equivalence_for, majority, normalize_short
    from nlrl.verifiers.math import strip_decoration

    assert answers_equivalent(decorated, "34") and answers_equivalent("34", decorated)
    assert get_verifier("math").check(f"Final Answer: {decorated}", "34").correct
    vote = majority([decorated, "34", "35"], equivalent=equivalence_for("math"))
    assert vote.groups[0].count == 2 and vote.groups[0].members == (0, 1)
    assert normalize_short(decorated) == "34"  # the short-answer vote too
    assert strip_decoration("\\underline{x} + \\mathbf{v}") == "x + v"
    assert not answers_equivalent(decorated, "35")


@pytest.mark.parametrize("answer,gold", [
    ("12 dollars", "12"), ("\\$12 dollars", "12"), ("12\\text{ dollars}", "12"), ("3/4 of a cup", "\\frac{3}{4}"),
    ("3/4 of a cup", "0.75"), ("2.5 hours.", "2.5"), ("6 square units", "6"), ("5 apples", "5"),
    ("45%", "45"), ("45\\%", "45"), ("45 percent", "45"), ("45 percent of the class", "45"),
    ("45\\%", "0.45"), ("1,000 meters", "1000"), ("10 \\text{ inches}", "10"),
])
def test_units_and_percentages_written_as_text_against_numeric_gold(answer, gold):
    assert answers_equivalent(answer, gold), (answer, gold)
    assert get_verifier("math").check(f"So the answer is: {answer}", gold).correct


@pytest.mark.parametrize("answer,gold", [
    ("12 million", "12"), ("3 pi", "3"), ("5 x", "5"), ("3a", "3"), ("2 halves", "2"), ("13 dollars", "12"),
    ("3 a", "3"), ("12 squared", "12"), ("46%", "45"), ("12 dollars and 50 cents", "12"),
])
def test_words_that_are_or_change_a_value_are_kept(answer, gold):
    assert not answers_equivalent(answer, gold), (answer, gold)


def test_percentages_equal_the_number_and_its_value_negative_ones_too():
    # MATH's strip_string drops "\%" (45\% = 45); math-verify also reads it as a value (= 0.45)
    for pct in ("45\\%", "45%", "45 percent"):
        assert answers_equivalent(pct, "45") and answers_equivalent(pct, "0.45") and answers_equivalent("0.45", pct)
        assert not answers_equivalent(pct, "46") and not answers_equivalent(pct, "0.46")
    assert answers_equivalent("-10 percent", "-10") and answers_equivalent("-10\\%", "-0.1")


def test_whitespace_only_solution_has_no_answer():
    from nlrl.verifiers.math import extract_math_answer

    assert extract_math_answer(" ") is None and extract_math_answer("\n \n") is None
