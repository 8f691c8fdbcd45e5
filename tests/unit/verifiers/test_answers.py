"""The answer convention (nlrl.verifiers.answers): one reading of answers for grading and voting."""

import doctest

import pytest

import nlrl.verifiers.answers as answers
from nlrl.bench import records
from nlrl.strategies.voting import majority
from nlrl.tasks import DOMAINS, AnswerWatcher, Task, classify
from nlrl.verifiers import get_verifier
from nlrl.verifiers.answers import (
    answer_after, checker_text, extract_answer, extract_code, final_answer_line, has_final_answer,
    is_final_answer_line, normalize_answer, normalize_short, passage_after_final_answer,
)

# An example call first, the function after it: the block a vote counts must be the one graded.
TWO_BLOCKS = ("Try it:\n```python\nprint(add(2, 3))\n```\nThe function:\n"
              "```python\ndef add(a, b):\n    return a + b\n```\n")
CASES = {"test_cases": [{"input": [2, 3], "expected": 5}, {"input": [0, 0], "expected": 0}]}


def test_docstring_examples():
    assert doctest.testmod(answers).failed == 0


def test_the_domain_list_is_defined_once():
    assert DOMAINS is answers.DOMAINS is records.DOMAINS is classify.__globals__["DOMAINS"]


def test_the_voted_program_is_the_graded_program():
    voted = extract_answer(TWO_BLOCKS, "coding")
    assert voted == "def add(a, b):\n    return a + b\n"
    assert extract_code(TWO_BLOCKS).strip() == voted.strip()  # what the code checker runs
    verdict = get_verifier("code", timeout_s=10).check(TWO_BLOCKS, CASES)
    assert verdict.correct and verdict.score == 1.0
    # the answer stream stops when that block closes, not at the first one
    w = AnswerWatcher("coding")
    stops = [w.feed(line + "\n") for line in TWO_BLOCKS.splitlines()]
    assert stops.index(True) == len(TWO_BLOCKS.splitlines()) - 1


def test_a_coding_vote_counts_programs_as_the_grader_reads_them():
    outs = [TWO_BLOCKS, "```python\ndef add(a, b):\n    return a + b\n```", "```python\ndef add(a, b):\n    return b\n```"]
    task = Task("add", "coding", "prompt")
    vote = majority([task.extract(o) for o in outs], equivalent=lambda a, b: a.strip() == b.strip())
    assert vote.answer == "def add(a, b):\n    return a + b\n" and vote.groups[0].members == (0, 1)


def test_final_answer_line_is_written_and_read_back():
    line = final_answer_line("\\frac{1}{2}")
    assert line == "Final Answer: \\frac{1}{2}"
    for domain in ("math", "commonsense"):
        assert extract_answer(f"Some steps.\n{line}\n", domain) == "\\frac{1}{2}"
    assert has_final_answer(line) and not has_final_answer("Final Answer: ")
    assert is_final_answer_line("**Final Answer:** $7$") and not is_final_answer_line("Final Answer: **")
    assert answer_after("Answer:\n\n 24\nmore", "Answer:") == "24" and answer_after("24", "Answer:") is None


@pytest.mark.parametrize("checker,output,answer,read", [
    ("math", "sample says 3\nFinal Answer: 3", "7", "Final Answer: 7"),   # the vote's winner is graded
    ("qa", "no answer", None, "no answer"),
    ("code", "```python\ndef f(): pass\n```", "def f(): pass\n", "```python\ndef f(): pass\n```"),
    ("stdio", "n = input()", "n = input()\n", "n = input()"),
    ("collie", "Reasoning.\nFinal Answer: One. Two.\n\nThree.", "One. Two.", "One. Two.\n\nThree."),
])
def test_what_each_checker_reads(checker, output, answer, read):
    assert checker_text(checker, output, answer) == read


def test_collie_passage_without_a_final_answer_is_the_whole_output():
    assert passage_after_final_answer("Just a passage.") == "Just a passage."


@pytest.mark.parametrize("text,short,hotpot", [
    ("The Beatles!", "beatles", "beatles"),
    ("1/2", "1/2", "12"),              # numbers keep their characters in a vote key
    ("St. Louis", "st. louis", "st louis"),
    ("don't", "don t", "dont"),
    ("(B) a shelf", "b", "b shelf"),   # a choice letter alone decides a vote key
    ("\\text{Paris}", "paris", "textparis"),
    ("\\$5", "5", "5"),
    ("foo_bar", "foo_bar", "foobar"),
])
def test_vote_key_and_grading_normalisation_differ_only_as_documented(text, short, hotpot):
    assert normalize_short(text) == short
    assert normalize_answer(text) == hotpot


def test_verifiers_import_nothing_from_the_layers_above():
    import ast
    from pathlib import Path

    import nlrl.verifiers

    allowed = {"_exceptions", "_registry"}
    for path in Path(nlrl.verifiers.__file__).parent.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.level >= 2:
                assert (node.module or "").split(".")[0] in allowed, f"{path.name} imports ..{node.module}"
            if isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").startswith("nlrl"):
                raise AssertionError(f"{path.name} imports {node.module}")
