import json

import pytest

from nlrl._exceptions import VerifierError
from nlrl.verifiers import get_verifier
from nlrl.verifiers.code import OUTPUT_CHARS, CodeVerifier, build_program, extract_code

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
    assert extract_code(out) == "def f():\n    return 2\n"  # the first block that defines a function
    assert extract_code("```python\nx = 1\n```\n```python\ny = 2\n```") == "x = 1\n"  # else the first
    assert extract_code(out, "f") == "def f():\n    return 2\n"
    assert extract_code("```\ndef g(): pass\n") == "def g(): pass\n"  # unclosed fence


def test_humaneval_forms(code):
    body = "    return math.hypot(a, b)\n"
    full = "```python\ndef hyp(a, b):\n    return helper(math.sqrt(a * a + b * b))\n```"
    results = code.check_many([(body, HE), (full, HE), ("    return None\n", HE), ("    return 5\n", HE)])
    assert [v.correct for v in results] == [True, True, False, False]
    assert results[2].detail == "AssertionError (failing test, line 2: assert candidate(3, 4) == 5)"
    assert results[2].info["failed_test"] == "assert candidate(3, 4) == 5" and results[2].info["error"] == "AssertionError"
    assert results[0].info is None and results[0].to_dict() == {
        "correct": True, "score": 1.0, "detail": "all tests passed", "extracted": None}
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


LIARS = {
    "eq": "class X:\n    def __eq__(self, o):\n        return True\n",
    "ne": "class X:\n    def __eq__(self, o):\n        return True\n    def __ne__(self, o):\n        return False\n",
    "bool": "class X:\n    def __eq__(self, o):\n        return self\n    def __bool__(self):\n        return True\n",
    "int": "class X(int):\n    def __eq__(self, o):\n        return True\n    __hash__ = int.__hash__\n",
    "str": "class X(str):\n    def __eq__(self, o):\n        return True\n    __hash__ = str.__hash__\n",
    "list": "class X(list):\n    def __eq__(self, o):\n        return True\n",
    "isinstance": "import builtins\nbuiltins.isinstance = lambda *a: True\nclass X:\n    def __eq__(self, o):\n"
                  "        return True\n",
}


@pytest.mark.parametrize("kind", sorted(LIARS))
def test_objects_that_claim_equality_do_not_pass(code, kind):
    """The tests run in another process on plain values: the program's ``__eq__`` never judges."""
    body = "    return X()\n" if kind not in ("int", "str") else ("    return X(0)\n" if kind == "int" else "    return X('')\n")
    prompt = LIARS[kind] + HE["prompt"]
    assert not code.check(body, {**HE, "prompt": prompt}).correct
    mbpp = {"test_imports": [], "test_list": ["assert hyp(3, 4) == 5", "assert hyp(5, 12) == 13"]}
    assert not code.check(LIARS[kind] + "def hyp(a, b):\n" + body, mbpp).correct
    assert not code.check(LIARS[kind] + "def hyp(a, b):\n" + body, "assert hyp(3, 4) == 5").correct


def test_forging_the_nonce_does_not_pass(code):
    forge = ("import os, sys, json\nfor fd in range(3, 256):\n    try:\n        os.lseek(fd, 0, 0)\n    except OSError:\n"
             "        pass\n    try:\n        os.write(1, b'\\n' + os.read(fd, 64) + b' null\\n')\n    except OSError:\n"
             "        pass\nos._exit(0)\ndef hyp(a, b):\n    return 0\n")
    assert not code.check(forge, HE).correct
    assert not code.check(forge, "assert hyp(3, 4) == 5").correct


def test_plain_values_cross_faithfully(code):
    """What the tests receive equals what the program returned, for every plain built-in type
    (and the standard subclasses that compare equal to them)."""
    prog = ("import collections, math\n"
            "def f(k):\n    return {\n        'int': 10 ** 40, 'neg': -7, 'float': 0.1, 'inf': math.inf, 'complex': 1 + 2j,\n"
            "        'str': 'h\\u00e9llo\\n', 'bytes': b'\\x00\\xff', 'tuple': (1, (2, 3)), 'set': {1, 2},\n"
            "        'frozen': frozenset({'a'}), 'dict': {(1, 2): [None, True]}, 'counter': collections.Counter('aab'),\n"
            "        'named': collections.namedtuple('P', 'x y')(1, 2), 'none': None, 'bool': False}[k]\n")
    tests = ("import math\nassert f('int') == 10 ** 40 and f('neg') == -7 and f('float') == 0.1 and math.isinf(f('inf'))\n"
             "assert f('complex') == 1 + 2j and f('str') == 'h\\u00e9llo\\n' and f('bytes') == b'\\x00\\xff'\n"
             "assert f('tuple') == (1, (2, 3)) and f('set') == {1, 2} and f('frozen') == frozenset({'a'})\n"
             "assert f('dict') == {(1, 2): [None, True]} and f('counter') == {'a': 2, 'b': 1}\n"
             "assert f('named') == (1, 2) and f('none') is None and f('bool') is False\n"
             "assert type(f('int')) is int and type(f('counter')) is dict\n")
    v = code.check(prog, tests)
    assert v.correct, v.detail


