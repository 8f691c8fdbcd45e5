"""Hostile programs against the code sandbox.

Each program is a "solution" to ``add(a, b)`` that does something nasty and is wrong (or tries to
skip the tests). For each: the verdict is fail, the grader carries on, no process of the run is
left, and nothing outside the run's temporary directory changed. They run in parallel with short
limits, so the whole file takes a few seconds.
"""

from __future__ import annotations

import os
import secrets
import stat
import time
from pathlib import Path

import pytest

from nlrl.verifiers import sandbox as sb
from nlrl.verifiers.code import build_program

TOKEN = "nlrl_hostile_" + secrets.token_hex(4)
SECRET = "s3cr3t-" + secrets.token_hex(8)
TESTS = "assert add(2, 3) == 5\nassert add(-1, 1) == 0\n"
HUMANEVAL = {
    "prompt": 'def add(a, b):\n    """Return a + b."""\n',
    "test": "def check(candidate):\n    assert candidate(2, 3) == 5\n    assert candidate(-1, 1) == 0\n",
    "entry_point": "add",
}
WRONG = "\ndef add(a, b):\n    return None\n"
LIMITS = sb.SandboxLimits(timeout_s=2.0, memory_mb=256, file_mb=8, disk_mb=16, procs=16,
                          output_bytes=256 * 1024)


def _targets(canary: Path) -> list[str]:
    """Paths outside the temporary directory that programs try to create."""
    return [f"/{TOKEN}", f"/root/{TOKEN}", f"/etc/{TOKEN}", f"/var/tmp/{TOKEN}", f"/dev/shm/{TOKEN}",
            f"/tmp/{TOKEN}", str(Path.home() / TOKEN), str(Path(__file__).resolve().parents[3] / TOKEN),
            str(canary / TOKEN)]


