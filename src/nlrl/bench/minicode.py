"""``minicode``: a procedurally generated, difficulty-graded coding benchmark.

MBPP-shaped tasks small enough for a 270M base model: write one Python function, shown two
public tests (assert lines, as MBPP shows its first assert), graded on four hidden tests on other
inputs by the code verifier in the sandbox (the record's reference is an MBPP ``test_list``).
The shown tests are in ``metadata["public_tests"]``; the ``public-tests`` strategy reads them from
the prompt itself (:func:`nlrl.verifiers.public_tests.parse_public_tests`), never the hidden ones.

>>> r = kind_records("test", "add-const", 1)[0]
>>> print(r.prompt)
Write a function `increase_by_17(x)` that returns x plus 17.
Your code should pass these tests:
assert increase_by_17(36) == 53
assert increase_by_17(43) == 60
>>> r.reference["test_list"][0]
'assert increase_by_17(47) == 64'

Each level mixes a few kinds of task (:data:`KINDS`, :data:`LEVEL_KINDS`); the kinds were put in
levels by measuring the embedded model on each (greedy and sampled pass rates on the dev split,
``benchmarks/minicode_calibration.py`` -> ``benchmarks/results/minicode_calibration.json``):

=====  ===================================================  ======  =================
level  kinds                                                greedy  sampled, T = 0.7
=====  ===================================================  ======  =================
1      x times k, a*x + b, x plus k                         0.72    0.48
2      max of a list, reverse a string, length of a list    0.61    0.31
3      count evens, upper-case, max minus min               0.39    0.15
4      reverse a list, first item, larger of two            0.00    0.13
5      sum, count a character, squares, filter > k          0.00    0.00
6      two-step (sum of evens, digit sum, second largest,   0.00    0.01
       long words, capitalise words)
=====  ===================================================  ======  =================

**Determinism and splits**, as in :mod:`nlrl.bench.arith`: :func:`generate` is a pure function of
``(split, per_level, seed)``; a question belongs to exactly one split by a hash of its text
(:func:`nlrl.bench.arith.split_of`: 60% train, 20% dev, 20% test) and a draw that falls in another
split is rejected, so splits never share a question whatever their seeds; no question repeats
within a split. A task's hidden inputs differ from its shown ones.
"""

from __future__ import annotations

import random
import string
from dataclasses import dataclass
from typing import Any, Callable, Sequence

from .._exceptions import ConfigError, DatasetError
from .arith import SPLITS, graded, split_of
from .datasets import Dataset
from .records import Record

__all__ = ["ABOUT", "KINDS", "LEVELS", "LEVEL_KINDS", "Spec", "generate", "kind_records", "level_records"]

DEFAULT_PER_LEVEL = 100
PUBLIC = 2  # tests shown in the prompt
HIDDEN = 4  # tests graded, on other inputs
_MAX_DRAWS = 100_000

_WORDS = ("apple", "sun", "river", "cat", "green", "table", "moon", "bird", "stone", "light", "tree", "blue",
          "house", "road", "fish", "cloud", "red", "book", "window", "rain", "dog", "garden", "star", "cup")


@dataclass(frozen=True)
class Spec:
    """One task: the function's name and parameters, what it must do (the words after "that"),
    a reference solution (the body's expression) and the function itself, which computes the
    tests' expected values. ``inputs`` draws one tuple of arguments."""

    entry: str
    params: str
    does: str
    solution: str
    fn: Callable[..., Any]
    inputs: Callable[[random.Random], tuple[Any, ...]]

    def source(self) -> str:
        """The reference solution as a Python function."""
        return f"def {self.entry}({self.params}):\n    return {self.solution}\n"


def _ints(rng: random.Random, lo: int = -9, hi: int = 20, size: tuple[int, int] = (3, 6)) -> list[int]:
    return [rng.randint(lo, hi) for _ in range(rng.randint(*size))]


def _word(rng: random.Random) -> str:
    return rng.choice(_WORDS)


def _sentence(rng: random.Random) -> str:
    return " ".join(rng.choice(_WORDS) for _ in range(rng.randint(3, 6)))


