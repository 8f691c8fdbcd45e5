"""The sandbox fails closed: no isolating mode means no untrusted code runs, unless asked for.

Everything here is safe to run anywhere: the refusals run nothing, and the programs run in
"unsafe" mode are not destructive.
"""

from __future__ import annotations

import json
import os

import pytest
from typer.testing import CliRunner

from nlrl._exceptions import VerifierError
from nlrl.cli import app
from nlrl.verifiers import get_verifier
from nlrl.verifiers import sandbox as sb
from nlrl.verifiers.code import build_job

TESTS = "assert add(2, 3) == 5\nassert add(-1, 1) == 0\n"
WRONG = "\ndef add(a, b):\n    return None\n"
LIMITS = sb.SandboxLimits(timeout_s=2.0, memory_mb=256, procs=16, output_bytes=256 * 1024)


@pytest.fixture
def fresh(monkeypatch):
    """A process that has not decided its mode yet."""
    monkeypatch.setattr(sb, "_MODE", None)
    monkeypatch.setattr(sb, "_WHY", {})
    monkeypatch.setattr(sb, "_WARNED_AT", None, raising=False)
    monkeypatch.delenv("NLRL_SANDBOX", raising=False)
    return monkeypatch


@pytest.fixture
def nothing_isolates(fresh, tmp_path):
    """A machine without bubblewrap whose kernel refuses user namespaces (and not root)."""
    real = sb._probe
    reasons = {"namespaces": "needs root", "userns": "unshare (user namespaces) failed: Operation not permitted"}

    def probe(mode):
        return reasons[mode] if mode in reasons else real(mode)

    fresh.setattr(sb, "_probe", probe)
    fresh.setenv("PATH", str(tmp_path))  # no bwrap on PATH: the real probe finds none
    return tmp_path


def test_refuses_with_what_is_missing_and_how_to_get_it(nothing_isolates):
    with pytest.raises(VerifierError) as exc:
        sb.isolation()
    msg = str(exc.value)
    assert "bwrap (bubblewrap) is not installed" in msg
    assert "apt-get install bubblewrap" in msg
    assert "unprivileged_userns_clone" in msg and "CAP_SYS_ADMIN" in msg
    assert "NLRL_SANDBOX=unsafe" in msg and "--unsafe-sandbox" in msg
    assert sb.sandbox_info().startswith("sandbox: none (")


def test_refusal_runs_nothing(nothing_isolates):
    marker = nothing_isolates / "ran"
    program = f"open({str(marker)!r}, 'w').write('ran')\n" + WRONG
    with pytest.raises(VerifierError):
        sb.run_program(program, LIMITS)
    with pytest.raises(VerifierError):
        sb.run_many([program, program], LIMITS)
    with pytest.raises(VerifierError):
        get_verifier("code").check(program, TESTS)
    assert not marker.exists()


def test_a_forced_mode_never_downgrades(fresh, tmp_path):
    fresh.setenv("PATH", str(tmp_path))
    fresh.setenv("NLRL_SANDBOX", "bwrap")
    with pytest.raises(VerifierError, match="bwrap: bwrap \\(bubblewrap\\) is not installed"):
        sb.isolation()
    fresh.setenv("NLRL_SANDBOX", "basic")
    with pytest.raises(VerifierError, match="NLRL_SANDBOX must be one of namespaces, bwrap, userns, unsafe, auto"):
        sb.isolation()


def test_cli_grade_fails_closed_in_one_line(nothing_isolates, tmp_path):
    preds = tmp_path / "p.jsonl"
    preds.write_text(json.dumps({"output": "def add(a, b):\n    return a + b\n", "reference": TESTS,
                                 "checker": "code"}) + "\n")
    result = CliRunner().invoke(app, ["grade", str(preds)])
    assert result.exit_code == 1
    lines = [ln for ln in result.output.splitlines() if ln.startswith("error:")]
    assert len(lines) == 1 and "no isolating sandbox" in lines[0]


