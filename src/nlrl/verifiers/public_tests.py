"""The tests a coding prompt shows the model, and running candidate programs against them.

A coding prompt often carries examples of what the function must do; AlphaCode-style filtering
and CodeT (Chen et al. 2022, arXiv 2207.10397) select among sampled programs with them. Only
what is **visible in the prompt** is read here, never a benchmark's hidden tests:

- **doctest examples** (HumanEval): ``>>> expression`` with ``...`` continuation lines, then the
  expected output up to a blank line, the next ``>>>`` or the end of the docstring. The output may
  span several lines (a long list); an output that Python can read as a literal is compared by
  value (numbers within 1e-6, relative; ``True`` is not ``1``; a list is not a tuple), any other
  output by ``repr`` with whitespace normalised; a ``Traceback (most recent call last):`` output
  expects the call to raise the exception named on its last line. With no output, a call expects
  None (as doctest does), a comparison (``>>> f(x) == y``, its ``True`` left out) is read as an
  assert, and anything else (an assignment) runs, in order, but is not a test.
- **example lines** (HumanEval prompts written without doctests): a line calling the entry point
  on literal arguments, then ``==>``, ``=>``, ``->``, ``➞``, ``==``, ``=``, ``returns`` or
  ``should return``, then a literal (``true``/``false`` read as booleans; a trailing full stop or
  ``# comment`` dropped). Anything looser (``f(n) = 1 + n / 2``, ``is_happy(a) => False``) is not
  a test.
- **asserts** (MBPP shows one): every line that is a single ``assert`` statement.

:func:`parse_public_tests` reads them; :meth:`PublicTests.program` pairs a model output with
them as a :class:`~nlrl.verifiers.sandbox.TestedProgram` whose program is built exactly as the
code verifier builds it for grading (:func:`~nlrl.verifiers.code.build_job`), and whose trusted
tests record one verdict per test instead of stopping at the first failure;
:func:`run_public_tests` runs programs in the sandbox and returns those verdicts.

>>> t = parse_public_tests('def inc(x):\\n    \"\"\"\\n    >>> inc(1)\\n    2\\n    \"\"\"\\n')
>>> t.style, t.entry_point, [(c.source, c.expected, c.kind) for c in t.tests]
('doctest', 'inc', [('inc(1)', '2', 'value')])
"""

from __future__ import annotations

import ast
import re
import sys
import textwrap
from dataclasses import dataclass, replace
from typing import Any, Literal, Sequence

from .code import build_job
from .sandbox import RunResult, SandboxLimits, TestedProgram, run_many

__all__ = ["PublicRun", "PublicTest", "PublicTests", "parse_public_tests", "run_public_tests"]

Kind = Literal["value", "repr", "raises", "assert", "statement"]
Style = Literal["doctest", "examples", "assert", "none"]

#: The default limits of one candidate's run against the public tests.
DEFAULT_LIMITS = SandboxLimits(timeout_s=5.0, memory_mb=512, file_mb=1, disk_mb=8, procs=8,
                               output_bytes=64 * 1024)

_PROMPT = re.compile(r"^(\s*)>>>(?: (.*))?$")
_TRACEBACK = "Traceback (most recent call last)"
_SEPARATORS = re.compile(r"^(?:#\s*)?(?:==>|=>|->|➞|→|==|=|should\s+return|returns|return|gives|is)\s*", re.I)
_WORDS = {"true": "True", "false": "False", "none": "None", "null": "None"}


@dataclass(frozen=True)
class PublicTest:
    """One visible test: its ``source`` (an expression, a statement or an assert), the
    ``expected`` output as shown (None for statements and asserts), how it is judged, and the
    1-based line of the prompt it came from."""

    source: str
    expected: str | None
    kind: Kind
    line: int

    @property
    def counted(self) -> bool:
        """Whether it yields a verdict (statements only run)."""
        return self.kind != "statement"

    def to_dict(self) -> dict[str, Any]:
        return {"source": self.source, "expected": self.expected, "kind": self.kind, "line": self.line}