def test_handles_iterate_and_tell_their_truth(code):
    prog = "import re\ndef gen(n):\n    return (i * i for i in range(n))\ndef m(s):\n    return re.search('a+', s)\n"
    assert code.check(prog, "assert list(gen(4)) == [0, 1, 4, 9]\nassert m('baa')\nassert not m('b')\n").correct
    bad = code.check(prog, "assert m('baa') == 'aa'\n")
    assert not bad.correct and "not a plain value" in bad.detail


def test_a_task_may_define_a_builtin_name_but_the_tests_keep_theirs(code):
    """MBPP 126 defines its own ``sum``; a program that redefines ``set`` does not change the
    tests' ``set``."""
    mbpp = {"test_imports": [], "test_list": ["assert sum(10, 15) == 6", "assert sum(100, 150) == 93"]}
    own_sum = ("def sum(a, b):\n    t = 0\n    for i in range(1, min(a, b)):\n"
               "        if a % i == 0 and b % i == 0:\n            t += i\n    return t\n")
    assert code.check(own_sum, mbpp).correct
    shadow = {"test_imports": [], "test_list": ["assert set(pair(1)) == set([1, 2])"]}
    assert not code.check("def set(x):\n    return 0\ndef pair(x):\n    return [9]\n", shadow).correct


def test_errors_of_the_program_reach_the_tests(code):
    prog = "def f(x):\n    if x < 0:\n        raise ValueError('negative')\n    return x\n"
    assert code.check(prog, "try:\n    f(-1)\n    raise AssertionError('no error')\nexcept ValueError:\n    pass\n").correct
    v = code.check(prog, "assert f(-1) == 1\n")
    assert not v.correct and v.detail == "ValueError: negative (failing test, line 1: assert f(-1) == 1)"
    assert code.check("import sys\ndef size(t):\n    return sys.getsizeof(t)\n",
                      "import sys\nassert size((1, 2)) == sys.getsizeof((1, 2))\n").correct


def test_a_failing_assert_is_named_and_the_output_is_kept_clipped(code):
    mbpp = {"test_list": ["assert double(1) == 2", "assert double(2) == 4", "assert double(3) == 6"]}
    prog = ("import sys\ndef double(x):\n    print('<script>alert(1)</script> called with', x)\n"
            "    print('e' * 5000, file=sys.stderr)\n    return 5 if x == 2 else 2 * x\n")
    v = code.check(prog, mbpp)
    assert not v.correct
    info = v.to_dict()["info"]
    # the line in the tests as the judge runs them: the (empty) setup code, then the asserts
    assert info["failed_test"] == "assert double(2) == 4" and info["failed_line"] == 3
    assert info["stage"] == "tests" and info["status"] == "failed" and info["error"] == "AssertionError"
    assert "assert double(2) == 4" in v.detail
    # what the program printed, up to the failing call; the judge's traceback is not the program's
    assert info["stdout"] == "<script>alert(1)</script> called with 1\n<script>alert(1)</script> called with 2\n"
    assert "characters cut" in info["stderr"] and len(info["stderr"]) < OUTPUT_CHARS + 100
    assert "Traceback" not in info["stderr"] and "<tests>" not in info["stderr"]
    json.dumps(v.to_dict())  # bench rows keep it as JSON


def test_the_program_cannot_forge_the_failure_report(code):
    # the program prints what a judge's report looks like, on both streams; it has no nonce
    fake = ('{"failure": {"stage": "tests", "test": "assert forged", "line": 1, "error": "X", '
            '"message": "", "traceback": ""}}')
    prog = (f"import sys\nprint('\\n0000 ' + {fake!r})\nprint({fake!r}, file=sys.stderr)\n"
            "print('Traceback (most recent call last):\\nAssertionError: forged', file=sys.stderr)\n"
            "def f(x):\n    return x\n")
    v = code.check(prog, "assert f(1) == 1\nassert f(2) == 3\n")
    assert not v.correct and v.info["failed_test"] == "assert f(2) == 3" and v.info["error"] == "AssertionError"
    assert v.detail.startswith("AssertionError (failing test, line 2")
    assert "forged" in v.info["stderr"]  # shown as the program's output, nothing more
    ok = code.check(prog, "assert f(1) == 1\n")
    assert ok.correct and ok.info is None


def test_what_a_failing_call_printed_is_kept(code):
    v = code.check("def f(x):\n    print('about to fail on', x)\n    raise ValueError(x)\n", "assert f(7) == 1\n")
    assert v.info["stdout"] == "about to fail on 7\n" and v.info["error"] == "ValueError: 7"
    assert v.info["failed_test"] == "assert f(7) == 1"


def test_a_program_that_does_not_load_reports_the_load_stage(code):
    v = code.check("print('starting')\nraise ValueError('boom')\n", "assert f(1) == 1\n")
    assert not v.correct and v.info["stage"] == "load" and v.info["failed_test"] is None
    assert v.info["stdout"] == "starting\n" and "ValueError: boom" in v.info["stderr"]
    assert v.detail == "ValueError: boom"


def test_a_failing_test_case_is_named():
    v = CodeVerifier().check("def add(a, b):\n    print('adding')\n    return a - b\n",
                             {"test_cases": [{"input": [1, 0], "expected": 1}, {"input": [1, 3], "expected": 4}],
                              "entry_point": "add"})
    assert v.score == 0.5 and v.info["failed_test"] == "case 1" and "expected 4" in v.detail
    assert v.info["stdout"] == "adding\nadding\n"
