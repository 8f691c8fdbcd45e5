"""The in-jail harness: trusted code, started as ``python -I -S -c <this file> <json>``; never imported.

It is the first code that runs inside the jail (or, in "unsafe" mode, in the bare subprocess),
and runs as two processes:

- **the judge** (this process): makes itself non-dumpable (so a process of the same uid cannot
  read its memory, file descriptors or environment through /proc or ptrace), sets the rlimits,
  sets no_new_privs and installs the seccomp filter it is given, then forks the runner *before* it
  reads anything secret. Only then does it read the secret file descriptor: the verdict nonce and,
  for tests, the trusted test code. It runs the tests itself, calling the program's functions
  through a pipe, on plain values only, and prints ``\\n<nonce> <payload>`` on stdout when they all
  pass (the payload: the JSON of what the tests left in ``__nlrl_result__``, else null); when they
  do not, ``\\n<nonce>! <report>`` (what failed: see ``_failure``) and exit status 1.
  The program never holds the nonce, so it cannot print either.
- **the runner** (the fork): closes every descriptor but stdin/stdout/stderr and its two pipe
  ends, then runs the untrusted program. It answers the judge's requests ("get name", "call",
  "list"): values cross as JSON of plain built-in values (None, bool, int, float, complex, str,
  bytes, list, tuple, set, frozenset, dict), rebuilt fresh on the judge's side; any other object
  is a handle that can be called or listed but compares, hashes and tests true as an error. So
  the tests never call an ``__eq__`` of the program's objects.

Arguments (JSON in argv[1], not secret): ``prog`` and ``secret`` file descriptors, ``limits``,
``seccomp`` (hex of a compiled BPF program, or null).
"""

import builtins
import ctypes
import importlib
import json
import os
import resource
import signal
import struct
import sys
import traceback

_A = json.loads(sys.argv[1])
_libc = ctypes.CDLL(None, use_errno=True)
_libc.prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
PR_SET_PDEATHSIG, PR_SET_DUMPABLE, PR_SET_NO_NEW_PRIVS, PR_SET_SECCOMP = 1, 4, 38, 22
MAX_FRAME = 32 << 20


def _die(what):
    os.write(2, ("nlrl sandbox: " + what + "\n").encode())
    os._exit(97)


