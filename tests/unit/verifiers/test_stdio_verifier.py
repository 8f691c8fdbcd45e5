"""The stdio checker: programs reading stdin and writing stdout, run in the sandbox."""

import base64
import json
import pickle
import zlib

import pytest

from nlrl._exceptions import VerifierError
from nlrl.verifiers import get_verifier
from nlrl.verifiers.stdio import StdioVerifier, outputs_match, stdio_reference

SUM = {"tests": [{"input": "1 2\n", "output": "3\n"}, {"input": "10 20\n", "output": "30"},
                 {"input": "-5 5\n", "output": "0\n"}]}
GOOD = "a, b = map(int, input().split())\nprint(a + b)\n"


@pytest.fixture(scope="module")
def v():
    return StdioVerifier(timeout_s=1.0)


def test_correct_program_passes_every_test(v):
    got = v.check(f"Here it is:\n```python\n{GOOD}```\n", SUM)
    assert got.correct and got.score == 1.0 and got.detail == "passed 3/3 tests"
    assert get_verifier("stdio").check(GOOD, SUM).correct  # registered by name


@pytest.mark.parametrize("source", [
    "import sys\nprint(sum(map(int, sys.stdin.read().split())))",
    "print(sum(map(int, open(0).read().split())))",
    "import sys\nprint(sum(map(int, sys.stdin.buffer.readline().split())))",
    "import sys\nsys.stdout.write(str(sum(map(int, input().split()))) + '   \\n\\n')",
    "import sys\ndef main():\n    print(sum(map(int, input().split())))\nif __name__ == '__main__':\n    main()\n    sys.exit(0)",
])
def test_every_common_way_of_reading_and_writing(v, source):
    assert v.check(source, SUM).correct


def test_wrong_answer_scores_the_share_passed_and_shows_the_first_failure(v):
    got = v.check("a, b = map(int, input().split())\nprint(a + b if a > 0 else 1)\n", SUM)
    assert not got.correct and got.score == pytest.approx(2 / 3)
    assert got.detail == "passed 2/3 tests; test 2 (wrong answer): input '-5 5\\n', expected '0\\n', got '1\\n'"


def test_slow_program_hits_the_per_test_time_limit_and_the_others_still_run(v):
    src = "n = sum(map(int, input().split()))\nwhile n == 30:\n    pass\nprint(n)\n"
    got = v.check(src, SUM)
    assert not got.correct and got.score == pytest.approx(2 / 3)
    assert "test 1 (time limit exceeded)" in got.detail


def test_total_time_limit_ends_the_run(v):
    src = "while True:\n    pass\n"
    got = v.check(src, SUM, timeout_s=0.5, total_timeout_s=1.0)
    assert not got.correct and got.score == 0.0
    assert "test 0 (time limit exceeded)" in got.detail or "timed out" in got.detail


def test_crashing_program_fails_with_its_error(v):
    got = v.check("a, b = map(int, input().split())\nprint(a + b + 0 // (a - 1))\n", SUM)  # a = 1 crashes
    assert got.score == pytest.approx(2 / 3)
    assert "test 0 (ZeroDivisionError: integer division or modulo by zero)" in got.detail
    assert "SyntaxError" in v.check("def f(:\n", SUM).detail
    assert "exit status 3" in v.check("import sys\nsys.exit(3)", SUM).detail


def test_output_flooding_is_cut_off(v):
    got = v.check("while True:\n    print('y' * 1000)\n", SUM)
    assert not got.correct and "output limit exceeded" in got.detail
    # writing past the allowance to stderr is dropped, not a failure
    assert v.check("import sys\nsys.stderr.write('debug ' * 100000)\n" + GOOD, SUM).correct


def test_memory_limit(v):
    got = v.check("x = bytearray(3 * 1024 ** 3)\nprint(3)", {"tests": [{"input": "", "output": "3"}]}, memory_mb=512)
    assert not got.correct and "MemoryError" in got.detail


def test_whitespace_and_number_comparison():
    assert outputs_match("3  4\n5   \n\n", "3 4 5")  # whitespace-split tokens
    assert outputs_match("1.0\n", "1")  # same decimal value (LiveCodeBench)
    assert not outputs_match("3 4", "3 4 5") and not outputs_match("YES", "yes")
    assert not outputs_match("0.3333", "0.333333")
    assert outputs_match("0.3333337", "0.333333", float_tol=1e-6)  # absolute error
    assert outputs_match("1000000.5", "1000000", float_tol=1e-6)  # relative error
    assert not outputs_match("0.34", "0.333333", float_tol=1e-6)
    assert not outputs_match("nan", "nan", float_tol=1.0) or outputs_match("nan", "nan")  # equal strings pass


