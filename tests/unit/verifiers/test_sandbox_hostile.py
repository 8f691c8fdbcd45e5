"""Hostile programs against the code sandbox.

Each program is a "solution" to ``add(a, b)`` that does something nasty and is wrong, tries to
skip the tests, or tries to forge the verdict. For each: the verdict is not correct, the grader
carries on, no process of the run is left, nothing outside the run's private /tmp changed, and a
loopback listener opened by the test saw no connection. They run in parallel with short limits.

The destructive programs run only in an isolating mode (namespaces, bwrap, userns): where the
machine has none they are skipped with the reason, and what is tested instead is that the
sandbox refuses to run anything (``test_sandbox_refusal.py``).
"""

from __future__ import annotations

import os
import secrets
import socket
import stat
from pathlib import Path

import pytest

from nlrl._exceptions import VerifierError
from nlrl.verifiers import sandbox as sb
from nlrl.verifiers.code import build_job

TOKEN = "nlrl_hostile_" + secrets.token_hex(4)
TAG = "h" + secrets.token_hex(6)  # the comm name detached children give themselves
SECRET = "s3cr3t-" + secrets.token_hex(8)
TESTS = "assert add(2, 3) == 5\nassert add(-1, 1) == 0\n"
HUMANEVAL = {
    "prompt": 'def add(a, b):\n    """Return a + b."""\n',
    "test": "def check(candidate):\n    assert candidate(2, 3) == 5\n    assert candidate(-1, 1) == 0\n",
    "entry_point": "add",
}
MBPP = {"test_list": ["assert add(2, 3) == 5", "assert add(-1, 1) == 0"], "test_imports": []}
WRONG = "\ndef add(a, b):\n    return None\n"
LIMITS = sb.SandboxLimits(timeout_s=3.0, memory_mb=256, file_mb=8, disk_mb=16, procs=16,
                          output_bytes=256 * 1024)
NAME_ME = f"open('/proc/self/comm', 'w').write({TAG!r})\n"


def _mode() -> str | None:
    try:
        return sb.isolation()
    except VerifierError:
        return None


ISOLATED = _mode() in sb.ISOLATING
SKIP_REASON = (f"no isolating sandbox mode on this machine ({_mode() or 'none'}): the destructive hostile "
               "programs are not run (see test_sandbox_refusal.py)")


def _targets(canary: Path) -> list[str]:
    """Paths outside the run's private /tmp that programs try to create."""
    return [f"/{TOKEN}", f"/root/{TOKEN}", f"/etc/{TOKEN}", f"/var/tmp/{TOKEN}", f"/dev/shm/{TOKEN}",
            f"/tmp/{TOKEN}", f"/run/{TOKEN}", str(Path.home() / TOKEN), str(Path.cwd() / TOKEN),
            str(Path(__file__).resolve().parents[3] / TOKEN), str(canary / TOKEN)]


def _forge(code: str) -> str:
    """A program that tries ``code`` to find the nonce, prints what it found as the harness
    would, and exits 0 before any test runs."""
    return ("import os, re, sys\nfound = set()\ndef grab(b):\n"
            "    found.update(re.findall(rb'[0-9a-f]{32}', b if isinstance(b, bytes) else str(b).encode()))\n"
            f"{code}\nfor n in found:\n    os.write(1, b'\\n' + n + b' null\\n')\nos._exit(0)\n")


