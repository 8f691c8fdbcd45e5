"""Math answers: decide whether two answers agree, and grade a solution's final answer (read by
:func:`~nlrl.verifiers.answers.extract_math_answer`, the answer convention's rule).

>>> extract_math_answer("so x = 1/2.\\n\\nFinal Answer: $\\\\frac{1}{2}$")
'\\\\frac{1}{2}'
>>> answers_equivalent("1/2", "0.5"), answers_equivalent("\\\\dfrac{1}{2}", "0.5"), answers_equivalent("025", "25")
(True, True, True)

Both answers are normalised first: boxes, dollars, ``\\left``/``\\right``, ``\\dfrac`` and LaTeX
spacing go (a row break ``\\\\`` stays), typographic wrappers go (:func:`strip_decoration`:
``\\underline{34}`` is 34), and a number followed by a space and only unit words ("12 dollars",
"3/4 of a cup", "45 percent") becomes the number (``45\\%`` for percent). Plain numbers (integers
with leading zeros or thousands commas, decimals, ``a/b``, ``\\frac{a}{b}``) are then compared
exactly in Python, percentages of them as the number or its hundredth (``45\\% = 45 = 0.45``);
everything else (LaTeX expressions, intervals, sets, tuples, matrices, units, ``\\text{}``) goes
to math-verify, under a per-check timeout. docs/verifiers.md lists each rule with its source.

math-verify's own timeout uses ``signal.alarm``, which only works in the main thread. We call it
with its timeouts off and guard it ourselves: in the main thread with an interval timer that
restores any timer the caller had armed (pytest-timeout's, say); in any other thread by sending
the check to a helper process that is killed and restarted when a check overruns.
"""

from __future__ import annotations

import atexit
import functools
import json
import logging
import os
import re
import select
import signal
import subprocess
import sys
import threading
import time
from fractions import Fraction
from typing import Any, Callable

from .._exceptions import VerifierError
from .answers import extract_math_answer, last_boxed, strip_decoration
from .base import Verdict, Verifier

__all__ = ["MathVerifier", "answers_equivalent", "extract_math_answer", "last_boxed", "strip_decoration"]

_log = logging.getLogger(__name__)

# ---------------------------------------------------------------------------------------------
# equivalence

# LaTeX spacing; a row break "\\\\" is kept whole (its second backslash followed by a space is not "\\ ")
_SPACES = re.compile(r"\\\\|\\[,!;: ]|\\quad|\\qquad|~|\s+")


def _spaces(m: re.Match[str]) -> str:
    return m.group(0) if m.group(0) == "\\\\" else " "


def _normalize(s: str) -> str:
    s = s.strip()
    if "\\boxed" in s or "\\fbox" in s:
        s = last_boxed(s) or s
    s = re.sub(r"(?<!\\)\$", "", s)  # unescaped dollars are math delimiters (or currency)
    s = strip_decoration(s)
    s = s.replace("\\dfrac", "\\frac").replace("\\tfrac", "\\frac")
    s = s.replace("\\left", "").replace("\\right", "").replace("\\displaystyle", "")
    s = _SPACES.sub(_spaces, s).strip()
    s = s.rstrip(".").strip()
    return _drop_unit_words(s)


# A number followed only by words: "12 dollars", "3/4 of a cup", "45 percent", "5 \text{ apples}".
# The words go (Minerva's normalize_final_answer drops unit words, MATH's strip_string drops a
# "\text{ unit}" on the right, GSM8K's graders read the number alone); "percent" becomes "\%".
# Words that change or are a value (pi, million, half, squared, ...) keep the answer as it is.
_NUMBER_WORDS = re.compile(
    r"([-+]?(?:\\\$\s*)?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?:\s*/\s*\d+)?|[-+]?\.\d+"
    r"|[-+]?\\frac\s*\{\d+\}\s*\{\d+\})\s*(\\?%)?\s+([A-Za-z][A-Za-z'\- .]*)")
_KEEP_WORDS = frozenset("""
pi e i sqrt inf infinity infty root roots squared cubed square-root log ln exp sin cos tan sec csc cot
hundred hundreds thousand thousands million millions billion billions trillion dozen dozens
half halves third thirds quarter quarters fourth fourths fifth fifths tenth tenths hundredth hundredths
and or plus minus times over divided by not no less more than at least most
""".split())


def _drop_unit_words(s: str) -> str:
    plain = re.sub(r"\\(?:text|mbox|mathrm|textrm)\s*\{([^{}]*)\}", r" \1 ", s)
    m = _NUMBER_WORDS.fullmatch(plain.strip())
    if not m:
        return s
    words = [w for w in re.split(r"[\s.]+", m.group(3).lower()) if w]
    if any(w in _KEEP_WORDS or (len(w) == 1 and w != "a") for w in words) or \
            all(w in ("a", "an", "the", "of", "per") for w in words):
        return s  # single letters are variables ("3 x"), except the article; "3a" has no space
    percent = m.group(2) is not None or words[0] in ("percent", "per-cent") or words[:2] == ["per", "cent"]
    return m.group(1).strip() + ("\\%" if percent else "")