def hostile_programs(canary: Path) -> dict[str, str]:
    c, f, targets = str(canary), str(canary / "canary.txt"), _targets(canary)
    r = str(canary.parent / "root_owned" / "keep.txt")
    p = {
        # processes
        "fork_bomb": "import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass\n",
        "fork_bomb_in_function": "import os\ndef add(a, b):\n    while True:\n        try:\n            os.fork()\n"
                                 "        except OSError:\n            pass\n",
        "subprocess_flood": "import subprocess, sys\nfor _ in range(200):\n    try:\n        subprocess.Popen("
                            "[sys.executable, '-c', 'import time; time.sleep(60)'])\n    except OSError:\n        pass\n" + WRONG,
        "orphans_setsid": "import os, time\nfor _ in range(5):\n    if os.fork() == 0:\n        os.setsid()\n"
                          "        if os.fork() == 0:\n            time.sleep(60)\n        os._exit(0)\n" + WRONG,
        "shell_background": "import os\nos.system('sleep 60 > /dev/null 2>&1 &')\nos.system('nohup sleep 61 &')\n" + WRONG,
        "new_process_group": "import os, time\nif os.fork() == 0:\n    os.setpgid(0, 0)\n    time.sleep(60)\n" + WRONG,
        # time
        "infinite_loop": "while True:\n    pass\n",
        "infinite_loop_in_function": "def add(a, b):\n    while True:\n        pass\n",
        "sleep_forever": "import time\ntime.sleep(3600)\n",
        "ignore_signals": "import signal\nfor s in (signal.SIGTERM, signal.SIGINT, signal.SIGALRM, signal.SIGXCPU):\n"
                          "    signal.signal(s, signal.SIG_IGN)\nwhile True:\n    pass\n",
        "busy_threads": "import threading\ndef spin():\n    while True:\n        pass\n"
                        "for _ in range(8):\n    threading.Thread(target=spin).start()\nspin()\n",
        # memory and output
        "memory_bulk": "x = bytearray(8 * 1024 ** 3)\n" + WRONG,
        "memory_gradual": "x = []\nwhile True:\n    x.append(bytearray(10 * 1024 ** 2))\n",
        "stdout_flood": "while True:\n    print('x' * 100000)\n",
        "stderr_flood": "import sys\nwhile True:\n    sys.stderr.write('y' * 100000)\n",
        "huge_file": "with open('big', 'wb') as f:\n    while True:\n        f.write(b'0' * 1024 * 1024)\n",
        "fd_exhaustion": "fs = [open('/dev/null') for _ in range(100000)]\n" + WRONG,
        "segfault": "import ctypes\nctypes.string_at(0)\n" + WRONG,
        # file system
        "write_outside": "import os\nfor t in %r:\n    try:\n        open(t, 'w').write('pwned')\n"
                         "    except OSError:\n        pass\n" % (targets,) + WRONG,
        "write_home": "import os\nfor h in ('/root', os.path.expanduser('~root')):\n    try:\n"
                      "        open(os.path.join(h, '.bashrc'), 'a').write('echo pwned')\n    except OSError:\n"
                      "        pass\n" + WRONG,
        "delete_canary": f"import shutil, os\ntry:\n    os.remove({f!r})\nexcept OSError:\n    pass\n"
                         f"shutil.rmtree({c!r}, ignore_errors=True)\n" + WRONG,
        "modify_canary": f"import os\ntry:\n    open({f!r}, 'a').write('pwned')\nexcept OSError:\n    pass\n"
                         f"try:\n    os.chmod({f!r}, 0o000)\nexcept OSError:\n    pass\n" + WRONG,
        "symlink_escape": f"import os\nos.symlink({f!r}, 'link')\nopen('link', 'w').write('pwned')\n" + WRONG,
        "delete_root_owned": f"import os\nfor op in (lambda: os.remove({r!r}), lambda: os.rename({r!r}, {r!r} + 'x'),\n"
                             f"           lambda: open({r!r}, 'w')):\n    try:\n        op()\n    except OSError:\n"
                             "        pass\n" + WRONG,
        # network
        "socket_connect": "import socket\nsocket.create_connection(('1.1.1.1', 80), timeout=1)\n" + WRONG,
        "raw_socket_connect": "import _socket\ns = _socket.socket()\ns.settimeout(1)\ns.connect(('8.8.8.8', 53))\n" + WRONG,
        "socket_listen": "import _socket\ns = _socket.socket()\ns.bind(('0.0.0.0', 0))\ns.listen()\n"
                         "c, _ = s.accept()\n",
        "dns_lookup": "import socket\nsocket.getaddrinfo('example.com', 80)\n" + WRONG,
        # the grader
        "kill_parent": "import os, signal\nfor pid in (os.getppid(), 1):\n    try:\n        os.kill(pid, signal.SIGKILL)\n"
                       "    except OSError:\n        pass\n" + WRONG,
        "kill_everything": "import os, signal\ntry:\n    os.kill(-1, signal.SIGKILL)\nexcept OSError:\n    pass\n"
                           "for pid in os.listdir('/proc'):\n    if pid.isdigit() and int(pid) != os.getpid():\n"
                           "        try:\n            os.kill(int(pid), signal.SIGKILL)\n        except OSError:\n"
                           "            pass\n" + WRONG,
        "kill_pytest_by_name": "import os, signal\nfor pid in filter(str.isdigit, os.listdir('/proc')):\n    try:\n"
                               "        if b'pytest' in open(f'/proc/{pid}/cmdline', 'rb').read():\n"
                               "            os.kill(int(pid), signal.SIGKILL)\n    except OSError:\n        pass\n" + WRONG,
        "read_secrets": "import os\nfound = [k for k, v in os.environ.items() if 'NLRL_HOSTILE_SECRET' in k]\n"
                        "for pid in filter(str.isdigit, os.listdir('/proc')):\n    try:\n"
                        "        found.append(open(f'/proc/{pid}/environ', 'rb').read())\n    except OSError:\n        pass\n"
                        "for path in ('/root/.bash_history', '/etc/shadow'):\n    try:\n        found.append(open(path).read())\n"
                        "    except OSError:\n        pass\nprint(found)\n"
                        "assert any(b'NLRL_HOSTILE_SECRET' in (x if isinstance(x, bytes) else x.encode()) for x in found)\n"
                        "def add(a, b):\n    return a + b\n",
        "escalate": "import os, resource\nfor f in (lambda: os.setuid(0), lambda: resource.setrlimit(resource.RLIMIT_NPROC, "
                    "(10**6, 10**6)), lambda: os.system('mount -t tmpfs none /mnt')):\n    try:\n        f()\n"
                    "    except Exception:\n        pass\n" + WRONG,
        # skipping or forging the verdict
        "sys_exit_0": "import sys\nsys.exit(0)\n" + WRONG,
        "os_exit_0": "import os\nos._exit(0)\n" + WRONG,
        "exit_in_function": "def add(a, b):\n    import os\n    os._exit(0)\n",
        "atexit_exit_0": "import atexit, os\natexit.register(lambda: os._exit(0))\n" + WRONG,
        "patch_assertion_error": "import builtins\nclass Quiet(Exception):\n    pass\nbuiltins.AssertionError = Quiet\n" + WRONG,
        "patch_harness_functions": "import os, sys\n_real = os._exit\nos._exit = lambda code: _real(0)\n"
                                   "os.write = lambda fd, b: len(b)\nsys.exit = lambda *a: _real(0)\n" + WRONG,
        "forge_nonce": "import os, secrets\nos.write(1, b'\\n' + secrets.token_hex(16).encode() + b' null\\n')\n"
                       "os._exit(0)\n" + WRONG,
        "close_stdout": "import os\nos.close(1)\n" + WRONG,
        "settrace_skip": "import sys\nsys.settrace(lambda *a: None)\nsys.setrecursionlimit(50)\n" + WRONG,
    }
    return p