def hostile_programs(canary: Path, port: int) -> dict[str, str]:
    c, f, targets = str(canary), str(canary / "canary.txt"), _targets(canary)
    r = str(canary.parent / "owned" / "keep.txt")
    unix = str(canary / "sock")
    p = {
        # processes
        "fork_bomb": "import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass\n",
        "fork_bomb_in_function": "import os\ndef add(a, b):\n    while True:\n        try:\n            os.fork()\n"
                                 "        except OSError:\n            pass\n",
        "subprocess_flood": "import subprocess, sys\nfor _ in range(200):\n    try:\n        subprocess.Popen("
                            f"[sys.executable, '-c', 'import time; time.sleep(60)  # {TOKEN}'])\n"
                            "    except OSError:\n        pass\n" + WRONG,
        "orphans_setsid": "import os, time\nfor _ in range(5):\n    if os.fork() == 0:\n        os.setsid()\n"
                          "        if os.fork() == 0:\n            " + NAME_ME.strip() + "\n            time.sleep(60)\n"
                          "        os._exit(0)\n" + WRONG,
        "daemon_double_fork": "import os, sys, time\nif os.fork() == 0:\n    os.setsid()\n    if os.fork() == 0:\n"
                              "        os.chdir('/')\n        os.umask(0)\n        " + NAME_ME.strip() + "\n"
                              "        for fd in (0, 1, 2):\n            os.close(fd)\n        time.sleep(120)\n"
                              "    os._exit(0)\ntime.sleep(0.2)\n" + WRONG,
        "daemon_exec_sleep": "import os\nif os.fork() == 0:\n    os.setsid()\n    if os.fork() == 0:\n"
                             f"        os.execv('/bin/sh', ['sh', '-c', 'sleep 100; : {TOKEN}'])\n    os._exit(0)\n" + WRONG,
        "shell_background": f"import os\nos.system('sleep 60 > /dev/null 2>&1 & : {TOKEN}')\n"
                            f"os.system('nohup sleep 61 > /dev/null 2>&1 & : {TOKEN}')\n" + WRONG,
        "new_process_group": "import os, time\nif os.fork() == 0:\n    os.setpgid(0, 0)\n    " + NAME_ME.strip() +
                             "\n    time.sleep(60)\n" + WRONG,
        "thread_bomb": "import threading, time\nts = []\nwhile True:\n    try:\n"
                       "        t = threading.Thread(target=time.sleep, args=(60,))\n        t.start()\n"
                       "        ts.append(t)\n    except Exception:\n        break\n" + WRONG,
        "thread_bomb_spinning": "import threading\ndef spin():\n    while True:\n        pass\n"
                                "while True:\n    try:\n        threading.Thread(target=spin, daemon=True).start()\n"
                                "    except Exception:\n        break\nspin()\n",
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
        "mmap_2gb": "import mmap\nm = mmap.mmap(-1, 2 * 1024 ** 3)\nfor i in range(0, len(m), 4096):\n    m[i] = 1\n" + WRONG,
        "stdout_flood": "while True:\n    print('x' * 100000)\n",
        "stderr_flood": "import sys\nwhile True:\n    sys.stderr.write('y' * 100000)\n",
        "stderr_flood_never_exits": "import os, signal\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\nwhile True:\n"
                                    "    try:\n        os.write(2, b'z' * 65536)\n    except OSError:\n        pass\n",
        "huge_file": "with open('big', 'wb') as f:\n    while True:\n        f.write(b'0' * 1024 * 1024)\n",
        "fill_tmp": "i = 0\nwhile True:\n    with open('f%d' % i, 'wb') as f:\n        f.write(b'0' * 4 * 1024 * 1024)\n"
                    "    i += 1\n",
        "fd_exhaustion": "fs = [open('/dev/null') for _ in range(100000)]\n" + WRONG,
        "segfault": "import ctypes\nctypes.string_at(0)\n" + WRONG,
        # file system
        "write_outside": "import os\nfor t in %r:\n    try:\n        open(t, 'w').write('pwned')\n"
                         "    except OSError:\n        pass\n" % (targets,) + WRONG,
        "mkdir_outside": "import os\nfor t in %r:\n    try:\n        os.makedirs(t)\n"
                         "    except OSError:\n        pass\n" % (targets,) + WRONG,
        "write_home": "import os\nfor h in ('/root', os.path.expanduser('~root'), %r):\n    try:\n"
                      "        open(os.path.join(h, '.bashrc'), 'a').write('echo pwned')\n    except OSError:\n"
                      "        pass\n" % str(Path.home()) + WRONG,
        "write_dev_shm": f"open('/dev/shm/{TOKEN}', 'w').write('pwned')\n" + WRONG,
        "write_working_tree": f"import os\nopen(os.path.join({str(Path.cwd())!r}, {TOKEN!r}), 'w').write('x')\n" + WRONG,
        "delete_canary": f"import shutil, os\ntry:\n    os.remove({f!r})\nexcept OSError:\n    pass\n"
                         f"shutil.rmtree({c!r}, ignore_errors=True)\n" + WRONG,
        "modify_canary": f"import os\ntry:\n    open({f!r}, 'a').write('pwned')\nexcept OSError:\n    pass\n"
                         f"try:\n    os.chmod({f!r}, 0o000)\nexcept OSError:\n    pass\n" + WRONG,
        "symlink_escape": f"import os\nos.symlink({f!r}, 'link')\nopen('link', 'w').write('pwned')\n" + WRONG,
        "symlink_dir_escape": f"import os\nos.symlink({c!r}, 'dir')\nopen('dir/{TOKEN}', 'w').write('pwned')\n" + WRONG,
        "hardlink_escape": f"import os\nos.link({f!r}, 'hard')\nopen('hard', 'a').write('pwned')\n" + WRONG,
        "rename_into_canary": f"import os\nopen('x', 'w').write('pwned')\nos.rename('x', {str(canary / TOKEN)!r})\n" + WRONG,
        "delete_owned": f"import os\nfor op in (lambda: os.remove({r!r}), lambda: os.rename({r!r}, {r!r} + 'x'),\n"
                        f"           lambda: open({r!r}, 'w')):\n    try:\n        op()\n    except OSError:\n"
                        "        pass\n" + WRONG,
        "proc_root_escape": f"import os\nfor pid in ('1', str(os.getppid())):\n    try:\n"
                            f"        open('/proc/' + pid + '/root' + {str(canary / TOKEN)!r}, 'w').write('x')\n"
                            "    except OSError:\n        pass\n" + WRONG,
        # network
        "socket_connect": "import socket\nsocket.create_connection(('1.1.1.1', 80), timeout=1)\n" + WRONG,
        "raw_socket_loopback": f"import _socket\ns = _socket.socket()\ns.settimeout(1)\ns.connect(('127.0.0.1', {port}))\n"
                               "s.send(b'pwned')\n" + WRONG,
        "socket_module_loopback": f"import socket\nsocket.create_connection(('127.0.0.1', {port}), timeout=1).send(b'x')\n" + WRONG,
        "udp_loopback": f"import _socket\ns = _socket.socket(_socket.AF_INET, _socket.SOCK_DGRAM)\n"
                        f"s.sendto(b'pwned', ('127.0.0.1', {port}))\n" + WRONG,
        "ipv6_loopback": f"import _socket\ns = _socket.socket(_socket.AF_INET6)\ns.settimeout(1)\ns.connect(('::1', {port}))\n" + WRONG,
        "netlink_socket": "import _socket\ns = _socket.socket(_socket.AF_NETLINK, _socket.SOCK_RAW, 0)\n" + WRONG,
        "unix_socket_host": f"import _socket\ns = _socket.socket(_socket.AF_UNIX)\ns.connect({unix!r})\ns.send(b'x')\n" + WRONG,
        "socket_listen": "import _socket\ns = _socket.socket()\ns.bind(('0.0.0.0', 0))\ns.listen()\n"
                         "c, _ = s.accept()\n",
        "dns_lookup": "import socket\nsocket.getaddrinfo('example.com', 80)\n" + WRONG,
        # the grader and the host
        "kill_parent": "import os, signal\nfor pid in (os.getppid(), 1):\n    try:\n        os.kill(pid, signal.SIGKILL)\n"
                       "    except OSError:\n        pass\n" + WRONG,
        "kill_everything": "import os, signal\ntry:\n    os.kill(-1, signal.SIGKILL)\nexcept OSError:\n    pass\n"
                           "for pid in os.listdir('/proc'):\n    if pid.isdigit() and int(pid) != os.getpid():\n"
                           "        try:\n            os.kill(int(pid), signal.SIGKILL)\n        except OSError:\n"
                           "            pass\n" + WRONG,
        "kill_pytest_by_name": "import os, signal\nfor pid in filter(str.isdigit, os.listdir('/proc')):\n    try:\n"
                               "        if b'pytest' in open(f'/proc/{pid}/cmdline', 'rb').read():\n"
                               "            os.kill(int(pid), signal.SIGKILL)\n    except OSError:\n        pass\n" + WRONG,
        "read_secrets": "import os\nfound = [k for k, v in os.environ.items() if 'NLRL_HOSTILE_SECRET' in k or 'KEY' in k]\n"
                        "for pid in filter(str.isdigit, os.listdir('/proc')):\n    for what in ('environ', 'cmdline'):\n"
                        "        try:\n            found.append(open(f'/proc/{pid}/{what}', 'rb').read())\n"
                        "        except OSError:\n            pass\n"
                        "for path in ('/root/.bash_history', '/etc/shadow'):\n    try:\n        found.append(open(path).read())\n"
                        "    except OSError:\n        pass\nprint(found)\n"
                        "assert any(b'NLRL_HOSTILE_SECRET' in (x if isinstance(x, bytes) else x.encode()) for x in found)\n"
                        "def add(a, b):\n    return a + b\n",
        "read_parent_environ": "import os\nprint(open(f'/proc/{os.getppid()}/environ', 'rb').read())\n" + WRONG,
        "escalate": "import os, resource\nfor f in (lambda: os.setuid(0), lambda: resource.setrlimit(resource.RLIMIT_NPROC, "
                    "(10**6, 10**6)), lambda: os.system('mount -t tmpfs none /mnt'), lambda: os.system('unshare -r id')):\n"
                    "    try:\n        f()\n    except Exception:\n        pass\n" + WRONG,
        "ctypes_raw_syscalls": "import ctypes, os\nlibc = ctypes.CDLL(None, use_errno=True)\nout = []\n"
                               "for nr, args in ((41, (2, 1, 0)), (272, (0x10000000,)), (101, (16, os.getppid(), 0, 0)),\n"
                               "                 (165, (b'none', b'/mnt', b'tmpfs', 0, 0)), (321, (0, 0, 0)), (250, (0, 0, 0)),\n"
                               "                 (298, (0, 0, -1, -1, 0)), (308, (0, 0)), (175, (0, 0, 0)), (169, (0, 0, 0, 0))):\n"
                               "    out.append(libc.syscall(nr, *args))\nprint(out)\n" + WRONG,
        # skipping the tests
        "sys_exit_0": "import sys\nsys.exit(0)\n" + WRONG,
        "os_exit_0": "import os\nos._exit(0)\n" + WRONG,
        "exit_in_function": "def add(a, b):\n    import os\n    os._exit(0)\n",
        "atexit_exit_0": "import atexit, os\natexit.register(lambda: os._exit(0))\n" + WRONG,
        "patch_assertion_error": "import builtins\nclass Quiet(Exception):\n    pass\nbuiltins.AssertionError = Quiet\n" + WRONG,
        "patch_harness_functions": "import os, sys\n_real = os._exit\nos._exit = lambda code: _real(0)\n"
                                   "os.write = lambda fd, b: len(b)\nsys.exit = lambda *a: _real(0)\n" + WRONG,
        "close_stdout": "import os\nos.close(1)\n" + WRONG,
        "settrace_skip": "import sys\nsys.settrace(lambda *a: None)\nsys.setrecursionlimit(50)\n" + WRONG,
        "kill_judge_then_exit": "import os, signal\ntry:\n    os.kill(os.getppid(), signal.SIGSTOP)\nexcept OSError:\n"
                                "    pass\nos._exit(0)\n" + WRONG,
        # forging the verdict: the nonce
        "forge_random_nonce": "import os, secrets\nos.write(1, b'\\n' + secrets.token_hex(16).encode() + b' null\\n')\n"
                              "os._exit(0)\n" + WRONG,
        "nonce_from_argv_fd": _forge("import json\nfor a in sys.argv[1:]:\n    try:\n        fd = int(a)\n"
                                     "    except ValueError:\n        fd = json.loads(a).get('secret', -1)\n"
                                     "    try:\n        grab(os.read(fd, 4096))\n    except OSError:\n        pass"),
        "nonce_from_every_fd": _forge("for fd in range(3, 1024):\n    try:\n        os.lseek(fd, 0, 0)\n    except OSError:\n"
                                      "        pass\n    try:\n        grab(os.read(fd, 65536))\n    except OSError:\n        pass"),
        "nonce_from_proc_self_fd": _forge("for n in os.listdir('/proc/self/fd'):\n    try:\n"
                                          "        grab(open('/proc/self/fd/' + n, 'rb').read())\n    except OSError:\n        pass"),
        "nonce_from_parent_fds": _forge("for pid in [str(os.getppid())] + [p for p in os.listdir('/proc') if p.isdigit()]:\n"
                                        "    for what in ('environ', 'cmdline', 'mem', 'maps'):\n        try:\n"
                                        "            grab(open(f'/proc/{pid}/{what}', 'rb').read(1 << 20))\n"
                                        "        except OSError:\n            pass\n    try:\n"
                                        "        for n in os.listdir(f'/proc/{pid}/fd'):\n"
                                        "            grab(open(f'/proc/{pid}/fd/{n}', 'rb').read())\n"
                                        "    except OSError:\n        pass"),
        "nonce_from_memory": _forge("import gc\nfor o in gc.get_objects():\n    try:\n        grab(repr(o)[:100000])\n"
                                    "    except Exception:\n        pass"),
        "nonce_by_ptrace": _forge("import ctypes\nlibc = ctypes.CDLL(None, use_errno=True)\n"
                                  "grab(str(libc.ptrace(16, os.getppid(), 0, 0)))\n"
                                  "class Iov(ctypes.Structure):\n    _fields_ = [('b', ctypes.c_void_p), ('n', ctypes.c_size_t)]\n"
                                  "buf = ctypes.create_string_buffer(4096)\nl, rm = Iov(ctypes.addressof(buf), 4096), Iov(0x400000, 4096)\n"
                                  "if libc.process_vm_readv(os.getppid(), ctypes.byref(l), 1, ctypes.byref(rm), 1, 0) > 0:\n"
                                  "    grab(buf.raw)"),
        "nonce_from_files": _forge("for d in ('/tmp', '/tmp/work', '/dev/shm', '.', '/run'):\n    try:\n"
                                   "        for n in os.listdir(d):\n            try:\n"
                                   "                grab(open(os.path.join(d, n), 'rb').read())\n"
                                   "            except OSError:\n                pass\n    except OSError:\n        pass"),
        # forging the verdict: objects that claim to be right
        "eq_always_true": "class Eq:\n    def __eq__(self, o):\n        return True\n    __hash__ = object.__hash__\n"
                          "def add(a, b):\n    return Eq()\n",
        "ne_always_false": "class Eq:\n    def __eq__(self, o):\n        return True\n    def __ne__(self, o):\n"
                           "        return False\ndef add(a, b):\n    return Eq()\n",
        "bool_always_true": "class T:\n    def __eq__(self, o):\n        return self\n    def __bool__(self):\n"
                            "        return True\ndef add(a, b):\n    return T()\n",
        "lying_int": "class I(int):\n    def __eq__(self, o):\n        return True\n    __hash__ = int.__hash__\n"
                     "def add(a, b):\n    return I(7)\n",
        "lying_str": "class S(str):\n    def __eq__(self, o):\n        return True\n    __hash__ = str.__hash__\n"
                     "def add(a, b):\n    return S('no')\n",
        "lying_list": "class L(list):\n    def __eq__(self, o):\n        return True\ndef add(a, b):\n    return L()\n",
        "lying_int_int_method": "class I(int):\n    def __eq__(self, o):\n        return True\n    def __int__(self):\n"
                                "        return 5\n    __hash__ = int.__hash__\ndef add(a, b):\n    return I(7)\n",
        "patch_isinstance": "import builtins\nbuiltins.isinstance = lambda *a: True\nbuiltins.type = lambda *a: int\n"
                            "class Eq:\n    def __eq__(self, o):\n        return True\ndef add(a, b):\n    return Eq()\n",
        "reflected_eq": "class R(int):\n    def __eq__(self, o):\n        return True\n    __hash__ = int.__hash__\n"
                        "def add(a, b):\n    return [R(0)]\n",
        "shadow_builtins": "import builtins\nfor n in ('set', 'sorted', 'len', 'abs', 'isinstance', 'list', 'tuple'):\n"
                           "    setattr(builtins, n, lambda *a, **k: 0)\nset = sorted = abs = lambda *a: 0\n" + WRONG,
        "patch_checker": "import builtins\ndef check(candidate):\n    pass\nbuiltins.check = check\n" + WRONG,
    }
    return p