@dataclass(frozen=True)
class PublicTests:
    """The public tests of one prompt: where they came from and how to run a program on them."""

    style: Style
    entry_point: str | None
    tests: tuple[PublicTest, ...]
    question: str

    @property
    def counted(self) -> int:
        """How many tests yield a verdict."""
        return sum(t.counted for t in self.tests)

    def judge_code(self) -> str:
        """The trusted test code: runs every test in order and leaves one bool per counted test
        in ``__nlrl_result__`` (the sandbox's payload)."""
        parts = [_imports(self.tests), _HELPERS]
        for t in self.tests:
            parts.append(_test_code(t))
        return "\n".join(p for p in parts if p) + "\n"

    def program(self, output: str) -> TestedProgram:
        """``output``'s program, as the code verifier would build it, paired with these tests."""
        if self.style in ("doctest", "examples"):
            ref: dict[str, Any] = {"prompt": self.question, "test": "", "entry_point": self.entry_point}
        else:
            ref = {"test_list": [t.source for t in self.tests if t.kind == "assert"]}
        job = build_job(output, ref)
        assert isinstance(job, TestedProgram)
        return replace(job, tests=self.judge_code())

    def to_dict(self) -> dict[str, Any]:
        return {"style": self.style, "entry_point": self.entry_point, "counted": self.counted,
                "tests": [t.to_dict() for t in self.tests]}


@dataclass(frozen=True)
class PublicRun:
    """How one program did on the public tests: a verdict per counted test, and the run."""

    passed: tuple[bool, ...]
    result: RunResult

    @property
    def score(self) -> int:
        return sum(self.passed)

    def to_dict(self) -> dict[str, Any]:
        return {"passed": list(self.passed), "score": self.score, "status": self.result.status,
                "summary": self.result.summary()}


# ---- parsing ----------------------------------------------------------------------------------

def parse_public_tests(question: str) -> PublicTests:
    """The tests visible in ``question`` (see the module docstring); style ``none`` when there are
    none. Parsing runs nothing."""
    tree = _as_code(question)
    if tree is not None:
        funcs = [n for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]
        if funcs:
            entry = funcs[-1].name
            tests = _doctests(question)
            if any(t.counted for t in tests):
                return PublicTests("doctest", entry, tuple(tests), question)
            tests = _example_lines(question, entry)
            return PublicTests("examples" if tests else "none", entry, tuple(tests), question)
    asserts = _asserts(question)
    if asserts:
        return PublicTests("assert", _called(asserts[0].source), tuple(asserts), question)
    return PublicTests("none", None, (), question)


def _as_code(text: str) -> ast.Module | None:
    """``text`` as Python (a prompt ending in a bare signature and docstring gets a body)."""
    for src in (text, text.rstrip() + "\n    pass\n"):
        try:
            return ast.parse(src)
        except (SyntaxError, ValueError):
            continue
    return None


def _doctests(text: str) -> list[PublicTest]:
    lines = text.splitlines()
    tests: list[PublicTest] = []
    i = 0
    while i < len(lines):
        m = _PROMPT.match(lines[i])
        if not m:
            i += 1
            continue
        indent, start = m.group(1), i
        source = [m.group(2) or ""]
        i += 1
        cont = re.compile(re.escape(indent) + r"\.\.\.(?: (.*))?$")
        while i < len(lines) and (c := cont.match(lines[i])):
            source.append(c.group(1) or "")
            i += 1
        want: list[str] = []
        while i < len(lines):
            ln = lines[i]
            if not ln.strip() or _PROMPT.match(ln):
                break
            q = min((k for k in (ln.find('"""'), ln.find("'''")) if k >= 0), default=-1)
            if q >= 0:  # the docstring closes on this line
                if ln[:q].strip():
                    want.append(ln[:q])
                i += 1
                break
            want.append(ln)
            i += 1
        test = _doctest(textwrap.dedent("\n".join(source)).strip(), _dedent(want, indent), start + 1)
        if test is not None:
            tests.append(test)
    return tests