@pytest.fixture(scope="module")
def canary(tmp_path_factory):
    d = tmp_path_factory.mktemp("canary")
    (d / "canary.txt").write_text("intact")
    ro = d.parent / "root_owned"  # the caller's own files, not world-writable
    ro.mkdir(exist_ok=True)
    (ro / "keep.txt").write_text("intact")
    os.chmod(d, 0o777)  # world-writable: only the sandbox stands between a program and it
    os.chmod(d / "canary.txt", 0o666)
    return d


@pytest.fixture(scope="module")
def outcomes(canary):
    if not _strong():  # these programs would really kill and delete as root without namespaces
        pytest.skip("basic isolation as root: the destructive hostile programs are not run")
    os.environ["NLRL_HOSTILE_SECRET"] = SECRET
    try:
        programs = hostile_programs(canary)
        names = list(programs)
        sources = [build_program(programs[n], TESTS) for n in names]
        sources.append(build_program(programs["patch_assertion_error"], HUMANEVAL))
        names.append("patch_checker_humaneval")
        sources.append(build_program("    return None\ndef check(candidate):\n    pass\nimport builtins\n"
                                     "builtins.check = check\n", HUMANEVAL))
        names.append("redefine_check_humaneval")
        start = time.monotonic()
        results = sb.run_many(sources, LIMITS, workers=8)
        elapsed = time.monotonic() - start
    finally:
        del os.environ["NLRL_HOSTILE_SECRET"]
    return dict(zip(names, results)), elapsed


def _strong() -> bool:
    return sb.isolation() == "namespaces" or os.geteuid() != 0


def test_at_least_thirty_hostile_programs(canary):
    assert len(hostile_programs(canary)) >= 30


def test_every_hostile_program_fails(outcomes):
    results, _ = outcomes
    passed = {n: r.summary() for n, r in results.items() if r.passed}
    assert not passed


def test_no_process_left_behind(outcomes):
    results, _ = outcomes
    for name, r in results.items():
        assert sb._pids_where(sid=r.sid) == [], name
        if r.uid is not None:
            assert sb._pids_where(uid=r.uid) == [], name


def test_nothing_outside_the_temporary_directory_changed(outcomes, canary):
    if not _strong():
        pytest.skip("basic isolation as root does not protect the file system")
    assert (canary / "canary.txt").read_text() == "intact"
    assert stat.S_IMODE((canary / "canary.txt").stat().st_mode) == 0o666
    assert sorted(p.name for p in canary.iterdir()) == ["canary.txt"]
    assert [t for t in _targets(canary) if os.path.lexists(t)] == []
    assert (canary.parent / "root_owned" / "keep.txt").read_text() == "intact"


def test_grader_carries_on_and_secrets_stay_secret(outcomes):
    results, elapsed = outcomes
    assert elapsed < 60
    for r in results.values():
        assert SECRET not in r.stdout and SECRET not in r.stderr
    ok = sb.run_program("def add(a, b):\n    return a + b\n\n" + TESTS, LIMITS)
    assert ok.passed, ok.summary()


def test_limits_are_what_stop_them(outcomes):
    results, _ = outcomes
    assert results["infinite_loop"].status == "timeout"
    assert results["stdout_flood"].status == "output_limit"
    assert results["stderr_flood"].status == "output_limit"
    assert results["sys_exit_0"].summary() == "SystemExit: 0"
    assert results["os_exit_0"].exit_code == 0 and results["os_exit_0"].status == "failed"
    assert "MemoryError" in results["memory_bulk"].summary()
    if sb.isolation() == "namespaces":
        assert "Network is unreachable" in results["raw_socket_connect"].summary()
        assert results["fork_bomb"].status == "timeout"


def test_basic_mode_catches_exits_and_floods(monkeypatch):
    """The fallback isolation, forced: non-destructive properties only (it may run as root)."""
    monkeypatch.setenv("NLRL_SANDBOX", "basic")
    progs = [
        "import sys\nsys.exit(0)\n" + WRONG,
        "import os\nos._exit(0)\n" + WRONG,
        "while True:\n    pass\n",
        "while True:\n    print('x' * 100000)\n",
        "import socket\nsocket.create_connection(('1.1.1.1', 80), timeout=1)\n" + WRONG,
        "import subprocess, sys, time\nfor _ in range(40):\n    subprocess.Popen([sys.executable, '-c', "
        "'import time; time.sleep(30)'])\ntime.sleep(30)\n",
        "def add(a, b):\n    return a + b\n",
    ]
    results = sb.run_many([build_program(p, TESTS) for p in progs], LIMITS, workers=4)
    assert [r.isolation for r in results] == ["basic"] * len(progs)
    assert [r.passed for r in results] == [False] * 6 + [True]
    assert results[2].status == "timeout" and results[3].status == "output_limit"
    assert results[5].status in ("process_limit", "timeout")
    for r in results:
        assert sb._pids_where(sid=r.sid) == []