@pytest.fixture(scope="module")
def canary(tmp_path_factory):
    d = tmp_path_factory.mktemp("canary")
    (d / "canary.txt").write_text("intact")
    owned = d.parent / "owned"  # the caller's own files, not world-writable
    owned.mkdir(exist_ok=True)
    (owned / "keep.txt").write_text("intact")
    os.chmod(d, 0o777)  # world-writable: only the sandbox stands between a program and it
    os.chmod(d / "canary.txt", 0o666)
    return d


@pytest.fixture(scope="module")
def listeners(canary):
    tcp = socket.socket()
    tcp.bind(("127.0.0.1", 0))
    tcp.listen(16)
    tcp.setblocking(False)
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind(("127.0.0.1", tcp.getsockname()[1]))
    udp.setblocking(False)
    unix = socket.socket(socket.AF_UNIX)
    unix.bind(str(canary / "sock"))
    unix.listen(16)
    unix.setblocking(False)
    yield tcp, udp, unix
    for s in (tcp, udp, unix):
        s.close()


def _run_all(canary, port):
    programs = hostile_programs(canary, port)
    names, jobs = [], []
    for name, prog in programs.items():
        for form, ref in (("tests", TESTS), ("humaneval", HUMANEVAL), ("mbpp", MBPP)):
            if form != "tests" and not (name.startswith(("eq_", "ne_", "bool_", "lying_", "patch_", "reflected_",
                                                         "shadow_", "nonce_", "forge_", "sys_exit", "os_exit"))):
                continue
            names.append(f"{name}[{form}]")
            jobs.append(build_job(prog, ref))
    os.environ["NLRL_HOSTILE_SECRET"] = SECRET
    os.environ["OPENAI_API_KEY"] = SECRET
    try:
        results = sb.run_many(jobs, LIMITS, workers=8)
    finally:
        del os.environ["NLRL_HOSTILE_SECRET"]
        del os.environ["OPENAI_API_KEY"]
    return dict(zip(names, results))


