"""Run untrusted Python in a fresh, isolated subprocess; a process it cannot reach decides the verdict.

Model-generated code runs only through :func:`run_program` (or :func:`run_many`, which drives
several in parallel threads). Every run is a new jail holding a new interpreter: a scrubbed
environment (an allow-list: ``PATH``, ``HOME``, ``TMPDIR``, ``PWD``, ``LANG``, ``LC_ALL``; no keys or
tokens of the caller), stdin closed, no file descriptor but 0-2 and its own pipes, rlimits
(address space, CPU seconds, file size, open files, processes, no core dumps), a wall-clock
timeout, output capped, and the whole process tree killed at the end.

**Modes** (:func:`isolation` picks one once per process; ``NLRL_SANDBOX`` forces one; see
``docs/verifiers.md`` for the table):

- ``namespaces`` (root): ``_jail.py`` builds new mount, network, PID, IPC and UTS namespaces,
  remounts every file system read-only, gives the program a private size-limited tmpfs on /tmp
  and drops to a throw-away uid.
- ``bwrap`` (any user with bubblewrap): the same jail built by ``bwrap`` in a user namespace;
  the program keeps the caller's uid (mapped), with no capabilities.
- ``userns`` (any user, kernel allowing unprivileged user namespaces): ``_jail.py`` in a user
  namespace of its own, as bwrap does.
- ``unsafe`` (only when asked for, ``NLRL_SANDBOX=unsafe``): no namespaces; the program runs
  with the caller's uid and can read, write and signal what that uid can. A warning is printed
  every time it is chosen.

When no isolating mode works, :func:`isolation` raises :class:`~nlrl.VerifierError` naming what
is missing: untrusted code never runs in a weaker mode than asked for.

In every mode the trusted harness (``_harness.py``) sets no_new_privs and a seccomp filter
(``_seccomp.py``: no ``socket()`` of any family, no ptrace, mount, bpf, keyctl, perf_event_open,
unshare/setns or namespace clones, ...) before the program starts.

**The verdict.** The harness is two processes: a judge, which is not dumpable (no process of
the same uid can read its memory or descriptors) and reads the secret nonce only after forking
the runner, and the runner, which runs the program. With :class:`TestedProgram` the judge runs
the trusted tests itself and calls the program's functions through a pipe, exchanging plain
built-in values only (see ``_harness.py``), so no ``__eq__`` of the program's runs in a
comparison and no early ``exit(0)`` skips a test. "passed" means the parent saw the nonce on
stdout and exit status 0. With a plain source (:func:`run_program` on a ``str``), the program is
all there is: "passed" means it ran to its end without an exception.
"""

from __future__ import annotations

import ast
import builtins
import json
import logging
import os
import re
import secrets
import select
import shutil
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Sequence, Union

from .._exceptions import VerifierError
from ._seccomp import filter_program

__all__ = ["MODES", "RunResult", "SandboxLimits", "TestedProgram", "isolation", "run_many", "run_program",
           "sandbox_info"]

_log = logging.getLogger(__name__)
_HERE = Path(__file__).parent
_JAIL = str(_HERE / "_jail.py")
_HARNESS = (_HERE / "_harness.py").read_text(encoding="utf-8")
_JAIL_FAILED = 97
MODES = ("namespaces", "bwrap", "userns", "unsafe")
ISOLATING = MODES[:3]

Status = Literal["passed", "failed", "timeout", "output_limit", "process_limit"]


@dataclass(frozen=True)
class SandboxLimits:
    """Resource limits of one run. ``cpu_s`` defaults to the wall-clock timeout, rounded up."""

    timeout_s: float = 10.0
    memory_mb: int = 1024
    cpu_s: int | None = None
    file_mb: int = 16
    disk_mb: int = 64
    procs: int = 32
    output_bytes: int = 1 << 20

    def as_dict(self) -> dict[str, int]:
        cpu = self.cpu_s if self.cpu_s is not None else max(1, int(self.timeout_s + 0.999))
        return {"memory_mb": self.memory_mb, "cpu_s": cpu, "file_mb": self.file_mb,
                "disk_mb": self.disk_mb, "procs": self.procs}


