"""Short-answer QA: exact match and token F1 after HotpotQA's official normalisation
(:func:`~nlrl.verifiers.answers.normalize_answer`); multiple choice; yes/no.

>>> exact_match("The Beatles!", "beatles"), round(f1_score("the big apple", "big apple pie"), 3)
(True, 0.8)
"""

from __future__ import annotations

import re
import string
from collections import Counter
from typing import Any, Mapping, Sequence

from .._exceptions import VerifierError
from .answers import answer_segment, extract_short_answer, last_boxed, normalize_answer
from .base import Verdict, Verifier

__all__ = [
    "LETTERS", "ChoiceVerifier", "QAVerifier", "YesNoVerifier", "exact_match", "extract_choice",
    "extract_short_answer", "extract_yes_no", "f1_score", "normalize_answer",
]


def exact_match(prediction: str, truth: str) -> bool:
    return normalize_answer(prediction) == normalize_answer(truth)


def f1_score(prediction: str, truth: str) -> float:
    """HotpotQA's token F1; a yes/no/noanswer on either side must match exactly."""
    pred, gold = normalize_answer(prediction), normalize_answer(truth)
    special = ("yes", "no", "noanswer")
    if (pred in special or gold in special) and pred != gold:
        return 0.0
    pred_toks, gold_toks = pred.split(), gold.split()
    same = sum((Counter(pred_toks) & Counter(gold_toks)).values())
    if same == 0:
        return 0.0
    precision, recall = same / len(pred_toks), same / len(gold_toks)
    return 2 * precision * recall / (precision + recall)


def _references(reference: Any) -> list[str]:
    if isinstance(reference, Mapping):
        reference = reference.get("answer", reference.get("answers"))
    if isinstance(reference, str):
        refs = [reference]
    elif isinstance(reference, (list, tuple)) and all(isinstance(r, str) for r in reference):
        refs = list(reference)
    elif isinstance(reference, (int, float)) and not isinstance(reference, bool):
        refs = [str(reference)]
    else:
        raise VerifierError(f"qa reference must be a string or a list of strings, got {reference!r}")
    if not refs:
        raise VerifierError("qa reference has no answer")
    return refs


class QAVerifier(Verifier):
    """Exact match after HotpotQA normalisation decides ``correct``; ``score`` is the best token F1.

    ``reference`` is a string, a list of accepted strings, or a record with ``answer``.
    """

    name = "qa"

    def check(self, output: str, reference: Any, **context: Any) -> Verdict:
        refs = _references(reference)
        pred = extract_short_answer(output)
        if not normalize_answer(pred):
            return Verdict.failed("no answer found in the output", pred or None)
        em = any(exact_match(pred, r) for r in refs)
        f1 = max(f1_score(pred, r) for r in refs)
        return Verdict(em, 1.0 if em else f1, f"EM={int(em)} F1={f1:.3f} against {refs[0]!r}", pred)


# ---------------------------------------------------------------------------------------------
# multiple choice


LETTERS = "ABCDEFGHIJ"  # MMLU-Pro's ten options; CommonsenseQA five, GPQA four

# "the answer is", "the correct answer is (J)", "Answer: J", "best option would be J", "Final Answer: J"
_CHOICE_SEGMENT = re.compile(
    r"(?:\b(?:answer|option|choice)\s*(?:is|would\s+be|should\s+be|must\s+be|[:：=])|\bFinish\[)"
    r"\s*[:：]?\s*(.+)", re.I)
_DECORATION = re.compile(r"\\(?:text|textbf|mathrm|mathbf|boxed|fbox|underline)\s*\{([^{}]*)\}")


def _undecorate(text: str) -> str:
    """``text`` without Markdown emphasis, math dollars and LaTeX wrappers (``\\boxed{J}`` is ``J``)."""
    for _ in range(3):
        text = _DECORATION.sub(r"\1", text)
    return re.sub(r"\*\*|__|(?<!\\)\$", "", text)