class _Filter(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


def _confine():
    if _libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0:
        _die("prctl(PR_SET_DUMPABLE) failed")
    lim = _A["limits"]
    for res, value in ((resource.RLIMIT_AS, lim["memory_mb"] << 20), (resource.RLIMIT_FSIZE, lim["file_mb"] << 20),
                       (resource.RLIMIT_CORE, 0), (resource.RLIMIT_NOFILE, 256)):
        resource.setrlimit(res, (value, value))
    resource.setrlimit(resource.RLIMIT_CPU, (lim["cpu_s"], lim["cpu_s"] + 1))
    if lim.get("nproc"):
        resource.setrlimit(resource.RLIMIT_NPROC, (lim["nproc"], lim["nproc"]))
    if _libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        _die("prctl(PR_SET_NO_NEW_PRIVS) failed")
    if _A.get("seccomp"):
        code = bytes.fromhex(_A["seccomp"])
        buf = ctypes.create_string_buffer(code, len(code))
        prog = _Filter(len(code) // 8, ctypes.addressof(buf))
        if _libc.prctl(PR_SET_SECCOMP, 2, ctypes.addressof(prog), 0, 0) != 0:
            _die("installing the seccomp filter failed: " + os.strerror(ctypes.get_errno()))


# ---------------------------------------------------------------------------------------------
# framing and values (both sides)

def _send(fd, obj):
    data = json.dumps(obj).encode()
    data = struct.pack(">I", len(data)) + data
    while data:
        data = data[os.write(fd, data):]


def _recv_exact(fd, n):
    parts = []
    while n:
        chunk = os.read(fd, min(n, 1 << 20))
        if not chunk:
            raise EOFError
        parts.append(chunk)
        n -= len(chunk)
    return b"".join(parts)


def _recv(fd):
    (n,) = struct.unpack(">I", _recv_exact(fd, 4))
    if n > MAX_FRAME:
        raise ValueError("a message from the program is larger than %d bytes" % MAX_FRAME)
    return json.loads(_recv_exact(fd, n))


_TAGS = {list: "l", tuple: "t", set: "s", frozenset: "F"}


def _plain(v, depth=0):
    """Runner side: the JSON form of a plain value; raises TypeError for anything else."""
    if depth > 200:
        raise TypeError("nested too deeply")
    t = type(v)
    if v is None or t is bool or t is str:
        return v
    if t is int:
        return v if -(1 << 62) < v < (1 << 62) else ["i", hex(v)]
    if t is float:
        return ["f", v.hex()]
    if t in _TAGS:
        return [_TAGS[t], [_plain(x, depth + 1) for x in v]]
    if t is dict:
        return ["d", [[_plain(k, depth + 1), _plain(x, depth + 1)] for k, x in v.items()]]
    if t is bytes:
        return ["b", v.hex()]
    if t is complex:
        return ["c", v.real.hex(), v.imag.hex()]
    # values that equal their built-in base in Python's own comparisons
    if isinstance(v, bool):
        return bool(v)
    if isinstance(v, int):
        return _plain(int(v), depth)
    if isinstance(v, float):
        return _plain(float(v), depth)
    if isinstance(v, str):
        return str.__str__(v)
    if isinstance(v, dict):  # Counter, OrderedDict, defaultdict
        return _plain(dict(v), depth)
    if isinstance(v, tuple):  # named tuples
        return _plain(tuple(v), depth)
    if isinstance(v, list):
        return _plain(list(v), depth)
    if type(v).__module__ == "numpy" and hasattr(v, "item") and getattr(v, "ndim", 1) == 0:
        return _plain(v.item(), depth)
    raise TypeError(type(v).__name__)


# ---------------------------------------------------------------------------------------------
# the runner: untrusted program

def _runner(prog_fd, req_fd, resp_fd, mode):
    with os.fdopen(prog_fd, "r", encoding="utf-8") as f:
        src = f.read()
    try:  # the interpreter started without site (-S, fast): the program still gets site-packages
        import site
        sys.path.extend(p for p in site.getsitepackages() if p not in sys.path)
    except Exception:
        pass
    g = {"__name__": "__nlrl_program__", "__builtins__": builtins}
    handles = []

    def enc(v):
        try:
            return _plain(v)
        except (TypeError, ValueError, RecursionError):
            pass
        if type(v) is type(os):
            return ["m", str(v.__name__)]
        handles.append(v)
        try:  # what the program says its object's truth is: it could as well return that bool
            truth = bool(v)
        except BaseException:
            truth = None
        return ["h", len(handles) - 1, type(v).__name__[:60], truth]

    def dec(v):
        if isinstance(v, list):
            tag = v[0]
            if tag == "h":
                return handles[v[1]]
            if tag == "i":
                return int(v[1], 16)
            if tag == "f":
                return float.fromhex(v[1])
            if tag == "c":
                return complex(float.fromhex(v[1]), float.fromhex(v[2]))
            if tag == "b":
                return bytes.fromhex(v[1])
            if tag == "d":
                return {dec(k): dec(x) for k, x in v[1]}
            return {"l": list, "t": tuple, "s": set, "F": frozenset}[tag](dec(x) for x in v[1])
        return v

    try:
        exec(compile(src, "program.py", "exec"), g)
        payload = g.get("__nlrl_result__")
        payload = json.dumps(payload) if payload is not None else "null"
        sys.stdout.flush()
        sys.stderr.flush()
    except BaseException:
        try:
            try:
                sys.stdout.flush()  # what it printed before it failed is part of its output
            except BaseException:
                pass
            traceback.print_exc()
            sys.stderr.flush()
        finally:
            os._exit(1)
    if mode == "program":
        _send(resp_fd, ["done", payload])
        os._exit(0)
    _send(resp_fd, ["ready"])
    while True:
        try:
            req = _recv(req_fd)
        except EOFError:
            os._exit(0)
        try:
            op = req[0]
            if op == "get":
                if req[1] not in g:
                    resp = ["missing"]
                else:
                    resp = ["ok", enc(g[req[1]])]
            elif op == "call":
                fn = handles[req[1]]
                value = fn(*[dec(a) for a in req[2]], **{k: dec(a) for k, a in req[3].items()})
                resp = ["ok", enc(value)]
            elif op == "list":
                resp = ["ok", enc(list(handles[req[1]]))]
            else:
                resp = ["raise", "RuntimeError", "bad request"]
            sys.stdout.flush()
        except BaseException as exc:  # the program's error, reported to the tests
            try:
                resp = ["raise", type(exc).__name__[:60], str(exc)[:300]]
            except BaseException:
                resp = ["raise", "Exception", "unprintable exception"]
            try:
                sys.stdout.flush()  # what the failing call printed is part of its output
            except BaseException:
                pass
        _send(resp_fd, resp)


# ---------------------------------------------------------------------------------------------
# the judge: trusted tests

class ProgramError(Exception):
    """The program broke the protocol (died, or sent something that is not a plain value)."""


class _Remote:
    """An object of the program's: it may be called or listed; any other use is an error."""

    __slots__ = ("_id", "_kind", "_truth")

    def __init__(self, hid, kind, truth):
        self._id, self._kind, self._truth = hid, kind, truth

    def __call__(self, *args, **kwargs):
        return _JUDGE.rpc(["call", self._id, [_JUDGE.enc(a) for a in args],
                           {str(k): _JUDGE.enc(a) for k, a in kwargs.items()}])

    def __iter__(self):
        return iter(_JUDGE.rpc(["list", self._id]))

    def _refuse(self, *args):
        raise TypeError("the program returned a %s object, not a plain value" % self._kind)

    def __bool__(self):
        if self._truth is None:
            self._refuse()
        return self._truth

    __eq__ = __ne__ = __lt__ = __le__ = __gt__ = __ge__ = __len__ = __hash__ = _refuse
    __contains__ = __getitem__ = __add__ = __sub__ = __mul__ = __truediv__ = __float__ = __int__ = _refuse

    def __repr__(self):
        return "<program's %s>" % self._kind


class _Judge:
    def __init__(self, req_fd, resp_fd):
        self.req_fd, self.resp_fd = req_fd, resp_fd

    def rpc(self, msg):
        try:
            _send(self.req_fd, msg)
            resp = _recv(self.resp_fd)
        except (EOFError, OSError):
            raise ProgramError("the program exited during a call") from None
        except ValueError as exc:
            raise ProgramError("the program sent a malformed reply: %s" % exc) from None
        if not isinstance(resp, list) or not resp:
            raise ProgramError("the program sent a malformed reply")
        if resp[0] == "ok" and len(resp) == 2:
            return self.dec(resp[1])
        if resp[0] == "raise" and len(resp) == 3:
            kind = getattr(builtins, str(resp[1]), None)
            if not (isinstance(kind, type) and issubclass(kind, Exception)):
                kind = RuntimeError
            raise kind(str(resp[2])) if kind is not RuntimeError else RuntimeError("%s: %s" % (resp[1], resp[2]))
        if resp[0] == "missing":
            raise NameError("the program does not define it")
        raise ProgramError("the program sent a malformed reply")

    def dec(self, v, depth=0):
        """Fresh built-in values from the runner's JSON; nothing of the program's survives."""
        if depth > 200:
            raise ProgramError("a value from the program is nested too deeply")
        if v is None or type(v) in (bool, int, float, str):
            return v
        if type(v) is not list or not v or type(v[0]) is not str:
            raise ProgramError("the program sent a malformed value")
        tag = v[0]
        try:
            if tag == "h":
                truth = v[3] if len(v) > 3 and type(v[3]) is bool else None
                return _Remote(int(v[1]), str(v[2]), truth)
            if tag == "m":  # a module the program imported: the tests import their own copy
                name = str(v[1])
                if name.split(".")[0] not in sys.stdlib_module_names:
                    raise ProgramError("the tests use the program's module %r, not a standard one" % name)
                return importlib.import_module(name)
            if tag == "i":
                return int(str(v[1]), 16)
            if tag == "f":
                return float.fromhex(str(v[1]))
            if tag == "c":
                return complex(float.fromhex(str(v[1])), float.fromhex(str(v[2])))
            if tag == "b":
                return bytes.fromhex(str(v[1]))
            items = v[1]
            if type(items) is not list:
                raise ProgramError("the program sent a malformed value")
            if tag == "d":
                return {self.dec(k, depth + 1): self.dec(x, depth + 1) for k, x in items}
            make = {"l": list, "t": tuple, "s": set, "F": frozenset}[tag]
            return make([self.dec(x, depth + 1) for x in items])
        except (KeyError, ValueError, TypeError, IndexError) as exc:
            raise ProgramError("the program sent a malformed value (%s)" % type(exc).__name__) from None

    def enc(self, v):
        if isinstance(v, _Remote):
            return ["h", v._id, v._kind, None]
        try:
            return _plain(v)
        except TypeError:
            raise TypeError("cannot pass a %s to the program" % type(v).__name__) from None


_JUDGE = None


def _prelude(text):
    """The prelude compiled; a prompt that ends in a bare ``def`` line gets a body. One that still
    does not compile is left out: the names the tests need then come from the program."""
    for src in (text, text.rstrip() + "\n    pass\n"):
        try:
            return compile(src, "<prelude>", "exec")
        except SyntaxError:
            continue
    return compile("", "<prelude>", "exec")


def _failure(exc, tests):
    """What the judge saw fail: the stage, the test's source line (the innermost frame in the
    tests), the exception (its message may be the program's text) and the traceback printed."""
    where, line = None, None
    for frame in traceback.extract_tb(exc.__traceback__):
        if frame.filename == "<tests>" and frame.lineno:
            line = frame.lineno
    lines = tests.splitlines()
    if line and line <= len(lines):
        where = lines[line - 1].strip()[:500]
    try:
        message = str(exc)[:500]
    except BaseException:
        message = "unprintable exception"
    return {"stage": "tests", "test": where, "line": line, "error": type(exc).__name__[:60],
            "message": message, "traceback": "".join(traceback.format_exception(exc))[-8000:]}


def _judge(pid, secret_fd, req_fd, resp_fd, mode):
    global _JUDGE
    with os.fdopen(secret_fd, "r", encoding="utf-8") as f:
        spec = json.loads(f.read())
    nonce = spec.pop("nonce")
    ok, payload, report = False, "null", {"stage": "load"}
    try:
        _JUDGE = _Judge(req_fd, resp_fd)
        try:
            first = _recv(resp_fd)
        except (EOFError, ValueError):
            first = None
        if mode == "program":
            if isinstance(first, list) and len(first) == 2 and first[0] == "done":
                payload = json.dumps(json.loads(str(first[1])))
                _, status = os.waitpid(pid, 0)
                pid = 0
                ok = status == 0
        elif first == ["ready"]:
            ns = {"__name__": "__nlrl_tests__", "__builtins__": builtins}
            exec(_prelude(spec.get("prelude") or ""), ns)
            if spec.get("entry_point"):
                ns[spec["entry_point"]] = _JUDGE.rpc(["get", spec["entry_point"]])
            for name in spec.get("free_names", ()):
                if name not in ns:
                    try:
                        ns[name] = _JUDGE.rpc(["get", name])
                    except NameError:
                        pass
            exec(compile(spec["tests"], "<tests>", "exec"), ns)
            # the trusted tests may leave a JSON value (e.g. one verdict per example) as the payload
            result = ns.get("__nlrl_result__")
            if result is not None:
                payload = json.dumps(result)
            ok = True
    except BaseException as exc:
        if pid:
            os.kill(pid, signal.SIGKILL)  # first, so the tests' message is the last on stderr
            pid = 0
        report = _failure(exc, spec.get("tests") or "")
        sys.stderr.flush()
        tb = report["traceback"].encode("utf-8", "replace")
        while tb:
            tb = tb[os.write(2, tb):]
    if pid:
        os.kill(pid, signal.SIGKILL)
    sys.stdout.flush()
    sys.stderr.flush()
    if ok:
        out = ("\n" + nonce + " " + payload + "\n").encode()
    else:  # a report of the failure, under its own mark (the nonce and "!"): the program cannot forge it
        out = ("\n" + nonce + "! " + json.dumps({"failure": report}) + "\n").encode()
    while out:
        out = out[os.write(1, out):]
    os._exit(0 if ok else 1)


def main():
    mode = _A["mode"]
    prog_fd, secret_fd = _A["prog"], _A["secret"]
    _confine()
    req_r, req_w = os.pipe()
    resp_r, resp_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            _libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
            os.close(secret_fd)
            os.close(req_w)
            os.close(resp_r)
            keep = {0, 1, 2, prog_fd, req_r, resp_w}
            for fd in range(3, 1024):
                if fd not in keep:
                    try:
                        os.close(fd)
                    except OSError:
                        pass
            _runner(prog_fd, req_r, resp_w, mode)
        finally:
            os._exit(1)
    os.close(prog_fd)
    os.close(req_r)
    os.close(resp_w)
    _judge(pid, secret_fd, req_w, resp_r, mode)


main()