@dataclass(frozen=True)
class TestedProgram:
    """An untrusted ``program`` and the trusted ``tests`` that judge it from another process.

    ``prelude`` (trusted, e.g. HumanEval's prompt) runs in the tests' namespace first; then
    ``entry_point`` and every other name the tests use but do not define are looked up in the
    program, as handles: calling one runs the program's function on copies of plain values and
    returns a plain value (or another handle, which cannot be compared)."""

    program: str
    tests: str
    prelude: str = ""
    entry_point: str | None = None


Source = Union[str, TestedProgram]


@dataclass(frozen=True)
class RunResult:
    """How one run ended. ``payload`` is the JSON value left in ``__nlrl_result__`` by the program
    (a plain source) or by the trusted tests (a :class:`TestedProgram` whose tests all ran);
    ``failure`` is the judge's report when a run failed (see the field)."""

    status: Status
    exit_code: int | None
    stdout: str
    stderr: str
    duration_s: float
    isolation: str
    payload: Any = None
    uid: int | None = field(default=None, repr=False)
    sid: int | None = field(default=None, repr=False)
    #: for a run of tests that failed, the judge's report (nonce-marked, so the program cannot
    #: forge it): ``stage`` ("load": the program did not get to the tests; "tests"), ``test`` (the
    #: source line of the failing test), ``line``, ``error`` (exception type), ``message`` (its text,
    #: which may be the program's), ``traceback`` (what the judge printed at the end of stderr)
    failure: dict[str, Any] | None = field(default=None, repr=False)

    @property
    def passed(self) -> bool:
        return self.status == "passed"

    def summary(self) -> str:
        """One line saying why the run did not pass (or that it did)."""
        if self.status == "passed":
            return "passed"
        if self.status == "timeout":
            return "timed out"
        if self.status == "output_limit":
            return "output limit exceeded"
        if self.status == "process_limit":
            return "too many processes"
        lines = [ln for ln in self.stderr.strip().splitlines() if ln.strip()]
        if lines:
            return lines[-1].strip()[:300]
        if self.exit_code is not None and self.exit_code < 0:
            return f"killed by signal {-self.exit_code}"
        if self.exit_code is not None and self.exit_code > 128:
            return f"killed by signal {self.exit_code - 128}"
        return f"exited with status {self.exit_code} before the end of the tests"


def _interpreters() -> list[str]:
    """Interpreters to try in the jail: ours first, then system ones any uid can read."""
    seen: list[str] = []
    for p in (sys.executable, os.path.realpath(sys.executable), getattr(sys, "_base_executable", ""),
              "/usr/bin/python3", "/usr/local/bin/python3", "/bin/python3"):
        if p and os.path.exists(p) and p not in seen:
            seen.append(p)
    return seen


# bubblewrap mounts fresh tmpfs over these: an interpreter under them (a virtual environment in
# /tmp, say) does not exist inside the jail
_MASKED_IN_BWRAP = ("/tmp/", "/dev/shm/", "/run/")


def _bwrap_python() -> str:
    """The interpreter to exec inside bubblewrap: ours unless it lives where the jail mounts an
    empty tmpfs, then the file its path resolves to (the harness needs no site-packages)."""
    for p in _interpreters():
        if not os.path.realpath(p).startswith(_MASKED_IN_BWRAP) and not p.startswith(_MASKED_IN_BWRAP):
            return p
    return sys.executable


# ---------------------------------------------------------------------------------------------
# which mode: decided once per process

_MODE: str | None = None
_WHY: dict[str, str] = {}
_MODE_LOCK = threading.Lock()
_BATCH = threading.local()
_UNSAFE_WARNING = ("nlrl: WARNING: NLRL_SANDBOX=unsafe: model-written code runs WITHOUT isolation, as "
                   "this user, able to read, write and kill what this user can")


def _bwrap() -> str | None:
    return shutil.which("bwrap")