def test_float_tolerance_from_the_reference_or_the_context(v):
    ref = {"tests": [{"input": "3\n", "output": "0.333333333\n"}]}
    src = "print(f'{1 / int(input()):.6f}')"
    assert not v.check(src, ref).correct
    assert v.check(src, {**ref, "float_tol": 1e-6}).correct
    assert v.check(src, ref, float_tol=1e-6).correct


def test_apps_call_based_fn_name_form(v):
    ref = {"input_output": json.dumps({"fn_name": "add", "inputs": [[1, 2], [5, 5], [0, 0]],
                                       "outputs": [[3], [10], 0]})}
    assert v.check("def add(a, b):\n    return a + b\n", ref).correct
    wrong = v.check("def add(a, b):\n    return a * b\n", ref)
    assert wrong.score == pytest.approx(1 / 3) and "test 0 (wrong answer)" in wrong.detail
    assert v.check("class Solution:\n    def add(self, a, b):\n        return (a + b)\n", ref).correct
    assert "defines no function 'add'" in v.check("def plus(a, b):\n    return a + b\n", ref).detail


def test_apps_stdin_layout_with_lists_of_lines(v):
    ref = {"input_output": json.dumps({"inputs": ["1 2\n", ["3 4"]], "outputs": ["3\n", ["7"]]})}
    assert v.check(GOOD, ref).correct


def _compressed(tests):
    return base64.b64encode(zlib.compress(pickle.dumps(json.dumps(tests)))).decode()


def test_livecodebench_layout_plain_and_compressed_private_tests(v):
    ref = {"public_test_cases": json.dumps([{"input": "1 2\n", "output": "3\n", "testtype": "stdin"}]),
           "private_test_cases": _compressed([{"input": "4 5\n", "output": "9\n", "testtype": "stdin"}]),
           "metadata": "{}"}
    assert len(stdio_reference(ref).tests) == 2
    assert v.check(GOOD, ref).correct
    functional = {"public_test_cases": json.dumps([{"input": "[1, 2, 3]\n2", "output": "[3, 4, 5]",
                                                     "testtype": "functional"}]),
                  "private_test_cases": "", "metadata": json.dumps({"func_name": "shift"})}
    sol = "class Solution:\n    def shift(self, nums, k):\n        return [x + k for x in nums]\n"
    assert v.check(sol, functional).correct


def test_a_pickle_that_is_not_a_string_is_refused():
    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    bad = base64.b64encode(zlib.compress(pickle.dumps(Evil()))).decode()
    with pytest.raises(VerifierError, match="neither JSON nor"):
        stdio_reference({"public_test_cases": "[]", "private_test_cases": bad})


@pytest.mark.parametrize("ref,message", [
    ({}, "needs 'tests'"), ({"tests": []}, "no tests"), ({"tests": [{"input": "1"}]}, "needs 'input' and 'output'"),
    ({"input_output": "{\"inputs\": [1]}"}, "'inputs' and 'outputs'"), ({"input_output": "nope"}, "not valid JSON"),
    ({"tests": [{"input": "", "output": ""}], "float_tol": -1}, "float_tol"),
    ({"public_test_cases": json.dumps([{"input": "1", "output": "1", "testtype": "functional"}])}, "func_name"),
    ("plain text", "must be JSON"),
])
def test_malformed_references_are_verifier_errors(v, ref, message):
    with pytest.raises(VerifierError, match=message):
        v.check(GOOD, ref)


def test_check_many_runs_in_parallel_in_order(v):
    outs = [GOOD, "print(0)", GOOD]
    got = v.check_many([(o, SUM) for o in outs])
    assert [g.correct for g in got] == [True, False, True]


def test_long_outputs_are_truncated_in_the_detail(v):
    ref = {"tests": [{"input": "x" * 1000, "output": "y" * 1000}]}
    got = v.check("print('z' * 1000)", ref)
    assert "... (1000 chars)" in got.detail and len(got.detail) < 900


def test_a_program_that_ignores_the_per_test_alarm_still_stops_at_the_total_limit(v):
    src = "import signal\nsignal.signal(signal.SIGALRM, signal.SIG_IGN)\nwhile True:\n    pass\n"
    got = v.check(src, SUM, timeout_s=0.5, total_timeout_s=1.5)
    assert not got.correct and got.score == 0.0
    assert "the run ended before this test (timed out)" in got.detail


def test_a_program_cannot_see_the_expected_outputs(v):
    # the expected output never enters the sandbox: a program searching its memory finds only inputs
    src = ("import gc\nfound = any(isinstance(o, str) and 'SECRET-EXPECTED' in o for o in gc.get_objects())\n"
           "print('leak' if found else 'none')\n")
    got = v.check(src, {"tests": [{"input": "", "output": "SECRET-EXPECTED"}]})
    assert "got 'none\\n'" in got.detail
