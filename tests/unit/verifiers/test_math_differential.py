"""Differential test: nlrl's ``answers_equivalent`` against math-verify's own ``verify`` on every
MATH-500 answer and variants of it that mean the same (spacing, ``\\dfrac``, ``\\left``/``\\right``,
``x =`` prefixes, boxing, dollars, typographic wrappers, numeric forms), plus wrong variants.

Every pair where the two disagree must be listed in ``INTENDED`` with the reason nlrl's verdict is
the right one; a disagreement not listed fails the test, and so does a listed one that no longer
occurs (the list stays true). math-verify is called the way its README shows:
``verify(parse(gold), parse(answer))``, each side wrapped in ``$...$``.
"""

from __future__ import annotations

import json
import re
from fractions import Fraction

import pytest

from nlrl.bench.datasets import vendored_data_dir
from nlrl.verifiers.math import answers_equivalent

MATH500 = vendored_data_dir() / "math500" / "test.jsonl"


def golds() -> list[str]:
    return [json.loads(line)["answer"] for line in MATH500.read_text(encoding="utf-8").splitlines() if line.strip()]


def _unspaced(a: str) -> str:
    # drop whitespace except between two letters ("\pi r" keeps its space)
    return re.sub(r"(?<=[^A-Za-z])\s+|\s+(?=[^A-Za-z])", "", a)


def _spaced(a: str) -> str:
    # spaces around row breaks, commas (not a thousands separator's), =, + and &
    return re.sub(r"\s*(\\\\|,(?!\s*(?:\\!)?\s*\d{3}\b)|=|\+|&)\s*", r" \1 ", a).strip()


def _left_right(a: str) -> str | None:
    if "\\left" in a or not re.search(r"[()\[\]]", a):
        return None
    out = re.sub(r"(?<!\\)\(", r"\\left(", a)
    out = re.sub(r"(?<!\\)\)", r"\\right)", out)
    return out if out.count("\\left") == out.count("\\right") else None


def _number_forms(a: str) -> list[tuple[str, str]]:
    m = re.fullmatch(r"(-?)\\[dt]?frac\{(\d+)\}\{(\d+)\}", a.strip())
    out = []
    if m:
        sign, p, q = m.groups()
        out.append(("slash", f"{sign}{p}/{q}"))
        v = Fraction(int(p), int(q))
        if (v * 10**6).denominator == 1:
            out.append(("decimal", f"{sign}{float(v)}"))
    if re.fullmatch(r"-?\d+", a.strip()):
        n = int(a)
        out.append(("decimal_zero", f"{n}.0"))
        if abs(n) >= 1000:
            out.append(("thousands", f"{n:,}"))
    return out


_THOUSANDS = re.compile(r"(?:\\\$)?\d{1,3}(?:,(?:\\!)?\s*\d{3})+")


def variants(gold: str) -> list[tuple[str, str]]:
    """(kind, variant) pairs that mean the same as ``gold``."""
    out = [("same", gold), ("unspaced", _unspaced(gold)), ("spaced", _spaced(gold)),
           ("boxed", f"\\boxed{{{gold}}}"), ("dollars", f"${gold}$"), ("underline", f"\\underline{{{gold}}}")]
    if "\\frac" in gold and "\\dfrac" not in gold:
        out.append(("dfrac", gold.replace("\\frac", "\\dfrac")))
    if "\\dfrac" in gold:
        out.append(("frac", gold.replace("\\dfrac", "\\frac")))
    lr = _left_right(gold)
    if lr:
        out.append(("left_right", lr))
    if "=" not in gold and "\\text" not in gold and "\\in" not in gold and ("," not in gold or _THOUSANDS.fullmatch(gold)):
        out.append(("x_equals", f"x = {gold}"))
    if _THOUSANDS.fullmatch(gold):
        out.append(("no_separator", re.sub(r",(?:\\!)?\s*", "", gold)))
        out.append(("brace_separator", re.sub(r",(?:\\!)?\s*", "{,}", gold)))
    out += [("period", gold + "."), ("displaystyle", f"\\displaystyle {gold}"),
            ("boxed_dollars", f"$\\boxed{{{gold}}}$"), ("textbf", f"\\textbf{{{gold}}}")]
    out.extend(_number_forms(gold))
    seen: set[str] = set()
    return [(k, v) for k, v in out if not (v in seen or seen.add(v))]


def wrong_variants(gold: str) -> list[tuple[str, str]]:
    """(kind, variant) pairs that differ from ``gold`` in value."""
    out = []
    if re.fullmatch(r"-?\d+", gold.strip()):
        out.append(("plus_one", str(int(gold) + 1)))
    if gold.startswith("\\begin{pmatrix}"):  # the unspaced matrix with one entry changed
        flipped = re.sub(r"(-?\d+)", lambda m: str(int(m.group(1)) + 1), _unspaced(gold), count=1)
        out.append(("matrix_entry", flipped))
    return out