@pytest.fixture(scope="module")
def outcomes(canary, listeners):
    if not ISOLATED:
        pytest.skip(SKIP_REASON)
    return _run_all(canary, listeners[0].getsockname()[1])


def _host_processes_of_the_runs() -> list[str]:
    """Host processes a hostile program started: by the token in their command line or the tag
    in their name."""
    left = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes()
            comm = Path(f"/proc/{pid}/comm").read_text().strip()
        except OSError:
            continue
        if TOKEN.encode() in cmd or comm == TAG:
            left.append(f"{pid} {comm} {cmd[:80]!r}")
    return left


def test_at_least_sixty_hostile_programs(canary):
    assert len(hostile_programs(canary, 1)) >= 60


def test_every_hostile_program_fails(outcomes):
    passed = {n: r.summary() for n, r in outcomes.items() if r.passed}
    assert not passed


def test_no_process_left_behind(outcomes):
    for name, r in outcomes.items():
        assert sb._pids_where(sid=r.sid) == [], name
        if r.uid is not None:
            assert sb._pids_where(uid=r.uid) == [], name
    assert _host_processes_of_the_runs() == []


def test_nothing_outside_the_private_tmp_changed(outcomes, canary):
    assert (canary / "canary.txt").read_text() == "intact"
    assert stat.S_IMODE((canary / "canary.txt").stat().st_mode) == 0o666
    assert sorted(p.name for p in canary.iterdir()) == ["canary.txt", "sock"]
    assert [t for t in _targets(canary) if os.path.lexists(t)] == []
    assert (canary.parent / "owned" / "keep.txt").read_text() == "intact"


