"""``arith``: a procedurally generated, difficulty-graded arithmetic benchmark.

Six levels, from one-digit sums to two-step word problems, graded by value (the ``math``
checker); every record carries its ``level`` in ``metadata``, so reports break accuracy down by
it and ``nlrl bench --level K`` runs one level. The levels were calibrated by measuring greedy
chain-of-thought accuracy on the embedded model (``benchmarks/arith_calibration.py``,
``docs/benchmarking.md``).

=====  ==============================================  ==================================
level  problems                                        example
=====  ==============================================  ==================================
1      one-digit + one-digit                           What is 3 + 5?
2      two-digit + one-digit, with a carry             What is 47 + 8?
3      two-digit + one-digit, no carry                 What is 42 + 5?
4      two-digit + two-digit                           What is 34 + 58?
5      one-digit x two-digit                           What is 7 * 23?
6      two-step word problem (a+b*c, a-b+c, b*c-a)     Tom has 12 apples. He buys 3 bags ...
=====  ==============================================  ==================================

Greedy accuracy measured on 30 dev questions a level: 0.67, 0.63, 0.20, 0.13, 0.07, 0.00
(``benchmarks/results/arith_calibration.json``). :data:`KINDS` holds more kinds of problem than
the levels use (tens + units, n + 1, three-digit sums, three-step word problems);
:func:`kind_records` generates any of them.

**Determinism and splits.** :func:`generate` is a pure function of ``(split, per_level, seed)``:
problem ``i`` of a level is drawn from a ``random.Random`` seeded by the seed, split and the
level's kind of problem.
A question belongs to exactly one split, decided by a hash of its text (60% train, 20% dev, 20%
test); a draw that falls in another split is rejected, so the splits never share a question,
whatever seed each is generated with. Within a split no question repeats.

>>> ds = generate("test", per_level=2)
>>> [(r.id, r.metadata["level"]) for r in ds][:3]
[('L1-0', 1), ('L1-1', 1), ('L2-0', 2)]
"""

from __future__ import annotations

import hashlib
import random
from typing import Callable

from .._exceptions import ConfigError, DatasetError
from .datasets import Dataset
from .records import Record

SPLITS = ("train", "dev", "test")
#: share of the question space in each split (by hash of the question text), in SPLITS order
_SHARES = (60, 20, 20)
LEVELS: tuple[int, ...] = (1, 2, 3, 4, 5, 6)
DEFAULT_PER_LEVEL = 100
_MAX_DRAWS = 200_000

_SUM = ("What is {a} + {b}?", "Compute {a} + {b}.", "Find the sum of {a} and {b}.", "Add {a} and {b}.",
        "Calculate {a} plus {b}.")
_PRODUCT = ("What is {a} * {b}?", "Compute {a} * {b}.", "Find the product of {a} and {b}.",
            "Multiply {a} by {b}.", "Calculate {a} times {b}.")
_NAMES = (("Tom", "he"), ("Sara", "she"), ("Ali", "he"), ("Mia", "she"), ("Ben", "he"), ("Lena", "she"),
          ("Omar", "he"), ("Rosa", "she"))
_ITEMS = ("apples", "pencils", "stickers", "marbles", "cookies", "books", "cards", "shells")
_GOODS = ("pens", "notebooks", "toys", "cups", "hats", "plates")


def split_of(question: str) -> str:
    """The split a question belongs to (a hash of its text; independent of any seed)."""
    h = int.from_bytes(hashlib.sha256(question.encode("utf-8")).digest()[:8], "big") % sum(_SHARES)
    edge = 0
    for name, share in zip(SPLITS, _SHARES):
        edge += share
        if h < edge:
            return name
    return SPLITS[-1]  # pragma: no cover


def _sum_problem(digits: int) -> Callable[[random.Random], tuple[str, int]]:
    lo, hi = (0, 9) if digits == 1 else (10 ** (digits - 1), 10 ** digits - 1)

    def make(rng: random.Random) -> tuple[str, int]:
        a, b = rng.randint(lo, hi), rng.randint(lo, hi)
        return rng.choice(_SUM).format(a=a, b=b), a + b
    return make


def _round_plus_units(rng: random.Random) -> tuple[str, int]:
    a, b = 10 * rng.randint(1, 9), rng.randint(1, 9)
    return rng.choice(_SUM).format(a=a, b=b), a + b


def _successor(rng: random.Random) -> tuple[str, int]:
    a = rng.randint(1, 98)
    return rng.choice(_SUM).format(a=a, b=1), a + 1


def _tens_plus_units(carry: bool) -> Callable[[random.Random], tuple[str, int]]:
    def make(rng: random.Random) -> tuple[str, int]:
        a, b = rng.randint(10, 99), rng.randint(1, 9)
        while (a % 10 + b >= 10) != carry:
            a, b = rng.randint(10, 99), rng.randint(1, 9)
        return rng.choice(_SUM).format(a=a, b=b), a + b
    return make


def _product(rng: random.Random) -> tuple[str, int]:
    a, b = rng.randint(2, 9), rng.randint(11, 99)
    return rng.choice(_PRODUCT).format(a=a, b=b), a * b