def isolation() -> str:
    """The sandbox mode in force: one of :data:`MODES`.

    Decided once per process by trying the isolating modes in turn (root: ``namespaces``,
    ``bwrap``, ``userns``; any other user: ``bwrap``, ``userns``); ``NLRL_SANDBOX`` forces one
    (``unsafe`` is the only way to get no isolation). Raises :class:`VerifierError`, naming
    what is missing and how to get it, when no isolating mode works."""
    global _MODE
    forced = os.environ.get("NLRL_SANDBOX", "").strip().lower()
    if forced and forced not in MODES + ("auto",):
        raise VerifierError(f"NLRL_SANDBOX must be one of {', '.join(MODES + ('auto',))}; got {forced!r}")
    with _MODE_LOCK:
        if forced == "unsafe":
            return "unsafe"
        auto = not forced or forced == "auto"
        candidates = [forced] if not auto else list(ISOLATING) if os.geteuid() == 0 else ["bwrap", "userns"]
        if auto and _MODE is not None:
            return _MODE
        for mode in candidates:
            if mode not in _WHY:
                _WHY[mode] = _probe(mode)
            if _WHY[mode] == "":
                if auto:
                    _MODE = mode
                return mode
        raise VerifierError(_refusal(candidates))


def _refusal(tried: list[str]) -> str:
    why = "; ".join(f"{m}: {_WHY.get(m) or 'not tried'}" for m in tried)
    return ("no isolating sandbox is available for running model-written code, so it will not run "
            f"({why}). Install bubblewrap (Debian/Ubuntu: apt-get install bubblewrap; Fedora: dnf "
            "install bubblewrap), or enable unprivileged user namespaces (sysctl "
            "kernel.unprivileged_userns_clone=1, or on Ubuntu 24.04+ "
            "kernel.apparmor_restrict_unprivileged_userns=0), or run as root in a container that "
            "may unshare(2) (CAP_SYS_ADMIN); or set NLRL_SANDBOX=unsafe (nlrl grade --unsafe-sandbox) "
            "to run it without isolation, at your own risk")


def _probe(mode: str) -> str:
    """'' when ``mode`` runs a test program correctly here, else why not (one phrase)."""
    if not sys.platform.startswith("linux"):
        return "needs Linux"
    if mode == "namespaces" and os.geteuid() != 0:
        return "needs root"
    if mode == "bwrap" and _bwrap() is None:
        return "bwrap (bubblewrap) is not installed"
    try:
        filter_program()
    except OSError as exc:
        return str(exc)
    probe = TestedProgram("def f(x):\n    return x * 2\n", "assert f(21) == 42\nassert f('a') == 'aa'\n")
    try:
        r = _run(mode, probe, SandboxLimits(timeout_s=30))
    except OSError as exc:
        return f"cannot start ({exc.strerror or exc})"
    if r.passed:
        return ""
    line = r.summary()
    return line[len("nlrl sandbox: "):] if line.startswith("nlrl sandbox: ") else line


def sandbox_info() -> str:
    """One line naming the sandbox mode this process uses (or why there is none)."""
    try:
        mode = isolation()
    except VerifierError as exc:
        return f"sandbox: none ({exc})"
    what = {
        "namespaces": "root jail: namespaces (mount, pid, net, ipc, uts), read-only file system, throw-away uid",
        "bwrap": f"bubblewrap ({_bwrap()}): user, mount, pid, net, ipc, uts namespaces, read-only file system",
        "userns": "unprivileged user namespaces: mount, pid, net, ipc, uts, read-only file system",
        "unsafe": "NO ISOLATION (NLRL_SANDBOX=unsafe): the program runs as this user",
    }[mode]
    return f"sandbox: {mode} ({what}; seccomp, rlimits, scrubbed environment)"


# ---------------------------------------------------------------------------------------------
# running


def run_program(source: Source, limits: SandboxLimits | None = None) -> RunResult:
    """Run ``source`` (program text, or a :class:`TestedProgram`) in the sandbox and report how
    it ended. Never raises for the program's faults; raises :class:`VerifierError` when the
    sandbox itself cannot run."""
    limits = limits or SandboxLimits()
    mode = isolation()
    if mode == "unsafe" and not getattr(_BATCH, "active", False):
        _warn_unsafe()
    result = _run(mode, source, limits)
    if result.exit_code == _JAIL_FAILED and "nlrl sandbox:" in result.stderr and mode != "unsafe":
        raise VerifierError(f"the sandbox could not start: {result.summary()}")
    return result