def test_listeners_saw_no_connection(outcomes, listeners):
    tcp, udp, unix = listeners
    for s in (tcp, unix):
        with pytest.raises(BlockingIOError):
            s.accept()
    with pytest.raises(BlockingIOError):
        udp.recvfrom(64)


def test_grader_carries_on_and_secrets_stay_secret(outcomes):
    for r in outcomes.values():
        assert SECRET not in r.stdout and SECRET not in r.stderr
    ok = sb.run_program(build_job("def add(a, b):\n    return a + b\n", TESTS), LIMITS)
    assert ok.passed, ok.summary()


def test_limits_and_filters_are_what_stop_them(outcomes):
    o = {n.split("[")[0]: r for n, r in outcomes.items() if n.endswith("[tests]")}
    assert o["infinite_loop"].status == "timeout"
    assert o["stdout_flood"].status == "output_limit"
    assert o["stderr_flood"].status == "output_limit"
    assert o["sys_exit_0"].summary() == "SystemExit: 0"
    assert o["os_exit_0"].status == "failed"
    assert "MemoryError" in o["memory_bulk"].summary()
    assert "Address family not supported" in o["raw_socket_loopback"].summary()
    assert "Address family not supported" in o["netlink_socket"].summary()
    assert "Address family not supported" in o["unix_socket_host"].summary()
    assert "not a plain value" in outcomes["eq_always_true[humaneval]"].summary()
    assert outcomes["lying_int[humaneval]"].summary() == "AssertionError"
    assert "[-1, -1, -1, -1, -1, -1, -1, -1, -1, -1]" in o["ctypes_raw_syscalls"].stdout
    assert {r.isolation for r in outcomes.values()} == {sb.isolation()}