def _one(make: Callable[[random.Random], Any]) -> Callable[[random.Random], tuple[Any, ...]]:
    return lambda rng: (make(rng),)


def _add_const(rng: random.Random) -> Spec:
    k = rng.randint(2, 30)
    entry = rng.choice((f"add_{k}", f"plus_{k}", f"increase_by_{k}"))
    return Spec(entry, "x", f"returns x plus {k}", f"x + {k}", lambda x: x + k, _one(lambda r: r.randint(-20, 60)))


def _times_const(rng: random.Random) -> Spec:
    k = rng.randint(2, 12)
    entry = rng.choice((f"times_{k}", f"multiply_by_{k}", f"scale_by_{k}"))
    return Spec(entry, "x", f"returns x times {k}", f"x * {k}", lambda x: x * k, _one(lambda r: r.randint(-10, 30)))


def _affine(rng: random.Random) -> Spec:
    a, b = rng.randint(2, 9), rng.randint(1, 20)
    entry = rng.choice(("linear", "affine", "line_value", "formula"))
    return Spec(entry, "x", f"returns {a} times x plus {b}", f"{a} * x + {b}", lambda x: a * x + b,
                _one(lambda r: r.randint(-10, 20)))


def _fixed(entries: Sequence[str], params: str, does: str, solution: str, fn: Callable[..., Any],
           inputs: Callable[[random.Random], tuple[Any, ...]]) -> Callable[[random.Random], Spec]:
    """A kind whose task is the same up to the function's name (its questions differ by the
    shown examples)."""
    return lambda rng: Spec(rng.choice(tuple(entries)), params, does, solution, fn, inputs)


def _greater_than(rng: random.Random) -> Spec:
    k = rng.randint(0, 10)
    entry = rng.choice((f"greater_than_{k}", f"above_{k}", f"keep_over_{k}"))
    return Spec(entry, "xs", f"returns the numbers in the list xs that are greater than {k}, in order",
                f"[x for x in xs if x > {k}]", lambda xs: [x for x in xs if x > k], _one(_ints))


def _long_words(rng: random.Random) -> Spec:
    k = rng.randint(2, 5)
    entry = rng.choice(("count_long_words", "long_word_count", "words_longer"))
    return Spec(entry, "s", f"returns how many words in the sentence s have more than {k} letters",
                f"sum(1 for w in s.split() if len(w) > {k})", lambda s: sum(1 for w in s.split() if len(w) > k),
                _one(_sentence))


def _pair(rng: random.Random) -> tuple[int, int]:
    a, b = rng.randint(-20, 50), rng.randint(-20, 50)
    while a == b:
        b = rng.randint(-20, 50)
    return a, b


def _distinct(rng: random.Random) -> tuple[list[int]]:
    return (rng.sample(range(-9, 30), rng.randint(3, 6)),)


def _char_in(rng: random.Random) -> tuple[str, str]:
    w = _word(rng) + _word(rng)
    return w, rng.choice(w) if rng.random() < 0.8 else rng.choice(string.ascii_lowercase)