def extract_choice(text: str, labels: Sequence[str] = LETTERS, choices: Sequence[str] | None = None) -> str | None:
    """The chosen label in ``text``, or None. Labels are read in upper case (in any case only when
    a label is all there is: "(b)"), and never out
    of a word: a capital followed by a letter or an apostrophe ("Jupiter", "I'm") is a word, and
    so is "A" or "I" followed by a lower-case word ("A barnyard", "I think"), except a
    connective ("A because ...", "I is correct").

    In order: the last ``\\boxed{J}``; the last answer segment ("Final Answer: (J)", "the
    answer is J", "Answer: J.", "the correct option is **J**"), whose leading label, else
    bracketed label, else last stand-alone label counts; then anywhere, the last bracketed
    "(J)", "option/choice J", bold "**J**", or a line opening with "J." / "J)" / "J:" and
    holding at most a short phrase after it (a long line or another initial after it is a name:
    "J. Searle Dawley and Ken Annakin were ...", "A. N. Prabhu Deva ..."); the
    whole output being one label; else the text of exactly one of ``choices``.
    """
    text = text or ""
    labels = [str(lab) for lab in labels]
    labs = "".join(re.escape(lab) for lab in labels)
    if not labs:
        return None
    lab = rf"[{labs}]"
    # "Jupiter", "I'm": a word. "A barnyard", "I think": English words, not labels; "A because",
    # "B since", "J is right" are labels.
    word_after = r"(?![\w'’])(?!(?<=[AI])\s+(?!(?:because|since|as|is|was|which|and|or)\b)[a-z])"

    def alone(s: str) -> str | None:
        s = _undecorate(s).strip().strip("*_.()[]{}:$ ")
        return s.upper() if s.upper() in labels else None  # "(b)" alone is B

    boxed = last_boxed(text)
    if boxed is not None and alone(boxed):
        return alone(boxed)
    plain = _undecorate(text)
    segs = [m.group(1).split("\n", 1)[0] for m in _CHOICE_SEGMENT.finditer(plain)]
    seg = next((s for s in reversed(segs) if s.strip()), None)
    if seg is not None:
        m = re.match(rf"^[\s(\[{{]*({lab}){word_after}", seg)
        if m:
            return m.group(1)
        found = re.findall(rf"\(({lab})\)", seg) or re.findall(rf"(?<![\w'’])({lab}){word_after}", seg)
        if found:
            return found[-1]
    anywhere = re.compile(
        rf"\(({lab})\)|(?:option|choice)\s+\(?({lab})\b|^[ \t*_]*\(?({lab})[).:](?!\w)(?![ \t]*[A-Z]\.)(?=[^\n]{{0,40}}$)"
        rf"|\*\*\s*\(?({lab})\)?[.:)]?\s*\*\*", re.M)
    spots = [next(g for g in m.groups() if g) for m in anywhere.finditer(text)]
    if spots:
        return spots[-1]
    single = alone(text)
    if single:
        return single
    if choices:
        target = normalize_answer(seg if seg else text)
        hits = [lb for lb, c in zip(labels, choices) if normalize_answer(c) and
                re.search(rf"\b{re.escape(normalize_answer(c))}\b", target)]
        if len(hits) == 1:
            return hits[0]
    return None


class ChoiceVerifier(Verifier):
    """Multiple choice. ``reference``: a label ("B"), a 0-based index (1 = "B"), or a record
    ``{"answer": "B", "choices": [...], "labels": "ABCD"}``; CommonsenseQA records
    (``answerKey`` and ``question.choices``) are understood too. Labels default to A–J (MMLU-Pro's
    ten); see :func:`extract_choice` for the answer forms read."""

    name = "choice"

    def check(self, output: str, reference: Any, **context: Any) -> Verdict:
        labels: Sequence[str] = context.get("labels") or LETTERS
        choices = context.get("choices")
        answer = reference
        if isinstance(reference, Mapping):
            answer = reference.get("answer", reference.get("answerKey"))
            q = reference.get("question")
            raw = reference.get("choices") or (q.get("choices") if isinstance(q, Mapping) else None)
            if raw:
                if all(isinstance(c, Mapping) for c in raw):
                    labels = [str(c["label"]) for c in raw]
                    choices = [str(c["text"]) for c in raw]
                else:
                    choices = [str(c) for c in raw]
            labels = reference.get("labels", labels)
        if isinstance(answer, int) and not isinstance(answer, bool):
            if not 0 <= answer < len(labels):
                raise VerifierError(f"choice index {answer} is outside the {len(labels)} labels")
            answer = labels[answer]
        if not isinstance(answer, str) or answer.strip().upper() not in [str(lab).upper() for lab in labels]:
            raise VerifierError(f"choice reference must be one of {list(labels)} or an index, got {answer!r}")
        gold = answer.strip().upper()
        labels = [str(lab).upper() for lab in labels]
        picked = extract_choice(output, labels, choices)
        if picked is None:
            return Verdict.failed("no choice found in the output")
        if picked == gold:
            return Verdict.passed(f"chose {picked}", picked)
        return Verdict.failed(f"chose {picked}, the answer is {gold}", picked)


# ---------------------------------------------------------------------------------------------
# yes / no

_YES, _NO = ("yes", "true", "correct"), ("no", "false", "incorrect")


def _as_bool(word: str) -> bool | None:
    w = word.strip().strip(string.punctuation + " ").lower()
    return True if w in _YES else False if w in _NO else None


def extract_yes_no(text: str) -> bool | None:
    """Yes (True), no (False) or None: the answer segment's first word, else the output's first
    word, else the last "yes"/"no" in the output."""
    text = text or ""
    seg = answer_segment(text)
    for part in ([seg] if seg else []) + [text]:
        words = part.split()
        if words:
            b = _as_bool(words[0])
            if b is not None:
                return b
    found = re.findall(r"\b(yes|no)\b", text, re.I)
    return found[-1].lower() == "yes" if found else None


def _gold_bool(reference: Any) -> bool:
    if isinstance(reference, Mapping):
        reference = reference.get("answer")
    if isinstance(reference, bool):
        return reference
    if isinstance(reference, str) and _as_bool(reference) is not None:
        return bool(_as_bool(reference))
    raise VerifierError(f"yes/no reference must be a bool or 'yes'/'no', got {reference!r}")


class YesNoVerifier(Verifier):
    """Yes/no questions (StrategyQA). ``reference``: a bool, "yes"/"no", or a record with ``answer``."""

    name = "yesno"

    def check(self, output: str, reference: Any, **context: Any) -> Verdict:
        gold = _gold_bool(reference)
        said = extract_yes_no(output)
        if said is None:
            return Verdict.failed("no yes/no answer found in the output")
        word = "yes" if said else "no"
        if said == gold:
            return Verdict.passed(f"answered {word}", word)
        return Verdict.failed(f"answered {word}, the answer is {'yes' if gold else 'no'}", word)