SECCOMP_PROBE = """
import ctypes, errno, os
libc = ctypes.CDLL(None, use_errno=True)
def call(nr, *args):
    r = libc.syscall(nr, *args)
    return errno.errorcode.get(ctypes.get_errno(), ctypes.get_errno()) if r == -1 else r
__nlrl_result__ = {
    "socket_unix": call(41, 1, 1, 0), "socket_inet": call(41, 2, 1, 0), "socket_inet6": call(41, 10, 1, 0), "socket_netlink": call(41, 16, 3, 0),
    "ptrace": call(101, 16, os.getppid(), 0, 0), "mount": call(165, b"none", b"/mnt", b"tmpfs", 0, 0),
    "bpf": call(321, 0, 0, 0), "keyctl": call(250, 0, 0, 0), "perf_event_open": call(298, 0, 0, -1, -1, 0),
    "unshare": call(272, 0x10000000), "setns": call(308, 0, 0), "clone_newuser": call(56, 0x10000000 | 17, 0, 0, 0, 0),
    "clone3": call(435, 0, 0), "process_vm_readv": call(310, os.getppid(), 0, 0, 0, 0, 0),
    "io_uring_setup": call(425, 1, 0), "userfaultfd": call(323, 0),
}
import socket
a, b = socket.socketpair()
__nlrl_result__["unix_socketpair"] = "ok"
"""