#: The kinds of task, by name.
KINDS: dict[str, Callable[[random.Random], Spec]] = {
    "add-const": _add_const,
    "times-const": _times_const,
    "list-sum": _fixed(("sum_list", "list_total", "add_all"), "xs", "returns the sum of the numbers in the list xs",
                       "sum(xs)", lambda xs: sum(xs), _one(_ints)),
    "list-len": _fixed(("list_length", "count_items", "how_many"), "xs", "returns how many items the list xs has",
                       "len(xs)", lambda xs: len(xs), _one(_ints)),
    "list-max": _fixed(("largest", "biggest", "max_of_list"), "xs", "returns the largest number in the list xs",
                       "max(xs)", lambda xs: max(xs), _one(lambda r: _ints(r, size=(2, 6)))),
    "list-reverse": _fixed(("reverse_list", "reversed_list", "flip_list"), "xs", "returns the list xs reversed",
                           "xs[::-1]", lambda xs: xs[::-1], _one(_ints)),
    "first-item": _fixed(("first_item", "head", "first_of"), "xs", "returns the first item of the list xs",
                         "xs[0]", lambda xs: xs[0], _one(lambda r: _ints(r, size=(1, 5)))),
    "larger": _fixed(("larger", "bigger", "max_of_two"), "a, b", "returns the larger of a and b",
                     "a if a > b else b", lambda a, b: a if a > b else b, _pair),
    "str-upper": _fixed(("to_upper", "shout", "upper_case"), "s", "returns the string s in upper case",
                        "s.upper()", lambda s: s.upper(), _one(_word)),
    "str-reverse": _fixed(("reverse_string", "backwards", "flip_string"), "s", "returns the string s reversed",
                          "s[::-1]", lambda s: s[::-1], _one(_word)),
    "count-char": _fixed(("count_char", "char_count", "occurrences"), "s, c",
                         "returns how many times the character c appears in the string s",
                         "s.count(c)", lambda s, c: s.count(c), _char_in),
    "count-even": _fixed(("count_even", "count_evens", "even_count"), "xs",
                         "returns how many numbers in the list xs are even",
                         "sum(1 for x in xs if x % 2 == 0)", lambda xs: sum(1 for x in xs if x % 2 == 0), _one(_ints)),
    "square-each": _fixed(("square_all", "squares", "square_each"), "xs",
                          "returns a list of the squares of the numbers in the list xs, in order",
                          "[x * x for x in xs]", lambda xs: [x * x for x in xs], _one(_ints)),
    "affine": _affine,
    "greater-than": _greater_than,
    "sum-even": _fixed(("sum_even", "sum_of_evens", "even_total"), "xs",
                       "returns the sum of the even numbers in the list xs",
                       "sum(x for x in xs if x % 2 == 0)", lambda xs: sum(x for x in xs if x % 2 == 0), _one(_ints)),
    "max-minus-min": _fixed(("spread", "value_range", "max_minus_min"), "xs",
                            "returns the largest number in the list xs minus the smallest",
                            "max(xs) - min(xs)", lambda xs: max(xs) - min(xs), _one(lambda r: _ints(r, size=(2, 6)))),
    "digit-sum": _fixed(("digit_sum", "sum_digits", "add_digits"), "n",
                        "returns the sum of the digits of the non-negative integer n",
                        "sum(int(d) for d in str(n))", lambda n: sum(int(d) for d in str(n)),
                        _one(lambda r: r.randint(10, 99999))),
    "second-largest": _fixed(("second_largest", "runner_up", "second_biggest"), "xs",
                             "returns the second largest number in the list xs of distinct numbers",
                             "sorted(xs)[-2]", lambda xs: sorted(xs)[-2], _distinct),
    "long-words": _long_words,
    "capitalize-words": _fixed(("capitalize_words", "title_words", "cap_each"), "s",
                               "returns the sentence s with the first letter of every word in upper case",
                               "' '.join(w.capitalize() for w in s.split())",
                               lambda s: " ".join(w.capitalize() for w in s.split()), _one(_sentence)),
}
LEVELS: tuple[int, ...] = (1, 2, 3, 4, 5, 6)
#: the kinds at each level, in order of the pass rates measured on the dev split (greedy plus three
#: samples at T = 0.7, 6 tasks a kind: benchmarks/results/minicode_calibration.json); levels 5 and 6
#: had no correct program (5: one-step tasks, 6: two-step ones)
LEVEL_KINDS: dict[int, tuple[str, ...]] = {
    1: ("times-const", "affine", "add-const"),
    2: ("list-max", "str-reverse", "list-len"),
    3: ("count-even", "str-upper", "max-minus-min"),
    4: ("list-reverse", "first-item", "larger"),
    5: ("list-sum", "count-char", "square-each", "greater-than"),
    6: ("sum-even", "digit-sum", "second-largest", "long-words", "capitalize-words"),
}
#: one line per level, for docs and reports
ABOUT: dict[int, str] = {lv: ", ".join(kinds) for lv, kinds in LEVEL_KINDS.items()}