def _dedent(lines: list[str], indent: str) -> str:
    return "\n".join(ln[len(indent):] if ln.startswith(indent) else ln.strip() for ln in lines).strip()


def _doctest(source: str, want: str, line: int) -> PublicTest | None:
    if not source:
        return None
    expression = _compiles(source, "eval")
    if not expression and not _compiles(source, "exec"):
        return None  # not Python: nothing to run
    if not want:
        node = ast.parse(source, mode="eval").body if expression else None
        if isinstance(node, ast.Compare):  # ">>> f(x) == y" with its "True" left out
            return PublicTest(f"assert {source}", None, "assert", line)
        if isinstance(node, ast.Call):  # doctest: a call that prints nothing returned None
            return PublicTest(source, "None", "value", line)
        return PublicTest(source, None, "statement", line)
    if want.startswith(_TRACEBACK):
        last = want.splitlines()[-1].strip()
        name = last.split(":", 1)[0].strip().rsplit(".", 1)[-1]
        if not name.isidentifier():
            return None
        return PublicTest(source, name, "raises", line)
    if not expression:
        return None  # a statement with output (a print in a loop, say): not judged by value
    literal = _literal(want)
    if literal is not None:
        return PublicTest(source, literal, "value", line)
    return PublicTest(source, want, "repr", line)


def _compiles(source: str, mode: str) -> bool:
    try:
        compile(source, "<example>", mode, dont_inherit=True)
        return True
    except (SyntaxError, ValueError):
        return False


def _literal(text: str) -> str | None:
    """``text`` if it is a Python literal (``true``/``false``/``null`` mapped), else None."""
    text = text.strip()
    text = _WORDS.get(text.lower(), text) if text.lower() in _WORDS else text
    try:
        node = ast.parse(text, mode="eval").body
        ast.literal_eval(node)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return None
    return ast.unparse(node)  # one line, comments gone


def _example_lines(text: str, entry: str) -> list[PublicTest]:
    call = re.compile(rf"(?<![\w.]){re.escape(entry)}\s*\(")
    tests: list[PublicTest] = []
    for no, line in enumerate(text.splitlines(), 1):
        if re.match(rf"\s*(?:async\s+)?def\s+{re.escape(entry)}\b", line):
            continue
        m = call.search(line)
        if not m:
            continue
        found = _call_at(line, m.start())
        if found is None:
            continue
        source, end = found
        rest = _SEPARATORS.sub("", line[end:].strip(), count=1)
        if rest == line[end:].strip():
            continue  # no separator: not an example
        expected = _expected(rest)
        if expected is not None:
            tests.append(PublicTest(source, expected, "value", no))
    return tests


def _call_at(line: str, start: int) -> tuple[str, int] | None:
    """The call expression starting at ``start`` whose arguments are all literals, and where it ends."""
    for end in [i + 1 for i, ch in enumerate(line) if ch == ")" and i > start]:
        source = line[start:end]
        try:
            node = ast.parse(source, mode="eval").body
        except SyntaxError:
            continue
        if not isinstance(node, ast.Call):
            continue
        try:
            for arg in [*node.args, *(k.value for k in node.keywords)]:
                ast.literal_eval(arg)
        except (ValueError, SyntaxError, TypeError):
            return None
        return source, end
    return None


def _expected(rest: str) -> str | None:
    """The literal an example line ends with: all of ``rest``, or it without a trailing full stop,
    comment or parenthetical remark."""
    candidates = [rest, rest.rstrip(". ")]
    for mark in (" #", "  ", " ("):
        k = rest.find(mark)
        if k > 0:
            candidates.append(rest[:k].rstrip(". "))
    for c in candidates:
        lit = _literal(c)
        if lit is not None and c:
            return lit
    return None