def test_unsafe_is_an_explicit_opt_in_with_a_warning_every_run(nothing_isolates, capsys):
    nothing_isolates_env = os.environ.copy()
    os.environ["NLRL_SANDBOX"] = "unsafe"
    try:
        assert sb.isolation() == "unsafe"
        for _ in range(2):
            r = sb.run_program(build_job("def add(a, b):\n    return a + b\n", TESTS), LIMITS)
            assert r.passed and r.isolation == "unsafe"
            assert "WARNING: NLRL_SANDBOX=unsafe" in capsys.readouterr().err
        assert sb.sandbox_info().startswith("sandbox: unsafe (NO ISOLATION")
    finally:
        os.environ.clear()
        os.environ.update(nothing_isolates_env)


def test_cli_unsafe_sandbox_flag(nothing_isolates, tmp_path):
    preds = tmp_path / "p.jsonl"
    preds.write_text("\n".join(json.dumps({"output": o, "reference": TESTS, "checker": "code"})
                               for o in ("def add(a, b):\n    return a + b\n", WRONG)) + "\n")
    result = CliRunner().invoke(app, ["grade", str(preds), "--unsafe-sandbox"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout.strip().splitlines()[-1])["correct"] == 1
    assert "WARNING: NLRL_SANDBOX=unsafe" in result.output
    assert "sandbox: unsafe" in result.output
    assert "NLRL_SANDBOX" not in os.environ  # the flag lasts one command


def test_sandbox_info_cli():
    result = CliRunner().invoke(app, ["grade", "--sandbox-info"])
    assert result.exit_code == 0
    assert result.output.startswith("sandbox: ") and len(result.output.strip().splitlines()) == 1


def test_unsafe_mode_still_judges_from_outside(fresh):
    """Non-destructive properties that hold without namespaces: the judge, the limits, seccomp."""
    fresh.setenv("NLRL_SANDBOX", "unsafe")
    he = {"prompt": "def add(a, b):\n", "test": "def check(candidate):\n    assert candidate(2, 3) == 5\n",
          "entry_point": "add"}
    progs = [
        build_job("import sys\nsys.exit(0)\n" + WRONG, TESTS),
        build_job("import os\nos._exit(0)\n" + WRONG, TESTS),
        build_job("while True:\n    pass\n", TESTS),
        build_job("while True:\n    print('x' * 100000)\n", TESTS),
        build_job("import socket\nsocket.create_connection(('127.0.0.1', 9), timeout=1)\n" + WRONG, TESTS),
        build_job("    class Eq:\n        def __eq__(self, o):\n            return True\n    return Eq()\n", he),
        build_job("import os\nfor fd in range(3, 64):\n    try:\n        os.write(1, b'\\n' + os.read(fd, 64) + b' null\\n')\n"
                  "    except OSError:\n        pass\nos._exit(0)\n" + WRONG, TESTS),
        build_job("def add(a, b):\n    return a + b\n", TESTS),
    ]
    results = sb.run_many(progs, LIMITS, workers=4)
    assert [r.isolation for r in results] == ["unsafe"] * len(progs)
    assert [r.passed for r in results] == [False] * 7 + [True]
    assert results[2].status == "timeout" and results[3].status == "output_limit"
    assert "Address family not supported" in results[4].summary()
    assert "not a plain value" in results[5].summary()
    for r in results:
        assert sb._pids_where(sid=r.sid) == []


def test_bwrap_runs_from_an_interpreter_under_tmp(fresh, tmp_path):
    """A virtual environment in /tmp: bubblewrap mounts an empty tmpfs there, so the jail execs
    the interpreter the venv's link resolves to (found running the suite from a venv in /tmp)."""
    if sb._bwrap() is None:
        pytest.skip("bwrap (bubblewrap) is not installed")
    import sys

    link = tmp_path / "python3"  # tmp_path is under /tmp, as a venv's bin/python3 would be
    link.symlink_to(os.path.realpath(sys.executable))
    fresh.setattr(sys, "executable", str(link))
    fresh.setenv("NLRL_SANDBOX", "bwrap")
    assert sb._probe("bwrap") == ""  # it runs, rather than failing to exec
    assert not sb._bwrap_python().startswith("/tmp/")
    verdict = get_verifier("code").check("def add(a, b):\n    return a + b\n", TESTS)
    assert verdict.correct