def _two_step(rng: random.Random) -> tuple[str, int]:
    name, he = rng.choice(_NAMES)
    item = rng.choice(_ITEMS)
    kind = rng.randrange(3)
    if kind == 0:
        a, b, c = rng.randint(2, 20), rng.randint(2, 6), rng.randint(2, 9)
        q = (f"{name} has {a} {item}. {he.capitalize()} buys {b} bags with {c} {item} in each bag. "
             f"How many {item} does {he} have now?")
        return q, a + b * c
    if kind == 1:
        a, b = rng.randint(20, 60), rng.randint(2, 15)
        c = rng.randint(2, 20)
        q = (f"{name} had {a} {item} and gave away {b}. Then {he} found {c} more. "
             f"How many {item} does {he} have now?")
        return q, a - b + c
    b, c = rng.randint(2, 9), rng.randint(2, 9)
    a = rng.randint(1, b * c - 1)
    q = (f"{name} has {b} boxes with {c} {item} in each box. {he.capitalize()} gives away {a} {item}. "
         f"How many {item} are left?")
    return q, b * c - a


def _three_step(rng: random.Random) -> tuple[str, int]:
    name, he = rng.choice(_NAMES)
    good = rng.choice(_GOODS)
    kind = rng.randrange(2)
    if kind == 0:
        p, k = rng.randint(11, 49), rng.randint(3, 9)
        m = rng.randint(2, 9)
        bill = (p * k + m) // 100 * 100 + 100
        q = (f"A shop sells {good} for ${p} each and bags for ${m} each. {name} buys {k} {good} and one bag, "
             f"and pays with ${bill}. How many dollars of change does {he} get?")
        return q, bill - p * k - m
    a, b, c = rng.randint(12, 48), rng.randint(3, 9), rng.randint(11, 39)
    d = rng.randint(2, 9)
    q = (f"{name} packs {b} crates with {a} {good} in each crate and {d} boxes with {c} {good} in each box. "
         f"How many {good} does {he} pack in all?")
    return q, a * b + c * d


#: the kinds of problem, by name (a kind's questions do not depend on the level it is given)
KINDS: dict[str, Callable[[random.Random], tuple[str, int]]] = {
    "tens+units": _round_plus_units, "plus-one": _successor, "sum-1+1": _sum_problem(1), "sum-2+1": _tens_plus_units(False), "sum-2+1-carry": _tens_plus_units(True),
    "sum-2+2": _sum_problem(2), "sum-3+3": _sum_problem(3), "product-1x2": _product,
    "two-step": _two_step, "three-step": _three_step,
}
#: the kind of problem at each level, in order of measured difficulty (benchmarks/arith_calibration.py)
LEVEL_KINDS: dict[int, str] = {1: "sum-1+1", 2: "sum-2+1-carry", 3: "sum-2+1", 4: "sum-2+2", 5: "product-1x2",
                               6: "two-step"}
#: one line per level, for docs and reports
ABOUT: dict[int, str] = {
    1: "one-digit + one-digit", 2: "two-digit + one-digit, with a carry", 3: "two-digit + one-digit, no carry",
    4: "two-digit + two-digit", 5: "one-digit x two-digit", 6: "two-step word problem",
}


def kind_records(split: str, kind: str, count: int, seed: int = 0, *, level: int | None = None,
                 name: str = "arith", start_index: int = 0) -> list[Record]:
    """``count`` distinct questions of ``kind`` that belong to ``split``, drawn from ``seed``."""
    if split not in SPLITS:
        raise ConfigError(f"arith split must be one of {', '.join(SPLITS)}, got {split!r}")
    if kind not in KINDS:
        raise ConfigError(f"arith kind must be one of {', '.join(KINDS)}, got {kind!r}")
    rng = random.Random(f"nlrl-arith/{seed}/{split}/{kind}")
    make = KINDS[kind]
    seen: set[str] = set()
    out: list[Record] = []
    prefix = f"L{level}" if level is not None else kind
    meta: dict[str, object] = {"level": level} if level is not None else {}
    for _ in range(_MAX_DRAWS):
        if len(out) >= count:
            break
        question, answer = make(rng)
        if question in seen or split_of(question) != split:
            continue
        seen.add(question)
        i = len(out)
        out.append(Record(f"{prefix}-{i}", question, str(answer), "math", "math", name, start_index + i,
                          metadata={**meta, "kind": kind, "split": split, "seed": seed}))
    if len(out) < count:
        raise DatasetError(f"arith {kind} has only {len(out)} distinct {split} questions; asked for {count}")
    return out


def level_records(split: str, level: int, count: int, seed: int = 0, *, name: str = "arith",
                  start_index: int = 0) -> list[Record]:
    """``count`` distinct questions of ``level`` that belong to ``split``, drawn from ``seed``."""
    if level not in LEVEL_KINDS:
        raise ConfigError(f"arith level must be one of {', '.join(map(str, LEVELS))}, got {level!r}")
    return kind_records(split, LEVEL_KINDS[level], count, seed, level=level, name=name, start_index=start_index)


def generate(split: str = "test", per_level: int = DEFAULT_PER_LEVEL, seed: int = 0,
             levels: tuple[int, ...] = LEVELS, *, name: str | None = None) -> Dataset:
    """The ``split`` of the benchmark: ``per_level`` questions at each of ``levels``, level by level."""
    return graded("arith", level_records, split, per_level, seed, levels, name=name)


def graded(base: str, level_records: Callable[..., list[Record]], split: str, per_level: int, seed: int,
           levels: tuple[int, ...], *, name: str | None = None) -> Dataset:
    """A generated, graded set's ``split`` (``base``, ``base-dev``, ...): ``per_level`` records at
    each of ``levels``, level by level, from its ``level_records`` (shared by arith and minicode)."""
    if not isinstance(per_level, int) or per_level < 1:
        raise ConfigError(f"{base} per_level must be an integer >= 1, got {per_level!r}")
    label = name or (base if split == "test" else f"{base}-{split}")
    records: list[Record] = []
    for level in levels:
        records += level_records(split, level, per_level, seed, name=label, start_index=len(records))
    return Dataset(label, records, source=f"generated: split={split} per_level={per_level} seed={seed}")
