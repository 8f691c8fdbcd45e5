"""Public tests: what a coding prompt shows is parsed into tests, and programs run against them."""

from __future__ import annotations

from nlrl.bench.datasets import load_dataset
from nlrl.verifiers import sandbox as sb
from nlrl.verifiers.public_tests import parse_public_tests, run_public_tests

from helpers.sandbox import needs_sandbox



DOCTEST = '''from typing import List


def split_words(text: str) -> List[str]:
    """Split on spaces.
    >>> split_words("a b")
    ['a', 'b']
    >>> split_words(
    ...     "x  y z")
    ['x',
     '',
     'y', 'z']
    >>> words = split_words("p q")
    >>> len(words) == 2
    >>> split_words(3)
    Traceback (most recent call last):
        ...
    TypeError: not a string
    >>> split_words("")  # a comment (and no output line)
    """
'''


def kinds(t):
    return [(c.kind, c.source, c.expected) for c in t.tests]


def test_doctest_examples_with_multiline_outputs_statements_and_tracebacks():
    t = parse_public_tests(DOCTEST)
    assert t.style == "doctest" and t.entry_point == "split_words"
    assert kinds(t) == [
        ("value", 'split_words("a b")', "['a', 'b']"),
        ("value", 'split_words(\n    "x  y z")', "['x', '', 'y', 'z']"),  # output over four lines
        ("statement", 'words = split_words("p q")', None),                 # runs, is not a test
        ("assert", "assert len(words) == 2", None),                         # "True" left out
        ("raises", "split_words(3)", "TypeError"),
        ("value", 'split_words("")  # a comment (and no output line)', "None"),  # doctest: None
    ]
    assert t.counted == 5
    assert [c.line for c in t.tests][:2] == [6, 8]


def test_example_lines_in_prose_are_tests_only_when_both_sides_are_literals():
    q = '''def f(lst, k):
    """Examples:
    f([1, 2], 3) ==> [1, 2, 3]
    f([], 0) ➞ true
    * f([5], 1) should return [5, 1].
    f(lst, 2) = 7
    f([1], 1) = 1 + 1 = 2
    Call f() with a list.
    f([2], 2) -> [2, 2] # the comment is not the answer
    """
'''
    t = parse_public_tests(q)
    assert t.style == "examples"
    assert kinds(t) == [("value", "f([1, 2], 3)", "[1, 2, 3]"), ("value", "f([], 0)", "True"),
                        ("value", "f([5], 1)", "[5, 1]"), ("value", "f([2], 2)", "[2, 2]")]


def test_no_example_and_no_code():
    assert parse_public_tests('def g(x):\n    """Return x, doubled."""\n').style == "none"
    none = parse_public_tests("Write a function that reverses a string.")
    assert none.style == "none" and none.counted == 0 and none.entry_point is None


def test_the_mbpp_prompt_shows_one_assert_and_only_it_is_read():
    ds = load_dataset("mbpp")
    rec = ds[0]
    t = parse_public_tests(rec.prompt)
    assert t.style == "assert" and t.counted == 1
    assert t.tests[0].source == rec.reference["test_list"][0]
    assert all(h not in t.judge_code() for h in rec.reference["test_list"][1:])


def test_entry_point_is_the_last_function_of_every_humaneval_prompt():
    ds = load_dataset("humaneval")
    assert all(parse_public_tests(r.prompt).entry_point == r.reference["entry_point"] for r in ds)
    styles = [parse_public_tests(r.prompt).style for r in ds]
    assert styles.count("none") < 30 and styles.count("doctest") > 60


@needs_sandbox
def test_programs_get_one_verdict_per_public_test():
    t = parse_public_tests(DOCTEST)
    right = ('```python\ndef split_words(text):\n    if not isinstance(text, str):\n'
             '        raise TypeError("not a string")\n    return text.split(" ") if text else None\n```')
    half = "```python\ndef split_words(text):\n    return str(text).split()\n```"
    crash = "```python\ndef split_words(text) return 1\n```"
    loops = "```python\ndef split_words(text):\n    while True:\n        pass\n```"
    runs = run_public_tests([right, half, crash, loops], t, sb.SandboxLimits(timeout_s=3.0))
    assert runs[0].passed == (True, True, True, True, True) and runs[0].score == 5
    assert runs[1].passed == (True, False, True, False, False)
    assert runs[2].passed == (False,) * 5 and runs[2].result.status == "failed"
    assert runs[3].passed == (False,) * 5 and runs[3].result.status == "timeout"


@needs_sandbox
def test_a_program_cannot_claim_it_passed():
    t = parse_public_tests("Add one.\nassert inc(1) == 2\n")
    forged = ("```python\n__nlrl_result__ = [True]\nclass A:\n    def __eq__(self, o):\n        return True\n"
              "def inc(x):\n    return A()\nprint('passed')\n```")
    (run,) = run_public_tests([forged], t)
    assert run.passed == (False,)


@needs_sandbox
def test_humaneval_canonical_solutions_pass_their_public_tests():
    """The parser and the judge agree with the reference solutions (HumanEval/47, 116, 130 and
    148 have docstring examples that contradict their own tests)."""
    import gzip
    import json
    from importlib import resources

    path = resources.files("nlrl").joinpath("_data", "humaneval", "HumanEval.jsonl.gz")
    rows = [json.loads(ln) for ln in gzip.decompress(path.read_bytes()).decode().splitlines()]
    picked = [r for r in rows if r["task_id"] in {"HumanEval/0", "HumanEval/12", "HumanEval/32", "HumanEval/69",
                                                   "HumanEval/72", "HumanEval/123", "HumanEval/162"}]
    for r in picked:
        t = parse_public_tests(r["prompt"])
        (run,) = run_public_tests([r["canonical_solution"]], t)
        assert t.counted and run.score == t.counted, (r["task_id"], run.to_dict())