def _call(entry: str, args: tuple[Any, ...]) -> str:
    return f"{entry}({', '.join(repr(a) for a in args)})"


def _asserts(spec: Spec, inputs: Sequence[tuple[Any, ...]]) -> list[str]:
    return [f"assert {_call(spec.entry, a)} == {spec.fn(*a)!r}" for a in inputs]


def _draw(rng: random.Random, spec: Spec) -> tuple[list[str], list[str]] | None:
    """Public and hidden asserts on distinct inputs (None when the kind has too few inputs)."""
    seen: list[tuple[Any, ...]] = []
    for _ in range(200):
        args = spec.inputs(rng)
        if args not in seen:
            seen.append(args)
        if len(seen) == PUBLIC + HIDDEN:
            return _asserts(spec, seen[:PUBLIC]), _asserts(spec, seen[PUBLIC:])
    return None


def question(spec: Spec, public: Sequence[str]) -> str:
    """The prompt: the task, then its shown tests (MBPP's wording)."""
    return (f"Write a function `{spec.entry}({spec.params})` that {spec.does}.\n"
            "Your code should pass these tests:\n" + "\n".join(public))


def _records(split: str, kinds: Sequence[str], count: int, seed: int, *, level: int | None, name: str,
             start_index: int) -> list[Record]:
    if split not in SPLITS:
        raise ConfigError(f"minicode split must be one of {', '.join(SPLITS)}, got {split!r}")
    for kind in kinds:
        if kind not in KINDS:
            raise ConfigError(f"minicode kind must be one of {', '.join(KINDS)}, got {kind!r}")
    tag = f"L{level}" if level is not None else "+".join(kinds)
    rng = random.Random(f"nlrl-minicode/{seed}/{split}/{tag}")
    seen: set[str] = set()
    out: list[Record] = []
    for _ in range(_MAX_DRAWS):
        if len(out) >= count:
            break
        kind = rng.choice(tuple(kinds))
        spec = KINDS[kind](rng)
        drawn = _draw(rng, spec)
        if drawn is None:
            continue
        public, hidden = drawn
        q = question(spec, public)
        if q in seen or split_of(q) != split:
            continue
        seen.add(q)
        i = len(out)
        meta: dict[str, Any] = {"level": level} if level is not None else {}
        meta.update(kind=kind, split=split, seed=seed, entry_point=spec.entry, public_tests=public,
                    solution=spec.source())
        out.append(Record(f"{tag}-{i}", q, {"test_list": hidden, "test_imports": []}, "coding", "code", name,
                          start_index + i, metadata=meta))
    if len(out) < count:
        raise DatasetError(f"minicode {tag} has only {len(out)} distinct {split} tasks; asked for {count}")
    return out


def kind_records(split: str, kind: str, count: int, seed: int = 0, *, name: str = "minicode",
                 start_index: int = 0) -> list[Record]:
    """``count`` distinct tasks of one ``kind`` that belong to ``split`` (calibration uses these)."""
    return _records(split, (kind,), count, seed, level=None, name=name, start_index=start_index)


def level_records(split: str, level: int, count: int, seed: int = 0, *, name: str = "minicode",
                  start_index: int = 0) -> list[Record]:
    """``count`` distinct tasks of ``level`` (its kinds drawn in turn at random) in ``split``."""
    if level not in LEVEL_KINDS:
        raise ConfigError(f"minicode level must be one of {', '.join(map(str, LEVELS))}, got {level!r}")
    return _records(split, LEVEL_KINDS[level], count, seed, level=level, name=name, start_index=start_index)


def generate(split: str = "test", per_level: int = DEFAULT_PER_LEVEL, seed: int = 0,
             levels: tuple[int, ...] = LEVELS, *, name: str | None = None) -> Dataset:
    """The ``split`` of the benchmark: ``per_level`` tasks at each of ``levels``, level by level."""
    return graded("minicode", level_records, split, per_level, seed, levels, name=name)
