import pytest

from nlrl.tasks.extract import AnswerWatcher, extract_answer, extract_code, extract_math, extract_short, last_boxed


@pytest.mark.parametrize("text,expected", [
    ("so x = 5.\nFinal Answer: 5\n", "5"),
    ("Final Answer: $\\frac{3}{4}$", "\\frac{3}{4}"),
    ("Final Answer: \\boxed{12}", "12"),
    ("The area is \\boxed{\\frac{\\sqrt{3}}{2}} units.", "\\frac{\\sqrt{3}}{2}"),
    ("first \\boxed{1} then \\boxed{{2}+1}", "{2}+1"),
    ("Natalia sold 48/2 = 24 clips.\n#### 72", "72"),
    ("We get 3 boxes. In total 1,234 apples", "1234"),
    ("Final answer: 7\nFinal Answer: 8\n", "8"),
    ("no numbers here", None),
])
def test_extract_math(text, expected):
    assert extract_math(text) == expected


def test_last_boxed_unbalanced_and_spaced():
    assert last_boxed("\\boxed{1") is None
    assert last_boxed("\\boxed 5$") == "5"
    assert last_boxed("nothing") is None


def test_extract_code_prefers_fenced_block_with_def():
    text = "Plan.\n```python\ndef f(x):\n    return x\n```\nmore\n```\nprint(1)\n```"
    assert extract_code(text) == "def f(x):\n    return x\n"
    assert extract_answer("def g():\n    return 2", "coding") == "def g():\n    return 2\n"
    assert extract_answer("   \n", "coding") is None


def test_extract_short():
    assert extract_short("Cats lack wings.\nFinal Answer: no.\n") == "no"
    assert extract_short("Thus the answer is Paris.") == "Paris"
    assert extract_short("line one\nB\n") == "B"
    assert extract_answer("So yes.\nFinal Answer: **yes**", "commonsense") == "yes"


def feed_all(w, pieces):
    return [w.feed(p) for p in pieces]


def test_watcher_waits_for_the_answer_line_to_end():
    w = AnswerWatcher("math")
    assert feed_all(w, [" 3 + 4 = 7.\n", "Final", " Answer:", " ", "7"]) == [False] * 5
    assert w.feed("\n") is True
    w = AnswerWatcher("math")
    assert w.feed("Final Answer:\n") is False  # no answer written yet


def test_watcher_code_completes_at_closing_fence():
    w = AnswerWatcher("coding")
    assert feed_all(w, ["```python\n", "def f(x):\n", "    return x\n"]) == [False] * 3
    assert w.feed("```") is True
    w = AnswerWatcher("coding")
    assert feed_all(w, ["```\n", "print(1)\n", "```\n"]) == [False] * 3  # no function in it
    w = AnswerWatcher("coding")  # a stdin/stdout program (the stdio checker's problems)
    assert feed_all(w, ["```python\n", "n = int(input())\n", "print(n * n)\n"]) == [False] * 3
    assert w.feed("```\n") is True