def _asserts(text: str) -> list[PublicTest]:
    tests = []
    for no, line in enumerate(text.splitlines(), 1):
        s = line.strip()
        if not s.startswith("assert"):
            continue
        try:
            tree = ast.parse(s)
        except SyntaxError:
            continue
        if len(tree.body) == 1 and isinstance(tree.body[0], ast.Assert):
            tests.append(PublicTest(s, None, "assert", no))
    return tests


def _called(source: str) -> str | None:
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return None
    import builtins

    names = [n.func.id for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)]
    return next((n for n in names if not hasattr(builtins, n)), names[0] if names else None)


# ---- the judge's code -------------------------------------------------------------------------

_HELPERS = '''\
__nlrl_result__ = []


def __nlrl_same(a, b):
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if type(a) in (int, float) and type(b) in (int, float):
        return a == b or abs(a - b) <= 1e-6 * max(1.0, abs(b))
    if type(a) in (list, tuple):
        return type(a) is type(b) and len(a) == len(b) and all(__nlrl_same(x, y) for x, y in zip(a, b))
    if type(a) is dict:
        return type(b) is dict and a.keys() == b.keys() and all(__nlrl_same(a[k], b[k]) for k in a)
    return type(a) is type(b) and a == b


def __nlrl_raised(exc, name):
    return name in [c.__name__ for c in type(exc).__mro__] or str(exc).startswith(name + ":")
'''


def _indent(source: str) -> str:
    return textwrap.indent(source, "    ")


def _test_code(t: PublicTest) -> str:
    if t.kind == "statement":
        return f"try:\n{_indent(t.source)}\nexcept Exception:\n    pass\n"
    if t.kind == "raises":
        return (f"try:\n{_indent(t.source)}\n    __nlrl_result__.append(False)\n"
                f"except Exception as __nlrl_e:\n    __nlrl_result__.append(__nlrl_raised(__nlrl_e, {t.expected!r}))\n")
    if t.kind == "assert":
        test = ast.parse(t.source).body[0]
        assert isinstance(test, ast.Assert)
        expr = ast.unparse(test.test)
        check = f"bool({expr})"
    elif t.kind == "value":  # the source on lines of its own: a trailing comment ends there
        check = f"__nlrl_same((\n{t.source}\n), {t.expected})"
    else:  # repr
        check = f"' '.join(repr((\n{t.source}\n)).split()) == {' '.join(str(t.expected).split())!r}"
    return (f"try:\n    __nlrl_result__.append({check})\n"
            "except Exception:\n    __nlrl_result__.append(False)\n")


def _imports(tests: Sequence[PublicTest]) -> str:
    """``import m`` for each standard module the tests use as ``m.attr`` (``math.isclose``)."""
    names: list[str] = []
    for t in tests:
        try:
            tree = ast.parse(t.source)
        except SyntaxError:
            continue
        for node in ast.walk(tree):
            if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
                    and node.value.id in sys.stdlib_module_names and node.value.id not in names):
                names.append(node.value.id)
    return "".join(f"import {n}\n" for n in names)


# ---- running ----------------------------------------------------------------------------------

def run_public_tests(outputs: Sequence[str], tests: PublicTests, limits: SandboxLimits | None = None,
                     *, workers: int | None = None) -> list[PublicRun]:
    """Run each output's program against ``tests`` in the sandbox: a verdict per counted test
    (all False when the program does not load, times out or breaks the protocol)."""
    if not outputs:
        return []
    n = tests.counted
    runs = run_many([tests.program(o) for o in outputs], limits or DEFAULT_LIMITS, workers=workers)
    out = []
    for r in runs:
        got = r.payload if r.passed else None
        if isinstance(got, list) and len(got) == n and all(isinstance(v, bool) for v in got):
            passed = tuple(got)
        else:
            passed = (False,) * n
        out.append(PublicRun(passed, r))
    return out