def run_many(sources: Sequence[Source], limits: SandboxLimits | None = None, *,
             workers: int | None = None) -> list[RunResult]:
    """Run several programs in parallel (threads driving subprocesses), results in order."""
    if not sources:
        return []
    if isolation() == "unsafe":  # fail closed before starting anything; warn once per batch
        _warn_unsafe()
    # runs mostly wait on process start-up and namespace teardown, so use more than the cores
    workers = workers or max(2, min(8, 2 * (os.cpu_count() or 1)))
    def one(source: Source) -> RunResult:
        _BATCH.active = True
        try:
            return run_program(source, limits)
        finally:
            _BATCH.active = False

    with ThreadPoolExecutor(max_workers=min(workers, len(sources))) as pool:
        return list(pool.map(one, sources))


def _warn_unsafe() -> None:
    print(_UNSAFE_WARNING, file=sys.stderr, flush=True)


_ENV = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": "/tmp/work", "TMPDIR": "/tmp/work", "PWD": "/tmp/work",
        "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8"}


def _memfd(name: str, text: str) -> int:
    fd = os.memfd_create(name, os.MFD_CLOEXEC) if hasattr(os, "memfd_create") else -1
    if fd < 0:  # pragma: no cover - Linux always has memfd_create
        raise OSError("memfd_create is not available")
    data = text.encode("utf-8", "surrogatepass")
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]
    os.lseek(fd, 0, os.SEEK_SET)
    return fd


_NPROC_SEEN: list[float] = [0.0, 0.0]  # when, how many


def _nproc(limits: SandboxLimits) -> int:
    """RLIMIT_NPROC for a run: it counts every thread of the real uid (root ignores it), so the
    budget goes on top of what the uid runs now (counted at most once a second)."""
    if os.geteuid() == 0:
        return 0
    now = time.monotonic()
    if now - _NPROC_SEEN[0] > 1.0:
        _NPROC_SEEN[:] = [now, float(_tasks_of(os.getuid()))]
    return int(_NPROC_SEEN[1]) + limits.procs + 16


def _tasks_of(uid: int) -> int:
    """Threads of the processes whose real uid is ``uid``: what RLIMIT_NPROC counts."""
    n = 0
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/status", "rb") as f:
                fields = dict(line.split(b":", 1) for line in f if b":" in line)
            if int(fields[b"Uid"].split()[0]) == uid:
                n += int(fields[b"Threads"])
        except (OSError, ValueError, KeyError):
            continue
    return n


#: ``ast.parse`` from several threads at once can fail on CPython 3.11 with "SystemError: AST
#: constructor recursion depth mismatch" (python/cpython#106905: the AST builder's depth counter
#: is per interpreter); ``run_many``'s workers parse one at a time.
_AST_LOCK = threading.Lock()


def _free_names(tests: str) -> list[str]:
    """Names the tests use but never bind and that are not builtins: the judge looks them up in
    the program. The builtins stay the tests' own, so a program's ``set`` or ``isinstance``
    never judges it. Test code that does not parse gets none (it fails in the judge)."""
    try:
        with _AST_LOCK:
            tree = ast.parse(tests)
    except (SyntaxError, ValueError):
        return []
    loaded, stored = [], set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            (loaded.append(node.id) if isinstance(node.ctx, ast.Load) else stored.add(node.id))
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            stored.add(node.name)
        elif isinstance(node, ast.arg):
            stored.add(node.arg)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            stored.update((a.asname or a.name).split(".")[0] for a in node.names)
    return [n for n in dict.fromkeys(loaded) if n not in stored and not hasattr(builtins, n)]


