"""Route a prompt to a domain: ``math``, ``coding`` or ``commonsense``.

The model-free classifier is one linear layer over hashed binary features: word unigrams and
bigrams (each number folded to what it names: a quantity, a year, an ordinal, a date or part of a
name; capitalised words inside a sentence folded to one name token; LaTeX commands and code
operators kept as tokens) plus a
few structural signals (code lines, ``$...$``, arithmetic, how many figures, figures given with
a quantity asked for, a programming language named). Its weights, logistic regression plus
naive Bayes evidence, are a data file, ``data/classifier.json``, trained by
``benchmarks/classifier.py`` on 70% of eight benchmark sets and of a set of standard-library
docstrings, each prompt also rewritten into the layouts of the other domains (multiple choice for
math and trivia, questions without options, short programming requests), and on prompts generated
from templates (``benchmarks/classifier_synth.py``: LaTeX math, word problems, programs about
numbers, everyday programming requests, trivia and science with figures), so that layout stops
telling the domain; the other 30% is held out, and each dataset is also scored by a model
trained without it. It needs no model call and takes tens of microseconds.

With a ``backend``, prompts whose confidence falls below ``threshold`` are asked of the model
with a few-shot completion prompt; an answer that is not exactly one label is ignored.

>>> classify("Write a Python function that reverses a string").domain
'coding'
"""

from __future__ import annotations

import json
import math
import re
import zlib
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from .._exceptions import ConfigError, PromptError
from ..verifiers.answers import DOMAINS

if TYPE_CHECKING:  # the model-free path never imports a backend
    from ..backends.base import Backend

Method = Literal["model-free", "model"]

# Features are read from this many leading characters: the start of a prompt names its kind,
# and a bound keeps the cost per prompt flat (HumanEval prompts run past 1,000 characters).
MAX_CHARS = 1200
FEATURE_VERSION = 4

_TOKEN = re.compile(
    r"\\[a-z]+"                  # LaTeX command: \frac, \sqrt
    r"|[a-z_][a-z0-9_]*"         # word or identifier
    r"|\d+(?:st|nd|rd|th)\b"      # ordinal: 26th
    r"|\d+(?:[.,]\d+)*"          # number (folded to its kind below)
    r"|>>>|==|!=|<=|>=|->|\*\*|//|\+=|-="
    r"|[^\sa-z\d]",              # any other symbol on its own
    re.IGNORECASE,  # read from the original text, so a name can be told from a word
)
_CODE_LINE = re.compile(r"(?m)^\s*(?:def |class |import |from \w[\w.]* import |return\b|print\(|for .+:$|if .+:$)")
_ARITH = re.compile(r"\d\s*[-+*/^×÷x]\s*\(?\d|\b[a-z]\s*\^\s*\d|\b\d+[a-z]\b\s*[-+=]")
_LANGUAGE = re.compile(
    r"\b(?:python|java|javascript|typescript|c\+\+|c#|rust|golang|sql|bash|shell script|ruby|php|"
    r"haskell|kotlin|scala|perl|matlab|html|css|regex|numpy|pandas)(?![\w+#])")
_QUANTITY_QUESTION = re.compile(
    r"\bhow (?:many|much|long|far|old|fast)\b|\bwhat (?:is|was|will be) the (?:total|sum|average|difference|"
    r"product|cost|price|area|perimeter|value|number|percent|ratio)\b|\bwhat percent|\b(?:find|calculate|compute)\b")
# An option marker: "(A) ", "(b) ", or "A) " / "A. " at the start of a line.
_OPTION = re.compile(r"\([A-Ea-e]\)\s*|(?m:^)[A-E][.)]\s+")
_LATEX = re.compile(r"\$|\\[a-zA-Z]+\{|\\\(|\\\[")


@dataclass(frozen=True)
class Classification:
    """A domain with the classifier's probability for it.

    ``scores`` are the model-free probabilities of all domains (they sum to 1). ``method`` says
    who chose ``domain``: the model-free classifier, or the model fallback; in the latter case
    ``confidence`` is still the model-free probability of the label the model chose.
    """

    domain: str
    confidence: float
    scores: dict[str, float] = field(default_factory=dict)
    method: Method = "model-free"


def _bucket(n: int, edges: tuple[float, ...]) -> int:
    for i, e in enumerate(edges):
        if n <= e:
            return i
    return len(edges)


def _number_kind(tok: str) -> str:
    """Fold a number to its kind. A year (1000-2099 written as four digits) names a time, not a
    quantity: trivia is full of them ("born in 1981"), word problems rarely are."""
    if len(tok) == 4 and tok.isdigit() and 1000 <= int(tok) <= 2099:
        return "<year>"
    if tok[-1].isalpha():
        return "<ord>"
    return "<n>"


_NAMED_NUMBER = re.compile(r"\b[A-Z][\w-]*\.? (\d+)\b")


