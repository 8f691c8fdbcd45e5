"""Programs that read stdin and write stdout (APPS, CodeContests, LiveCodeBench), and APPS's and
LiveCodeBench's call-based form, graded by running them in the sandbox (:mod:`.sandbox`).

References (:func:`stdio_reference` reads each into one form):

- ``{"tests": [{"input": "1 2\\n", "output": "3\\n"}, ...]}`` (``test_cases`` is a synonym,
  ``expected`` a synonym of ``output``); optional ``fn_name`` (call-based: ``input`` is the list
  of arguments, ``output`` the return value) and ``float_tol``.
- LiveCodeBench: ``public_test_cases`` / ``private_test_cases``, each a JSON string (private ones
  also base64 + zlib + pickle, as LiveCodeBench ships them; only a pickled *string* is accepted)
  of ``{"input", "output", "testtype": "stdin" | "functional"}``; ``metadata`` (a JSON string)
  names ``func_name`` for functional tests, whose input holds one JSON argument per line.
- APPS: ``input_output``, a JSON string of ``{"inputs": [...], "outputs": [...], "fn_name"?}``.

**How a run is judged.** One sandboxed process runs every test of a candidate in turn, as
APPS's and LiveCodeBench's harnesses do: for each test the program is executed afresh as
``__main__`` with the test's input as ``sys.stdin`` (``input()``, ``sys.stdin.read()``,
``sys.stdin.buffer`` and ``open(0)`` read it) and its output captured, under a per-test time limit
(``timeout_s``, an interval timer); the whole run has ``total_timeout_s`` of wall clock (and as
many CPU seconds) and ``memory_mb`` of address space. Each test's output goes back to the
parent, which compares it with the expected output, so a program never sees an expected output.
A program writing more than its test's output allowance (twice the expected output plus 64 KiB)
fails that test at once. Output written to file descriptor 1 directly (``os.write(1, ...)``)
is not captured.

**Comparison** (stdin/stdout): both outputs are split on whitespace, so trailing whitespace,
the final newline and line structure do not matter (CodeContests' and Codeforces' default token
checker; APPS's harness accepts the same after its fallbacks). Tokens are equal as strings, or
as decimal numbers of the same value (``1.0`` = ``1``: LiveCodeBench's ``Decimal`` comparison),
or, when ``float_tol`` is set, as numbers within an absolute or relative error of ``float_tol``
(Codeforces' "absolute or relative error does not exceed 1e-6"). Call-based results are
compared as JSON values (tuples are lists), and APPS's ``outputs[i]`` wrapped in a one-element
list also matches the bare value, as APPS's harness allows.

``score`` = share of tests passed; ``correct`` = all passed; ``detail`` names the first failing
test with its input, expected and actual output (each truncated).
"""

from __future__ import annotations

import base64
import io
import json
import math
import pickle
import secrets
import zlib
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, Mapping, Sequence

from .._exceptions import VerifierError
from .answers import extract_code
from .base import Verdict, Verifier
from .sandbox import RunResult, SandboxLimits, run_many

__all__ = ["StdioCase", "StdioReference", "StdioVerifier", "outputs_match", "stdio_reference"]

_TRUNCATE = 200
_SLACK = 64 << 10


@dataclass(frozen=True)
class StdioCase:
    """One test: ``input`` is stdin text (or, call-based, the argument list); ``output`` the
    expected stdout text (or return value)."""

    input: Any
    output: Any


@dataclass(frozen=True)
class StdioReference:
    tests: tuple[StdioCase, ...]
    fn_name: str | None = None  # call-based when set
    float_tol: float | None = None


# ---------------------------------------------------------------------------------------------
# reading the layouts