@pytest.mark.skipif(os.uname().machine != "x86_64", reason="the probe uses x86_64 syscall numbers")
def test_seccomp_filter_denies(outcomes):
    r = sb.run_program(SECCOMP_PROBE, LIMITS)
    assert r.passed, r.summary()
    got = r.payload
    assert got.pop("unix_socketpair") == "ok"
    assert got.pop("clone3") == "ENOSYS"
    assert {k for k, v in got.items() if k.startswith("socket")} == {"socket_unix", "socket_inet", "socket_inet6",
                                                                     "socket_netlink"}
    assert {v for k, v in got.items() if k.startswith("socket")} == {"EAFNOSUPPORT"}
    assert {k: v for k, v in got.items() if not k.startswith("socket") and v != "EPERM"} == {}


def test_environment_is_an_allow_list(outcomes, monkeypatch):
    for k in ("OPENAI_API_KEY", "NLRL_API_KEY", "HF_TOKEN", "MY_SECRET", "AWS_SECRET_ACCESS_KEY", "PYTHONPATH"):
        monkeypatch.setenv(k, SECRET)
    r = sb.run_program("import os\n__nlrl_result__ = [dict(os.environ), sorted(os.listdir('/proc/self/fd'))]\n", LIMITS)
    assert r.passed, r.summary()
    env, fds = r.payload
    assert sorted(env) == ["HOME", "LANG", "LC_ALL", "PATH", "PWD", "TMPDIR"]
    assert SECRET not in repr(env)
    assert len(fds) == 6  # 0-2, the two pipe ends to the judge, and the listing's own descriptor