_MONTHS = frozenset("january february march april may june july august september october november december".split())
_SENTENCE_END = frozenset('.?!:;"\'(`')
_KEEP_CASE = frozenset({"True", "False", "None"})
_TITLE = re.compile(r"[A-Z][a-z]+")


def _proper(raw: list[str], i: int) -> str | None:
    """``<cap>`` for a capitalised word inside a sentence: a name ("Return to Oz", "the
    Philippines") says nothing about the domain its words would ("return", "list")."""
    t = raw[i]
    if i == 0 or t in _KEEP_CASE or not _TITLE.fullmatch(t) or raw[i - 1] in _SENTENCE_END \
            or t.lower() in _MONTHS:  # a month is read with its day as a date (_fold_numbers)
        return None
    return "<cap>"


def _fold_numbers(toks: list[str], text: str) -> list[str]:
    """Numbers become the kind of thing they name. Only a quantity stays ``<n>``: a year, an
    ordinal, a date ("March 9", "15 January") or a number that is part of a name ("Route 97",
    "No. 22", "Pitch Perfect 2") is how trivia uses figures, and word problems rarely do."""
    named = {m.group(1) for m in _NAMED_NUMBER.finditer(text[:MAX_CHARS]) if m.start() > 0}
    out = [_number_kind(t) if t[0].isdigit() else t for t in toks]
    for i, t in enumerate(out):
        if t != "<n>":
            continue
        if (i > 0 and out[i - 1] in _MONTHS) or (i + 1 < len(out) and out[i + 1] in _MONTHS):
            out[i] = "<date>"
        elif toks[i] in named:
            out[i] = "<name>"
    return out


def features(text: str) -> list[str]:
    """The feature strings of ``text`` (deduplicated, order of first appearance)."""
    text = text[:MAX_CHARS]
    low = text.lower()
    raw = _TOKEN.findall(text)
    toks = _fold_numbers([_proper(raw, i) or t.lower() for i, t in enumerate(raw)], text)
    n_num = sum(1 for t in toks if t == "<n>")
    feats = []
    prev = "^"
    for t in toks:
        feats.append("u " + t)
        feats.append("b " + prev + " " + t)
        prev = t
    feats.append("b " + prev + " $")
    # Structural signals. Nothing here measures length or layout: in benchmark data short
    # prompts are nearly all trivia, a correlation that would send "What is 17 * 23?" astray.
    feats.append("s num%d" % _bucket(n_num, (0, 1, 2, 4, 7)))
    if n_num >= 2 and _QUANTITY_QUESTION.search(low):
        feats.append("s quantity")  # figures given, a quantity asked for: a word problem
    feats.append("s numdens%d" % _bucket(n_num / max(len(toks), 1), (0.0, 0.1, 0.25)))
    if _CODE_LINE.search(text) or ">>>" in text:
        feats.append("s codeline")
    if _ARITH.search(low):
        feats.append("s arith")
    if _LATEX.search(text):
        feats.append("s latex")
    options = _OPTION.split(text)[1:]
    if len(options) >= 2:
        # Multiple choice: numbers as options is a math question's layout, words anyone's.
        numeric = sum(1 for o in options if any(c.isdigit() for c in o[:40]))
        feats.append("s options_numeric" if 2 * numeric >= len(options) else "s options_words")
    if _LANGUAGE.search(low):
        feats.append("s language")  # pools languages the training data never names (java, rust, ...)
    return list(dict.fromkeys(feats))


def feature_hash(feature: str, bits: int) -> int:
    """A stable (process-independent) bucket for ``feature``; Python's ``hash`` is salted."""
    return zlib.crc32(feature.encode("utf-8")) & ((1 << bits) - 1)


class Model:
    """Softmax over summed feature weights, as stored in the weights file."""

    def __init__(self, data: dict) -> None:
        try:
            version, labels = data["feature_version"], tuple(data["labels"])
            self.bits: int = int(data["hash_bits"])
            scale = float(data["scale"])
            self.bias = tuple(float(b) for b in data["bias"])
            rows, flat = data["buckets"], data["weights"]
        except (KeyError, TypeError, ValueError) as exc:
            raise ConfigError(f"classifier weights file is malformed: {exc!r}") from exc
        if version != FEATURE_VERSION or labels != DOMAINS:
            raise ConfigError(
                f"classifier weights are for feature version {version} and labels {list(labels)}; "
                f"this code needs version {FEATURE_VERSION} and {list(DOMAINS)}")
        k = len(DOMAINS)
        if len(flat) != k * len(rows):
            raise ConfigError("classifier weights file is malformed: weights do not match buckets")
        # A plain dict of tuples: for ~100 features a prompt, summing in Python beats numpy's
        # per-call overhead.
        self.weights: dict[int, tuple[float, ...]] = {
            int(b): tuple(flat[i * k + j] * scale for j in range(k)) for i, b in enumerate(rows)
        }

    def scores(self, text: str) -> dict[str, float]:
        s0, s1, s2 = self.bias
        w = self.weights
        mask = (1 << self.bits) - 1
        for f in features(text):
            row = w.get(zlib.crc32(f.encode("utf-8")) & mask)
            if row is not None:
                s0 += row[0]
                s1 += row[1]
                s2 += row[2]
        top = max(s0, s1, s2)
        e = (math.exp(s0 - top), math.exp(s1 - top), math.exp(s2 - top))
        z = e[0] + e[1] + e[2]
        return {DOMAINS[0]: e[0] / z, DOMAINS[1]: e[1] / z, DOMAINS[2]: e[2] / z}