class _StringsOnly(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:  # no object but plain data is rebuilt
        raise pickle.UnpicklingError(f"refusing to load {module}.{name}")


def _lcb_tests(raw: Any, field: str) -> list[Any]:
    if raw is None or raw == "":
        return []
    if isinstance(raw, list):
        return raw
    if not isinstance(raw, str):
        raise VerifierError(f"{field} must be a JSON string or a list")
    try:
        return json.loads(raw)
    except json.JSONDecodeError:
        pass
    try:  # LiveCodeBench's private tests: base64(zlib(pickle(json string)))
        text = _StringsOnly(io.BytesIO(zlib.decompress(base64.b64decode(raw.encode("ascii"))))).load()
        if isinstance(text, bytes):
            text = text.decode("utf-8")
        if not isinstance(text, str):
            raise ValueError("not a string")
        tests = json.loads(text)
    except (ValueError, zlib.error, pickle.UnpicklingError, EOFError, UnicodeError, TypeError) as exc:
        raise VerifierError(f"{field} is neither JSON nor LiveCodeBench's compressed form ({exc})") from None
    if not isinstance(tests, list):
        raise VerifierError(f"{field} must hold a list of tests")
    return tests


def _json_field(ref: Mapping[str, Any], key: str) -> Any:
    value = ref.get(key)
    if isinstance(value, str):
        try:
            return json.loads(value) if value.strip() else None
        except json.JSONDecodeError as exc:
            raise VerifierError(f"{key} is not valid JSON ({exc.msg})") from None
    return value


def _tol(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        raise VerifierError(f"float_tol must be a non-negative number, got {value!r}")
    return float(value)


def stdio_reference(ref: Any) -> StdioReference:
    """Read any of the reference layouts (see the module docstring) into a :class:`StdioReference`."""
    if isinstance(ref, StdioReference):
        return ref
    if isinstance(ref, str):
        try:
            ref = json.loads(ref)
        except json.JSONDecodeError:
            raise VerifierError("a stdio reference string must be JSON") from None
    if not isinstance(ref, Mapping):
        raise VerifierError(f"stdio reference must be a dict of tests, got {type(ref).__name__}")
    tol = _tol(ref.get("float_tol"))
    fn_name = ref.get("fn_name") or None
    cases: list[StdioCase] = []
    if "public_test_cases" in ref or "private_test_cases" in ref:  # LiveCodeBench
        meta = _json_field(ref, "metadata") or {}
        fn_name = fn_name or (meta.get("func_name") if isinstance(meta, Mapping) else None)
        raw = _lcb_tests(ref.get("public_test_cases"), "public_test_cases") + \
            _lcb_tests(ref.get("private_test_cases"), "private_test_cases")
        functional = False
        for t in raw:
            if not isinstance(t, Mapping) or "input" not in t or "output" not in t:
                raise VerifierError(f"each LiveCodeBench test needs 'input' and 'output', got {str(t)[:80]}")
            if t.get("testtype") == "functional":
                functional = True
                try:
                    args = [json.loads(line) for line in str(t["input"]).split("\n") if line.strip()]
                    cases.append(StdioCase(args, json.loads(t["output"])))
                except json.JSONDecodeError as exc:
                    raise VerifierError(f"a functional test is not JSON lines ({exc.msg})") from None
            else:
                cases.append(StdioCase(str(t["input"]), str(t["output"])))
        if functional and not fn_name:
            raise VerifierError("functional LiveCodeBench tests need metadata.func_name")
        if not functional:
            fn_name = None
    elif "input_output" in ref:  # APPS
        io_ = _json_field(ref, "input_output")
        if not isinstance(io_, Mapping) or not isinstance(io_.get("inputs"), list) \
                or not isinstance(io_.get("outputs"), list):
            raise VerifierError("APPS input_output needs 'inputs' and 'outputs' lists")
        if len(io_["inputs"]) != len(io_["outputs"]):
            raise VerifierError("APPS input_output has different numbers of inputs and outputs")
        fn_name = fn_name or io_.get("fn_name") or None
        for i, o in zip(io_["inputs"], io_["outputs"]):
            if fn_name:
                cases.append(StdioCase(i if isinstance(i, list) else [i], o))
            else:
                cases.append(StdioCase(_text(i), _text(o)))
    else:
        tests = ref.get("tests", ref.get("test_cases"))
        if not isinstance(tests, list):
            raise VerifierError("stdio reference needs 'tests' (a list of {'input', 'output'}), "
                                "LiveCodeBench's public_test_cases or APPS's input_output")
        for t in tests:
            if not isinstance(t, Mapping) or "input" not in t or ("output" not in t and "expected" not in t):
                raise VerifierError(f"each stdio test needs 'input' and 'output', got {str(t)[:80]}")
            out = t["output"] if "output" in t else t["expected"]
            if fn_name:
                args = t["input"] if isinstance(t["input"], list) else [t["input"]]
                cases.append(StdioCase(args, out))
            else:
                cases.append(StdioCase(_text(t["input"]), _text(out)))
    if not cases:
        raise VerifierError("stdio reference has no tests")
    if fn_name is not None and not (isinstance(fn_name, str) and fn_name.isidentifier()):
        raise VerifierError(f"fn_name must be a Python identifier, got {fn_name!r}")
    return StdioReference(tuple(cases), fn_name, tol)


def _text(value: Any) -> str:
    if isinstance(value, list):  # APPS writes some inputs/outputs as lists of lines
        return "\n".join(str(v) for v in value)
    return value if isinstance(value, str) else str(value)


# ---------------------------------------------------------------------------------------------
# comparison


def _decimal(token: str) -> Decimal | None:
    try:
        d = Decimal(token)
    except InvalidOperation:
        return None
    return d if d.is_finite() else None


def outputs_match(actual: str, expected: str, float_tol: float | None = None) -> bool:
    """Whether ``actual`` stdout matches ``expected`` (whitespace-split tokens; see the module
    docstring)."""
    got, want = actual.split(), expected.split()
    if len(got) != len(want):
        return False
    for g, w in zip(got, want):
        if g == w:
            continue
        dg, dw = _decimal(g), _decimal(w)
        if dg is None or dw is None:
            return False
        if dg == dw:
            continue
        if float_tol is None:
            return False
        diff = abs(float(dg) - float(dw))
        if not (diff <= float_tol or diff <= float_tol * abs(float(dw))):
            return False
    return True


def _values_match(got: Any, want: Any, float_tol: float | None) -> bool:
    if isinstance(want, bool) or isinstance(got, bool):
        return isinstance(got, bool) and isinstance(want, bool) and got is want
    if isinstance(want, (int, float)) and isinstance(got, (int, float)):
        if float_tol is None:
            return got == want
        return abs(got - want) <= float_tol * max(1.0, abs(want))
    if isinstance(want, list) and isinstance(got, list):
        return len(got) == len(want) and all(_values_match(g, w, float_tol) for g, w in zip(got, want))
    if isinstance(want, dict) and isinstance(got, dict):
        return got.keys() == want.keys() and all(_values_match(got[k], want[k], float_tol) for k in want)
    return bool(got == want)


def _call_match(got: Any, want: Any, float_tol: float | None) -> bool:
    # APPS writes outputs[i] as [value]; its harness accepts the bare value too
    return _values_match(got, want, float_tol) or (
        isinstance(want, list) and len(want) == 1 and _values_match(got, want[0], float_tol))


# ---------------------------------------------------------------------------------------------
# the program the sandbox runs

_RUNNER = r'''
import builtins as _b, io as _io, json as _json, os as _os, signal as _signal, sys as _sys, time as _time
_write, _dumps, _mono = _os.write, _json.dumps, _time.monotonic
_TAG, _MODE, _FN, _PER = {tag!r}, {mode!r}, {fn!r}, {per!r}
_CASES, _CAPS = _json.loads({cases!r}), {caps!r}
_SRC = {src!r}

class _Limit(BaseException):
    pass

class _TimeUp(_Limit):
    pass

class _TooMuch(_Limit):
    pass

class _Sink(_io.BytesIO):
    def __init__(self, cap, strict=True):
        super().__init__()
        self.cap, self.strict = cap, strict
    def write(self, b):
        if self.tell() + len(b) > self.cap:
            if self.strict:
                raise _TooMuch()
            return len(b)  # stderr beyond its allowance is dropped
        return super().write(b)

def _alarm(signum, frame):
    raise _TimeUp()

def _emit(rec):
    line = ("\n" + _TAG + " " + _dumps(rec, ensure_ascii=False) + "\n").encode("utf-8", "replace")
    while line:
        line = line[_write(1, line):]

def _plain(v):
    if isinstance(v, tuple):
        v = list(v)
    if isinstance(v, list):
        return [_plain(x) for x in v]
    if isinstance(v, dict):
        return {{str(k): _plain(x) for k, x in v.items()}}
    return v

_signal.signal(_signal.SIGALRM, _alarm)
_real_open, _limit = _b.open, _sys.getrecursionlimit()
try:
    _code = compile(_SRC, "solution.py", "exec")
    _compile_error = None
except (SyntaxError, ValueError) as _e:
    _compile_error = type(_e).__name__ + ": " + str(_e)
_module = None
for _i, _case in enumerate(_CASES):
    if _compile_error:
        _emit({{"i": _i, "status": "error", "error": _compile_error}})
        continue
    _out = _io.TextIOWrapper(_Sink(_CAPS[_i]), encoding="utf-8", write_through=True)
    _err = _io.TextIOWrapper(_Sink(4096, False), encoding="utf-8", write_through=True)
    _stdin = _io.TextIOWrapper(_io.BytesIO((_case if _MODE == "stdio" else "").encode("utf-8")), encoding="utf-8")
    def _open(file, *a, _o=_real_open, _in=_stdin, **k):
        return _in if file in (0, "/dev/stdin") else _o(file, *a, **k)
    _builtins = dict(vars(_b), open=_open)
    _sys.stdin, _sys.stdout, _sys.stderr = _stdin, _out, _err
    _rec = {{"i": _i, "status": "ok"}}
    _t0 = _mono()
    _signal.setitimer(_signal.ITIMER_REAL, _PER)
    try:
        try:
            if _MODE == "stdio":
                exec(_code, {{"__name__": "__main__", "__builtins__": _builtins}})
            else:
                if _module is None:
                    _module = {{"__name__": "solution", "__builtins__": _builtins}}
                    exec(_code, _module)
                _f = _module.get(_FN)
                if not callable(_f) and isinstance(_module.get("Solution"), type):
                    _f = getattr(_module["Solution"](), _FN, None)
                if not callable(_f):
                    raise NameError("the program defines no function " + repr(_FN))
                _rec["value"] = _plain(_f(*_case))
        except SystemExit as _e:
            if _e.code not in (None, 0):
                _rec = {{"i": _i, "status": "error", "error": "exit status " + str(_e.code)}}
        finally:
            _signal.setitimer(_signal.ITIMER_REAL, 0)
    except _TimeUp:
        _rec = {{"i": _i, "status": "timeout"}}
    except _TooMuch:
        _rec = {{"i": _i, "status": "output_limit"}}
    except BaseException as _e:
        _rec = {{"i": _i, "status": "error", "error": (type(_e).__name__ + ": " + str(_e))[:300]}}
    _signal.setitimer(_signal.ITIMER_REAL, 0)
    _sys.stdin, _sys.stdout, _sys.stderr = _sys.__stdin__, _sys.__stdout__, _sys.__stderr__
    _sys.setrecursionlimit(_limit)
    _rec["t"] = round(_mono() - _t0, 4)
    if _MODE == "stdio" and _rec["status"] != "output_limit":
        try:
            _out.flush()
        except BaseException:
            pass
        _rec["out"] = _out.buffer.getvalue().decode("utf-8", "replace")
    try:
        _emit(_rec)
    except (TypeError, ValueError):
        _emit({{"i": _i, "status": "error", "error": "the return value is not JSON-serialisable"}})
'''


def build_program(output: str, reference: Any, *, timeout_s: float = 6.0, tag: str | None = None) -> str:
    """The program the sandbox runs for ``output`` against ``reference`` (for inspection)."""
    ref = stdio_reference(reference)
    code = extract_code(output or "", ref.fn_name)
    return _program(code, ref, timeout_s, tag or "nlrl-stdio")


def _program(code: str, ref: StdioReference, timeout_s: float, tag: str) -> str:
    mode = "call" if ref.fn_name else "stdio"
    caps = [2 * len(json.dumps(c.output).encode("utf-8")) + _SLACK for c in ref.tests]
    cases = json.dumps([c.input for c in ref.tests])
    return _RUNNER.format(tag=tag, mode=mode, fn=ref.fn_name, per=float(timeout_s), cases=cases, caps=caps, src=code)


def _clip(text: Any) -> str:
    s = text if isinstance(text, str) else json.dumps(text)
    return s if len(s) <= _TRUNCATE else s[:_TRUNCATE] + f"... ({len(s)} chars)"


def _results(run: RunResult, tag: str, n: int) -> dict[int, dict[str, Any]]:
    found: dict[int, dict[str, Any]] = {}
    prefix = tag + " "
    for line in run.stdout.split("\n"):
        if line.startswith(prefix):
            try:
                rec = json.loads(line[len(prefix):])
            except json.JSONDecodeError:
                continue
            i = rec.get("i") if isinstance(rec, dict) else None
            if isinstance(i, int) and 0 <= i < n and i not in found:
                found[i] = rec
    return found


def _verdict(ref: StdioReference, run: RunResult, tag: str) -> Verdict:
    n = len(ref.tests)
    results = _results(run, tag, n)
    passed, first_bad = 0, ""
    for i, case in enumerate(ref.tests):
        rec = results.get(i)
        if rec is None:
            why = "the run ended before this test" + ("" if run.passed else f" ({run.summary()})")
            ok, got = False, None
        elif rec.get("status") == "ok":
            if ref.fn_name:
                got = rec.get("value")
                ok = _call_match(got, case.output, ref.float_tol)
            else:
                got = rec.get("out", "")
                ok = outputs_match(got, case.output, ref.float_tol)
            why = "wrong answer"
        else:
            ok, got = False, rec.get("out")
            status = rec.get("status")
            why = {"timeout": "time limit exceeded", "output_limit": "output limit exceeded"}.get(
                str(status), str(rec.get("error") or status))
        if ok:
            passed += 1
        elif not first_bad:
            first_bad = (f"test {i} ({why}): input {_clip(case.input)!r}, expected {_clip(case.output)!r}, "
                         f"got {_clip(got) if got is not None else 'nothing'!r}")
    detail = f"passed {passed}/{n} tests" + (f"; {first_bad}" if first_bad else "")
    return Verdict(passed == n, passed / n, detail)


class StdioVerifier(Verifier):
    """Runs the output's program on each test's input in the sandbox (see the module docstring).

    Options: ``timeout_s`` (per test, default 6 s, LiveCodeBench's), ``total_timeout_s`` (the
    whole run, default ``timeout_s`` times the number of tests plus 5 s, at most 120 s),
    ``memory_mb`` (1024), ``float_tol`` (default: the reference's), ``workers`` (parallel
    sandboxes in :meth:`check_many`). Context keys of the same names override them per check.
    """

    name = "stdio"

    def __init__(self, timeout_s: float = 6.0, total_timeout_s: float | None = None, memory_mb: int = 1024,
                 float_tol: float | None = None, workers: int | None = None) -> None:
        if not (isinstance(timeout_s, (int, float)) and timeout_s > 0):
            raise VerifierError(f"timeout_s must be positive, got {timeout_s!r}")
        self.timeout_s = float(timeout_s)
        self.total_timeout_s = total_timeout_s
        self.memory_mb = memory_mb
        self.float_tol = _tol(float_tol)
        self.workers = workers

    def check(self, output: str, reference: Any, **context: Any) -> Verdict:
        return self.check_many([(output, reference)], **context)[0]

    def check_many(self, items: "Sequence[tuple[str, Any]]", **context: Any) -> list[Verdict]:
        per = float(context.get("timeout_s", self.timeout_s))
        total = context.get("total_timeout_s", self.total_timeout_s)
        memory = int(context.get("memory_mb", self.memory_mb))
        tol = _tol(context.get("float_tol", self.float_tol))
        jobs = []
        for output, reference in items:
            ref = stdio_reference(reference)
            if tol is not None and ref.float_tol is None:
                ref = StdioReference(ref.tests, ref.fn_name, tol)
            tag = "nlrl-stdio-" + secrets.token_hex(8)
            program = _program(extract_code(output or "", ref.fn_name), ref, per, tag)
            wall = float(total) if total is not None else min(120.0, per * len(ref.tests) + 5.0)
            out_bytes = sum(2 * len(json.dumps(c.output).encode("utf-8")) + _SLACK + 1024 for c in ref.tests) * 2
            limits = SandboxLimits(timeout_s=wall, memory_mb=memory, output_bytes=max(out_bytes, 1 << 20))
            jobs.append((ref, tag, program, limits))
        runs: list[RunResult | None] = [None] * len(jobs)
        by_limits: dict[SandboxLimits, list[int]] = {}
        for k, (_, _, _, limits) in enumerate(jobs):
            by_limits.setdefault(limits, []).append(k)
        for limits, ks in by_limits.items():
            for k, run in zip(ks, run_many([jobs[k][2] for k in ks], limits, workers=self.workers)):
                runs[k] = run
        return [_verdict(ref, run, tag) for (ref, tag, _, _), run in zip(jobs, runs) if run is not None]
