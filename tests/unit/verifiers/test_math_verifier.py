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
    assert v.check("I do not know", "4").detail == "no final answer found in the output"
    # a gold solution with a boxed answer is accepted as the reference
    assert v.check("\\boxed{25}", "so the result is $\\boxed{025}$").correct
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


def test_whitespace_only_solution_has_no_answer():
    from nlrl.verifiers.math import extract_math_answer

    assert extract_math_answer(" ") is None and extract_math_answer("\n \n") is None