def _textual(s: str) -> str:
    """A lenient textual key: ``\\text{}`` unwrapped, spaces dropped, lower case."""
    s = re.sub(r"\\(?:text|textbf|mathrm|mbox)\{([^{}]*)\}", r"\1", s)
    return re.sub(r"\s+", "", s).lower()


_PLAIN = re.compile(r"[-+]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d*)?|[-+]?\.\d+")
_RATIO = re.compile(r"([-+]?\d+)\s*/\s*([-+]?\d+)")
_FRAC = re.compile(r"([-+]?)\\frac\s*(?:\{\s*([-+]?\d+)\s*\}|(\d))\s*(?:\{\s*([-+]?\d+)\s*\}|(\d))")


def _plain_number(s: str) -> Fraction | None:
    """``s`` as an exact number when it is plainly one, else None."""
    s = s.replace("{,}", ",").replace(" ", "")
    if s.startswith("\\$"):
        s = s[2:]
    try:
        if _PLAIN.fullmatch(s):
            return Fraction(s.replace(",", ""))
        m = _RATIO.fullmatch(s)
        if m:
            return Fraction(int(m.group(1)), int(m.group(2)))
        m = _FRAC.fullmatch(s)
        if m:
            num = Fraction(int(m.group(2) or m.group(3)), int(m.group(4) or m.group(5)))
            return -num if m.group(1) == "-" else num
    except (ValueError, ZeroDivisionError):
        return None
    return None


def _percent(s: str) -> Fraction | None:
    """The number before a final ``%`` / ``\\%`` when ``s`` is plainly a percentage, else None."""
    m = re.fullmatch(r"(.+?)\s*\\?%", s)
    return _plain_number(m.group(1)) if m else None


def answers_equivalent(a: Any, b: Any, *, timeout_s: float | None = 5.0) -> bool:
    """Whether two final answers are mathematically the same (symmetric).

    ``1/2 = 0.5 = \\frac{1}{2}``, ``025 = 25``, ``\\{1,2\\} = \\{2,1\\}``, ``10\\% = 10``.
    A check that runs longer than ``timeout_s`` seconds counts as not equivalent. Safe to call
    from any thread.
    """
    if a is None or b is None:
        return False
    na, nb = _normalize(str(a)), _normalize(str(b))
    if not na or not nb:
        return False
    if na == nb or _textual(na) == _textual(nb):
        return True
    fa, fb = _plain_number(na), _plain_number(nb)
    if fa is not None and fb is not None:
        return fa == fb
    pa, pb = _percent(na), _percent(nb)  # "45\\%" is 45 (MATH drops "\\%") or 0.45 (its value)
    if (pa is not None or pb is not None) and (pa or fa) is not None and (pb or fb) is not None:
        va, vb = pa if pa is not None else fa, pb if pb is not None else fb
        return va == vb or (pa is not None and pb is None and va / 100 == vb) or \
            (pb is not None and pa is None and vb / 100 == va)
    key = (na, nb) if na <= nb else (nb, na)
    cached = _CACHE.get(key)
    if cached is not None:
        return cached
    try:
        result = _guarded(_mv_equivalent, key, timeout_s)
    except _CheckTimeout:
        _log.info("math equivalence check timed out after %ss: %r vs %r", timeout_s, na, nb)
        return False
    if len(_CACHE) < 65536:
        _CACHE[key] = result
    return result


_CACHE: dict[tuple[str, str], bool] = {}


@functools.lru_cache(maxsize=1)
def _math_verify() -> tuple[Callable[..., Any], Callable[..., Any]]:
    try:
        from math_verify import parse, verify
    except ImportError as exc:  # pragma: no cover - a core dependency
        raise VerifierError("math grading needs math-verify: pip install 'math-verify[antlr4_13_2]'") from exc
    # We pass timeouts of None on purpose (we guard the call); drop the warning saying so.
    for name in ("math_verify.parser", "math_verify.grader"):
        logging.getLogger(name).addFilter(lambda rec: "Timeout is disabled" not in rec.getMessage())
    return parse, verify


def _mv_equivalent(key: tuple[str, str]) -> bool:
    parse, verify = _math_verify()
    a, b = key
    pa = parse(f"${a}$", parsing_timeout=None)
    pb = parse(f"${b}$", parsing_timeout=None)
    if not pa or not pb:
        return False
    # verify(gold, target) is not symmetric (a gold interval accepts a matching tuple, ...)
    return bool(verify(pa, pb, timeout_seconds=None) or verify(pb, pa, timeout_seconds=None))


# ---------------------------------------------------------------------------------------------
# the timeout guard


class _CheckTimeout(BaseException):
    """Raised inside a check that overran; BaseException so library ``except Exception`` lets it through."""