# Where nlrl and math-verify disagree, and why nlrl's verdict is the right one. In each case the
# variant means the same as the gold answer, nlrl accepts it and math-verify does not; there is no
# pair on which math-verify is right and nlrl wrong. Rules that apply to a whole kind of variant:
INTENDED_KINDS: dict[str, tuple[int, str]] = {
    "underline": (208, "\\underline{34} is 34 typeset underlined; nlrl strips typographic wrappers "
                       "(strip_decoration), math-verify parses \\underline as an unknown command"),
    "textbf": (80, "\\textbf{...} is bold type, not a value; math-verify reads it as \\text{...} and then "
                   "fails on some answers (\\textbf{1.25} against 1.25, \\textbf{(2,4)}, \\textbf{90^\\circ})"),
    "period": (146, "a full stop ending the sentence ('$\\frac{14}{3}.$') is not part of the answer; nlrl "
                    "drops it as MATH's and Minerva's normalisers do, math-verify cannot parse it (only the "
                    "string is left)"),
}
# ... and single pairs: a thousands separator written LaTeX's way (",\\!") after "x =", which
# math-verify parses as a set of two numbers (x = 10,\\!080 becomes Eq(x, {10, 80})).
INTENDED: dict[tuple[str, str], str] = {
    ("10,\\!080", "x = 10,\\!080"): "x = 10,080 is the number 10080 (thousands separator ,\\!)",
    ("11,\\! 111,\\! 111,\\! 100", "x = 11,\\! 111,\\! 111,\\! 100"): "x = 11,111,111,100 is one number",
    ("\\$32,\\!348", "x = \\$32,\\!348"): "x = $32,348 is one amount of money",
}


def _mv():
    from math_verify import parse, verify

    def mv(gold: str, answer: str) -> bool:
        try:
            return bool(verify(parse(f"${gold}$"), parse(f"${answer}$")))
        except Exception:  # math-verify failing on an input is its "no"
            return False
    return mv


def differential(pairs):
    mv = _mv()
    found = {}
    for gold, kind, variant, same in pairs:
        ours = answers_equivalent(variant, gold)
        theirs = mv(gold, variant)
        if ours != theirs:
            found[(gold, variant)] = (kind, ours, theirs, same)
    return found


def all_pairs():
    for gold in golds():
        for kind, v in variants(gold):
            yield gold, kind, v, True
        for kind, v in wrong_variants(gold):
            yield gold, kind, v, False


def test_matrices_without_spaces_equal_the_spaced_reference():
    mats = [g for g in golds() if g.startswith("\\begin{pmatrix}")]
    assert len(mats) == 7
    for gold in mats:
        tight = _unspaced(gold)
        assert " " not in tight and answers_equivalent(tight, gold), tight
        assert answers_equivalent(gold, tight) and answers_equivalent(f"\\boxed{{{tight}}}", gold)
    assert answers_equivalent("\\begin{pmatrix}-2\\\\-14\\\\-7\\end{pmatrix}",
                              "\\begin{pmatrix} -2 \\\\ -14 \\\\ -7 \\end{pmatrix}")
    assert not answers_equivalent("\\begin{pmatrix}-2\\\\-14\\\\-8\\end{pmatrix}",
                                  "\\begin{pmatrix} -2 \\\\ -14 \\\\ -7 \\end{pmatrix}")
    from nlrl.strategies.voting import equivalence_for, majority

    tight, spaced = "\\begin{pmatrix}-2\\\\-14\\\\-7\\end{pmatrix}", "\\begin{pmatrix} -2 \\\\ -14 \\\\ -7 \\end{pmatrix}"
    assert majority([tight, spaced, "0"], equivalent=equivalence_for("math")).groups[0].count == 2  # voting too
    assert not answers_equivalent("\\begin{pmatrix}-2\\\\-7\\\\-14\\end{pmatrix}",
                                  "\\begin{pmatrix} -2 \\\\ -14 \\\\ -7 \\end{pmatrix}")


def _check(found):
    unexplained = {k: v for k, v in found.items() if k not in INTENDED and v[0] not in INTENDED_KINDS}
    assert unexplained == {}, "\n".join(f"{g!r} vs {v!r}: {kind}, nlrl={o} math-verify={t}"
                                        for (g, v), (kind, o, t, _) in unexplained.items())
    # every intended disagreement is one where nlrl gives the right verdict
    assert {k: v for k, v in found.items() if v[1] != v[3]} == {}


def test_differential_against_math_verify_on_a_sample():
    sample = [p for i, g in enumerate(golds()) if i % 25 == 0 for p in
              [(g, k, v, True) for k, v in variants(g)] + [(g, k, v, False) for k, v in wrong_variants(g)]]
    assert len(sample) > 200
    _check(differential(sample))


@pytest.mark.slow
def test_differential_against_math_verify_on_all_math500_answers():
    pairs = list(all_pairs())
    assert len(pairs) > 5000
    found = differential(pairs)
    _check(found)
    assert set(INTENDED) <= set(found), set(INTENDED) - set(found)  # the list stays true
    by_kind = {kind: sum(1 for v in found.values() if v[0] == kind) for kind in INTENDED_KINDS}
    assert by_kind == {kind: n for kind, (n, _) in INTENDED_KINDS.items()}