WEIGHTS_FILE = "classifier.json"
DEFAULT_WEIGHTS = Path(__file__).parent / "data" / WEIGHTS_FILE


@lru_cache(maxsize=4)
def load_model(path: str | None = None) -> Model:
    """Load classifier weights: the packaged file by default, or ``path``."""
    try:
        raw = Path(path or DEFAULT_WEIGHTS).read_text("utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read classifier weights {path or WEIGHTS_FILE}: {exc}") from exc
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"classifier weights {path or WEIGHTS_FILE} are not valid JSON: {exc.msg}") from exc
    return Model(data)


# ---- model fallback ---------------------------------------------------------------------------

_FEW_SHOT = (
    ("If 3 pencils cost 45 cents, how much do 7 pencils cost?", "math"),
    ("Write a Python function that returns the largest element of a list.", "coding"),
    ("Where would you most likely find a stapler? (A) office (B) forest (C) ocean", "commonsense"),
    ("Find all real x such that $x^2 - 5x + 6 = 0$.", "math"),
    ("def is_palindrome(s: str) -> bool:\n    \"\"\"Return True if s reads the same backwards.\"\"\"", "coding"),
    ("Which country is the director of the film Amélie from?", "commonsense"),
)
FALLBACK_CHARS = 400  # what the model sees of a prompt: the label shows early, and it keeps calls cheap


def _one_line(text: str, limit: int = FALLBACK_CHARS) -> str:
    line = " ".join(text.split())
    return line if len(line) <= limit else line[:limit].rstrip() + " ..."


def fallback_prompt(prompt: str) -> str:
    """The few-shot completion prompt that asks a base model for one label.

    (Of the wordings tried on Gemma 3 270M, "Question:/Kind:" drew the fewest wrong labels;
    "Task:/Label:" made it answer "coding" to nearly everything.)"""
    head = "Each question is labelled with its kind: math, coding or commonsense.\n\n"
    shots = "".join(f"Question: {_one_line(q)}\nKind: {label}\n\n" for q, label in _FEW_SHOT)
    return f"{head}{shots}Question: {_one_line(prompt)}\nKind:"


def parse_label(text: str) -> str | None:
    """The label a completion names, or None unless it is exactly one of :data:`DOMAINS`
    (case, surrounding spaces and one trailing full stop aside)."""
    word = text.strip().lower()
    if word.endswith("."):
        word = word[:-1].rstrip()
    return word if word in DOMAINS else None


def ask_model(backend: "Backend", prompt: str) -> str | None:
    """Put :func:`fallback_prompt` to ``backend`` greedily; the label it names, or None."""
    from ..backends.base import SamplingParams

    params = SamplingParams(max_tokens=4, temperature=0, stop=["\n"])
    gen = backend.generate([fallback_prompt(prompt)], params)[0]
    return parse_label(gen.completions[0].text) if gen.completions else None


# ---- public entry point -----------------------------------------------------------------------

def classify(prompt: str, *, backend: "Backend | None" = None, threshold: float = 0.6) -> Classification:
    """Classify ``prompt`` into one of :data:`DOMAINS`.

    Without ``backend`` no model is called. With one, a prompt whose confidence is below
    ``threshold`` is put to the model; its answer wins only if it is exactly one label.
    """
    if not isinstance(prompt, str):
        raise PromptError(f"prompt must be text, got {type(prompt).__name__}")
    if not prompt.strip():
        raise PromptError("prompt is empty")
    if not (isinstance(threshold, (int, float)) and 0.0 <= threshold <= 1.0):
        raise ConfigError(f"invalid threshold={threshold!r}: must be in [0, 1]")
    scores = load_model().scores(prompt)
    domain = max(DOMAINS, key=scores.__getitem__)
    result = Classification(domain, scores[domain], scores, "model-free")
    if backend is None or result.confidence >= threshold:
        return result
    label = ask_model(backend, prompt)
    if label is None:
        return result
    return Classification(label, scores[label], scores, "model")


__all__ = [
    "DOMAINS",
    "Classification",
    "ask_model",
    "classify",
    "fallback_prompt",
    "features",
    "load_model",
    "parse_label",
]