def _run(mode: str, source: Source, limits: SandboxLimits) -> RunResult:
    nonce = secrets.token_hex(16)
    cwd: str | None = None
    if isinstance(source, TestedProgram):
        program, kind = source.program, "tests"
        secret = {"nonce": nonce, "tests": source.tests, "prelude": source.prelude,
                  "entry_point": source.entry_point, "free_names": _free_names(source.tests)}
    else:
        program, kind, secret = source, "program", {"nonce": nonce}
    prog_fd = _memfd("program", program)
    secret_fd = _memfd("secret", json.dumps(secret))
    info_r = info_w = -1
    fds = [prog_fd, secret_fd]
    try:
        lim = limits.as_dict()
        if mode != "namespaces":
            lim["nproc"] = _nproc(limits)
        args = json.dumps({"mode": kind, "prog": prog_fd, "secret": secret_fd, "limits": lim,
                           "seccomp": filter_program().hex()})
        argv_tail = ["-I", "-S", "-c", _HARNESS, args]
        uid = None
        stdin_data = None
        cwd = None
        if mode == "unsafe":
            workdir = Path(_unsafe_dir())
            cmd = [sys.executable] + argv_tail
            env = dict(_ENV, HOME=str(workdir), TMPDIR=str(workdir), PWD=str(workdir))
            cwd = str(workdir)
        else:
            info_r, info_w = os.pipe()
            fds.append(info_w)
            env, cwd = {}, None
            if mode == "bwrap":
                cmd = _bwrap_command(limits, info_w) + [_bwrap_python()] + argv_tail
            else:
                if mode == "namespaces":
                    uid = 1_000_000 + secrets.randbelow(1_000_000_000)
                request = {"uid": uid, "userns": mode == "userns", "pythons": _interpreters(),
                           "argv": argv_tail, "limits": lim, "fds": [prog_fd, secret_fd], "info_fd": info_w,
                           "env": _ENV}
                cmd = [sys.executable, "-I", "-S", _JAIL]
                stdin_data = json.dumps(request).encode()
        start = time.monotonic()
        try:
            proc = subprocess.Popen(
                cmd, stdin=subprocess.PIPE if stdin_data is not None else subprocess.DEVNULL,
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True, close_fds=True,
                pass_fds=fds, env=env, cwd=cwd,
            )
        finally:
            for fd in fds:
                os.close(fd)
            fds = []
        if stdin_data is not None:
            try:
                assert proc.stdin is not None
                proc.stdin.write(stdin_data)
                proc.stdin.close()
            except BrokenPipeError:
                pass
        return _supervise(proc, limits, start, nonce, mode, uid=uid, info_fd=info_r)
    finally:
        for fd in fds:
            os.close(fd)
        if info_r >= 0:
            os.close(info_r)
        if mode == "unsafe" and cwd:
            shutil.rmtree(cwd, ignore_errors=True)


def _unsafe_dir() -> str:
    import tempfile
    return tempfile.mkdtemp(prefix="nlrl-sandbox-")


_BWRAP_FLAGS: list[str] | None = None


def _bwrap_command(limits: SandboxLimits, info_fd: int) -> list[str]:
    global _BWRAP_FLAGS
    bwrap = _bwrap()
    assert bwrap is not None
    if _BWRAP_FLAGS is None:
        try:
            help_text = subprocess.run([bwrap, "--help"], capture_output=True, text=True, timeout=10).stdout
        except (OSError, subprocess.TimeoutExpired):
            help_text = ""
        _BWRAP_FLAGS = [f for f in ("--disable-userns",) if f in help_text]
    cmd = [bwrap, "--unshare-user", "--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts",
           "--unshare-cgroup-try", *_BWRAP_FLAGS, "--die-with-parent", "--new-session", "--cap-drop", "ALL",
           "--ro-bind", "/", "/", "--proc", "/proc", "--dev", "/dev",
           "--size", str(limits.disk_mb << 20), "--tmpfs", "/tmp",
           "--size", str(16 << 20), "--tmpfs", "/dev/shm"]
    if os.path.isdir("/run"):
        cmd += ["--tmpfs", "/run", "--remount-ro", "/run"]
    cmd += ["--dir", "/tmp/work", "--chdir", "/tmp/work", "--clearenv"]
    for k, v in _ENV.items():
        cmd += ["--setenv", k, v]
    cmd += ["--info-fd", str(info_fd), "--"]
    return cmd


# ---------------------------------------------------------------------------------------------
# supervision: output, limits, verdict, clean-up


