import pytest

from nlrl._exceptions import VerifierError
from nlrl.verifiers import get_verifier
from nlrl.verifiers.code import build_program, extract_code

HE = {
    "task_id": "HumanEval/x",
    "prompt": 'import math\n\ndef helper(x):\n    return x\n\ndef hyp(a, b):\n    """Hypotenuse."""\n',
    "test": "def check(candidate):\n    assert candidate(3, 4) == 5\n    assert candidate(5, 12) == 13\n",
    "entry_point": "hyp",
}
MBPP = {"test_imports": ["import math"], "test_list": ["assert set(sq(2)) == {4}", "assert math.isclose(sq(3)[0], 9)"]}
CASES = {"test_cases": [{"input": [1, 3], "expected": 4}, {"input": {"a": 2, "b": 2}, "expected": 4},
                        {"input": [0.1, 0.2], "expected": 0.3}]}


@pytest.fixture(scope="module")
def code():
    return get_verifier("code", timeout_s=5.0)


def test_extract_code():
    assert extract_code("no fence") == "no fence"
    out = "Here:\n```python\nx = 1\n```\nand\n```python\ndef f():\n    return 2\n```\n"
    assert extract_code(out) == "x = 1\n"
    assert extract_code(out, "f") == "def f():\n    return 2\n"
    assert extract_code("```\ndef g(): pass\n") == "def g(): pass\n"  # unclosed fence


def test_humaneval_forms(code):
    body = "    return math.hypot(a, b)\n"
    full = "```python\ndef hyp(a, b):\n    return helper(math.sqrt(a * a + b * b))\n```"
    results = code.check_many([(body, HE), (full, HE), ("    return None\n", HE), ("    return 5\n", HE)])
    assert [v.correct for v in results] == [True, True, False, False]
    assert results[2].detail == "AssertionError"
    program = build_program(body, HE)
    assert program.startswith(HE["prompt"] + body) and program.rstrip().endswith("check(hyp)")


def test_mbpp(code):
    assert code.check("def sq(x):\n    return [x * x]\n", MBPP).correct
    bad = code.check("def sq(x):\n    return [x + x]\n", MBPP)
    assert not bad.correct and bad.score == 0.0


def test_test_cases_scored_in_the_parent(code):
    good = code.check("def add(a, b):\n    return a + b\n", CASES)
    assert good.correct and good.score == 1.0 and good.detail == "passed 3/3 test cases"
    half = code.check("def add(a, b):\n    return 4\n", CASES)
    assert not half.correct and half.score == pytest.approx(2 / 3)
    assert "case 2" in half.detail
    # an object equal to everything cannot leave the sandbox as JSON
    liar = code.check("class Eq:\n    def __eq__(self, o):\n        return True\ndef add(a, b):\n    return Eq()\n", CASES)
    assert not liar.correct and liar.score == 0.0 and "not JSON serializable" in liar.detail
    named = code.check("def helper(x):\n    return x\ndef add(a, b):\n    return a + b\n",
                       {**CASES, "entry_point": "add"})
    assert named.correct
    raises = code.check("def add(a, b):\n    raise ValueError('no')\n", CASES)
    assert raises.score == 0.0 and "ValueError: no" in raises.detail


def test_string_reference_is_test_code(code):
    assert code.check("def f():\n    return 1\n", "assert f() == 1").correct
    assert not code.check("def f():\n    return 2\n", "assert f() == 1").correct


def test_timeouts_and_syntax_errors_fail(code):
    quick = get_verifier("code", timeout_s=1.0)
    assert quick.check("def f():\n    while True:\n        pass\n", "f()").detail == "timed out"
    assert "SyntaxError" in code.check("def f(:\n", "f()").detail


@pytest.mark.parametrize("ref", [{"nothing": 1}, 42, {"test_cases": []}, {"test_cases": [{"input": 1}]}])
def test_bad_references_are_grader_errors(code, ref):
    with pytest.raises(VerifierError):
        code.check("x = 1", ref)