SAMPLE = ("daemon_double_fork", "kill_everything", "write_outside", "write_working_tree", "symlink_dir_escape",
          "hardlink_escape", "raw_socket_loopback", "unix_socket_host", "read_parent_environ", "nonce_from_every_fd",
          "nonce_from_parent_fds", "nonce_by_ptrace", "eq_always_true", "patch_isinstance", "fork_bomb",
          "ctypes_raw_syscalls")


@pytest.mark.parametrize("mode", sb.ISOLATING)
def test_every_isolating_mode_holds(mode, canary, listeners, monkeypatch):
    """A sample of the programs in each isolating mode this machine has (the full suite runs in
    the mode chosen automatically)."""
    monkeypatch.setenv("NLRL_SANDBOX", mode)
    try:
        sb.isolation()
    except VerifierError as exc:
        pytest.skip(f"{mode} is not available here: {exc}"[:300])
    programs = hostile_programs(canary, listeners[0].getsockname()[1])
    jobs = [build_job(programs[n], ref) for n in SAMPLE for ref in (TESTS, HUMANEVAL)]
    results = sb.run_many(jobs, LIMITS, workers=8)
    assert {r.isolation for r in results} == {mode}
    assert [n for n, r in zip([n for n in SAMPLE for _ in (1, 2)], results) if r.passed] == []
    for r in results:
        assert sb._pids_where(sid=r.sid) == []
    assert _host_processes_of_the_runs() == []
    assert (canary / "canary.txt").read_text() == "intact"
    assert sorted(p.name for p in canary.iterdir()) == ["canary.txt", "sock"]
    assert [t for t in _targets(canary) if os.path.lexists(t)] == []
    for s in (listeners[0], listeners[2]):
        with pytest.raises(BlockingIOError):
            s.accept()