def _guarded(fn: Callable[[Any], bool], arg: Any, timeout_s: float | None) -> bool:
    if timeout_s is None or timeout_s <= 0:
        return fn(arg)
    if threading.current_thread() is threading.main_thread() and hasattr(signal, "setitimer"):
        return _alarm_call(fn, arg, float(timeout_s))
    return _WORKER.call(arg, float(timeout_s))


def _alarm_call(fn: Callable[[Any], bool], arg: Any, timeout_s: float) -> bool:
    done = False

    def on_alarm(signum: int, frame: Any) -> None:
        if not done:
            raise _CheckTimeout()

    old_handler = signal.signal(signal.SIGALRM, on_alarm)
    # After the deadline the timer keeps firing every 50 ms: a raise that lands inside a
    # finalizer (sympy's weakref callbacks) is swallowed by Python, and the next one gets through.
    old_delay, old_interval = signal.setitimer(signal.ITIMER_REAL, timeout_s, 0.05)
    start = time.monotonic()
    try:
        return fn(arg)
    finally:
        done = True
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old_handler)
        if old_delay > 0:  # re-arm the caller's timer with what was left of it
            left = old_delay - (time.monotonic() - start)
            signal.setitimer(signal.ITIMER_REAL, max(left, 1e-3), old_interval)


class _Worker:
    """A helper process that runs checks for non-main threads; killed and restarted on overrun."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._proc: subprocess.Popen[bytes] | None = None
        self._buf = b""

    def _start(self) -> subprocess.Popen[bytes]:
        # Runs only math-verify (not nlrl, whose import is heavier); same check as _mv_equivalent.
        proc = subprocess.Popen(
            [sys.executable, "-c", _WORKER_SOURCE], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL, env=dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p)),
        )
        self._proc, self._buf = proc, b""
        if self._readline(120.0) != b"ready":
            self._kill()
            raise VerifierError("the math-check helper process did not start")
        return proc

    def _readline(self, timeout_s: float) -> bytes | None:
        assert self._proc is not None and self._proc.stdout is not None
        fd = self._proc.stdout.fileno()
        deadline = time.monotonic() + timeout_s
        while b"\n" not in self._buf:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                return None
            chunk = os.read(fd, 65536)
            if not chunk:
                return None
            self._buf += chunk
        line, self._buf = self._buf.split(b"\n", 1)
        return line

    def _kill(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None:
            proc.kill()
            proc.wait()
            for f in (proc.stdin, proc.stdout):
                if f is not None:
                    f.close()

    def call(self, key: tuple[str, str], timeout_s: float) -> bool:
        with self._lock:
            proc = self._proc if self._proc is not None and self._proc.poll() is None else self._start()
            assert proc.stdin is not None
            try:
                proc.stdin.write(json.dumps(list(key)).encode() + b"\n")
                proc.stdin.flush()
            except BrokenPipeError:
                self._kill()
                raise VerifierError("the math-check helper process died") from None
            line = self._readline(timeout_s)
            if line is None:
                self._kill()
                raise _CheckTimeout()
            return line == b"1"

    def close(self) -> None:
        with self._lock:
            self._kill()


_WORKER = _Worker()
atexit.register(_WORKER.close)


_WORKER_SOURCE = r"""
import json, logging, sys
from math_verify import parse, verify
logging.disable(logging.CRITICAL)
out = sys.stdout.buffer
out.write(b"ready\n"); out.flush()
for line in sys.stdin.buffer:
    try:
        a, b = json.loads(line)
        pa, pb = parse(f"${a}$", parsing_timeout=None), parse(f"${b}$", parsing_timeout=None)
        ok = bool(pa and pb and (verify(pa, pb, timeout_seconds=None) or verify(pb, pa, timeout_seconds=None)))
    except Exception:  # a check that crashes is a check that failed
        ok = False
    out.write(b"1\n" if ok else b"0\n"); out.flush()
"""


# ---------------------------------------------------------------------------------------------
# the verifier


class MathVerifier(Verifier):
    """Reads the final answer from ``output`` and compares it with ``reference`` by value.

    ``reference`` is the gold answer (a string or number); a gold *solution* holding a
    ``\\boxed{}`` answer is also accepted. Context: ``timeout_s`` (default 5).
    """

    name = "math"

    def __init__(self, timeout_s: float = 5.0) -> None:
        self.timeout_s = timeout_s

    def check(self, output: str, reference: Any, **context: Any) -> Verdict:
        if reference is None or (isinstance(reference, str) and not reference.strip()):
            raise VerifierError("math reference is empty")
        gold = str(reference)
        if "\\boxed" in gold or "\\fbox" in gold:
            gold = last_boxed(gold) or gold
        extracted = extract_math_answer(output or "")
        info = {"extracted": extracted, "gold": gold}
        if extracted is None:
            return Verdict.failed("no final answer found in the output", info=info)
        timeout_s = context.get("timeout_s", self.timeout_s)
        if answers_equivalent(extracted, gold, timeout_s=timeout_s):
            return Verdict.passed(f"{extracted!r} equals the reference {gold!r}", extracted, info=info)
        return Verdict.failed(f"{extracted!r} differs from the reference {gold!r}", extracted, info=info)