def _supervise(proc: subprocess.Popen[bytes], limits: SandboxLimits, start: float, nonce: str,
               mode: str, uid: int | None = None, info_fd: int = -1) -> RunResult:
    assert proc.stdout is not None and proc.stderr is not None
    sid = proc.pid
    out_fd, err_fd = proc.stdout.fileno(), proc.stderr.fileno()
    bufs = {out_fd: bytearray(), err_fd: bytearray()}
    open_fds = set(bufs)
    deadline = start + limits.timeout_s
    status: Status | None = None
    total = 0
    exited_at: float | None = None
    next_census = start
    try:
        while open_fds and status is None:
            now = time.monotonic()
            if now >= deadline:
                status = "timeout"
                break
            if exited_at is None and proc.poll() is not None:
                exited_at = now
            grace_over = exited_at is not None and now - exited_at > 0.25
            ready, _, _ = select.select(list(open_fds), [], [], 0 if grace_over else min(0.05, deadline - now))
            if grace_over and not ready:
                break  # the main process is gone and what it wrote is read; something it left holds the pipes
            for fd in ready:
                chunk = os.read(fd, 65536)
                if not chunk:
                    open_fds.discard(fd)
                    continue
                total += len(chunk)
                if total > limits.output_bytes:
                    status = "output_limit"
                    break
                bufs[fd] += chunk
            if mode == "unsafe" and now >= next_census:  # the fork-bomb watchdog
                next_census = now + 0.02
                if len(_pids_where(sid=sid)) > limits.procs:
                    status = "process_limit"
    finally:
        _end_jail(proc, info_fd)
        _kill_all(sid, uid)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:  # pragma: no cover - SIGKILL was sent
            proc.kill()
            proc.wait()
        proc.stdout.close()
        proc.stderr.close()
    duration = time.monotonic() - start
    out, err = bytes(bufs[out_fd]), bytes(bufs[err_fd])
    payload: Any = None
    marker = b"\n" + nonce.encode() + b" "
    at = out.rfind(marker)
    if status is None:
        if at >= 0 and proc.returncode == 0:
            status = "passed"
            line = out[at + len(marker):].split(b"\n", 1)[0]
            try:
                payload = json.loads(line)
            except ValueError:
                payload = None
        else:
            status = "failed"
    failure: dict[str, Any] | None = None
    failed_at = out.rfind(b"\n" + nonce.encode() + b"! ")  # the judge's report of what failed
    if failed_at >= 0:
        if status == "failed":
            try:
                report = json.loads(out[failed_at + len(marker) + 1:].split(b"\n", 1)[0])
            except ValueError:
                report = None
            if isinstance(report, dict) and isinstance(report.get("failure"), dict):
                failure = report["failure"]
        at = failed_at if at < 0 else min(at, failed_at)
    if at >= 0:
        out = out[:at]
    return RunResult(status, proc.returncode, out.decode("utf-8", "replace"), err.decode("utf-8", "replace"),
                     duration, mode, payload, uid, sid, failure)


def _end_jail(proc: subprocess.Popen[bytes], info_fd: int) -> None:
    """Kill the jail's PID 1, whose host pid the jail wrote to ``info_fd``: the kernel then kills
    every process of the PID namespace, and the launcher exits once they are all gone."""
    if info_fd < 0:
        return
    info = b""
    try:
        os.set_blocking(info_fd, False)
        while True:
            chunk = os.read(info_fd, 4096)
            if not chunk:
                break
            info += chunk
    except (BlockingIOError, OSError):
        pass
    m = re.search(rb'"child-pid"\s*:\s*(\d+)', info)
    if m is None or proc.poll() is not None:
        return
    try:
        os.kill(int(m.group(1)), signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        return
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:  # pragma: no cover - the namespace did not go away
        _log.warning("sandbox: jail %s did not end after its PID 1 was killed", proc.pid)


def _pids_where(*, uid: int | None = None, sid: int | None = None) -> list[int]:
    """Live (not zombie) processes whose real, effective or saved uid is ``uid``, or whose
    session is ``sid``."""
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as f:
                stat = f.read()
            fields = stat[stat.rindex(b")") + 2:].split()
            if fields[0] in (b"Z", b"X"):
                continue
            if sid is not None and int(fields[3]) == sid:
                found.append(int(name))
            if uid is not None:
                with open(f"/proc/{name}/status", "rb") as f:
                    for line in f:
                        if line.startswith(b"Uid:"):
                            if uid in [int(x) for x in line.split()[1:4]]:
                                found.append(int(name))
                            break
        except (OSError, ValueError, IndexError):
            continue  # the process ended while we looked
    return found


def _kill_all(sid: int, uid: int | None) -> None:
    """Kill the run's process group, then anything left in its session or owned by its uid."""
    try:
        os.killpg(sid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    for _ in range(50):
        pids = [p for p in set(_pids_where(sid=sid) + (_pids_where(uid=uid) if uid is not None else []))
                if p != os.getpid()]
        if not pids:
            return
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        time.sleep(0.01)
    _log.warning("sandbox: processes of run %s survived SIGKILL: %s", sid, pids)
