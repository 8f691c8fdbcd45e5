"""Stage 0 of the sandbox: run as root with ``python -I -S _jail.py``; never imported.

It reads one JSON request on stdin, then builds the jail the untrusted program runs in:

1. new mount, network, PID, IPC and UTS namespaces (no network interface is up, not even lo);
2. forks: the child is PID 1 of the new PID namespace, so when it exits the kernel kills every
   process left in the namespace, however it was detached;
3. in the child: a fresh /proc (only the jail's processes are visible), every mount remounted
   read-only, a private size-limited tmpfs on /tmp (the working directory) and /dev/shm;
4. rlimits, then all privileges dropped to a throw-away uid with no supplementary groups and
   no_new_privs; the parent-death signal is SIGKILL, so killing this process kills the jail;
5. exec of an interpreter that uid can read, running the harness.

This file runs only trusted code: the request's program is written to a file and executed by
the harness after privileges are dropped. Exit status 97 means the jail could not be built.
"""

import ctypes
import json
import os
import resource
import signal
import sys

CLONE_NEWNS, CLONE_NEWUTS, CLONE_NEWIPC = 0x00020000, 0x04000000, 0x08000000
CLONE_NEWPID, CLONE_NEWNET = 0x20000000, 0x40000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_REMOUNT, MS_NOATIME, MS_NODIRATIME, MS_BIND = 32, 1024, 2048, 4096
MS_REC, MS_PRIVATE, MS_RELATIME, MS_STRICTATIME = 16384, 1 << 18, 1 << 21, 1 << 24
PR_SET_PDEATHSIG, PR_SET_NO_NEW_PRIVS = 1, 38
KEEP = {"nosuid": MS_NOSUID, "nodev": MS_NODEV, "noexec": MS_NOEXEC, "noatime": MS_NOATIME,
        "nodiratime": MS_NODIRATIME, "relatime": MS_RELATIME, "strictatime": MS_STRICTATIME}
JAIL_FAILED = 97

libc = ctypes.CDLL(None, use_errno=True)
libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p]
libc.prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]


def die(what):
    err = ctypes.get_errno()
    os.write(2, f"nlrl sandbox: {what} failed: {os.strerror(err) if err else 'error'}\n".encode())
    os._exit(JAIL_FAILED)


def mount(src, target, fstype, flags, data=None):
    enc = lambda s: None if s is None else s.encode()  # noqa: E731
    return libc.mount(enc(src), enc(target), enc(fstype), flags, enc(data)) == 0


def unescape(path):
    # mountinfo escapes space, tab, newline and backslash as octal
    for code, ch in (("\\040", " "), ("\\011", "\t"), ("\\012", "\n"), ("\\134", "\\")):
        path = path.replace(code, ch)
    return path


def make_read_only():
    with open("/proc/self/mountinfo") as f:
        lines = f.read().splitlines()
    for line in lines:
        fields = line.split()
        target, opts = unescape(fields[4]), fields[5].split(",")
        if target == "/proc" or target.startswith("/proc/") or target == "/dev":
            continue
        flags = MS_REMOUNT | MS_BIND | MS_RDONLY
        for o in opts:
            flags |= KEEP.get(o, 0)
        if not mount(None, target, None, flags) and target == "/":
            die("remounting / read-only")


def child(req, nonce_r):
    if not mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC):
        die("mounting /proc")
    make_read_only()
    lim = req["limits"]
    tmp_opts = f"size={lim['disk_mb']}m,mode=0755,nr_inodes=4096"
    if not mount("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, tmp_opts):
        die("mounting /tmp")
    if os.path.isdir("/dev/shm"):
        mount("tmpfs", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "size=16m,mode=1777")
    uid = req["uid"]
    work = "/tmp/work"
    os.mkdir(work, 0o700)
    for name, text in req["files"].items():
        with open(os.path.join(work, name), "w", encoding="utf-8") as f:
            f.write(text)
        os.chown(os.path.join(work, name), uid, uid)
    os.chown(work, uid, uid)
    os.chdir(work)
    devnull = os.open("/dev/null", os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    for res, value in ((resource.RLIMIT_AS, lim["memory_mb"] << 20), (resource.RLIMIT_FSIZE, lim["file_mb"] << 20),
                       (resource.RLIMIT_NPROC, lim["procs"]), (resource.RLIMIT_CORE, 0),
                       (resource.RLIMIT_NOFILE, 256)):
        resource.setrlimit(res, (value, value))
    resource.setrlimit(resource.RLIMIT_CPU, (lim["cpu_s"], lim["cpu_s"] + 1))
    os.setgroups([])
    os.setresgid(uid, uid, uid)
    os.setresuid(uid, uid, uid)
    # after the uid change, which clears the parent-death signal
    if libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 or libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
        die("prctl")
    os.set_inheritable(nonce_r, True)
    env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": work, "TMPDIR": work, "LANG": "C.UTF-8",
           "LC_ALL": "C.UTF-8"}
    argv_tail = ["-I", "-c", req["harness"], str(nonce_r)]
    for python in req["pythons"]:
        try:
            os.execve(python, [python] + argv_tail, env)
        except OSError:
            continue
    os.write(2, b"nlrl sandbox: no interpreter is readable by the sandbox user\n")
    os._exit(JAIL_FAILED)


def main():
    req = json.loads(sys.stdin.buffer.read())
    if libc.unshare(CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWPID | CLONE_NEWIPC | CLONE_NEWUTS) != 0:
        die("unshare")
    if not mount(None, "/", None, MS_REC | MS_PRIVATE):  # nothing we mount leaks to the host
        die("making mounts private")
    nonce_r, nonce_w = os.pipe()
    os.write(nonce_w, req["nonce"].encode())
    os.close(nonce_w)
    pid = os.fork()
    if pid == 0:
        try:
            child(req, nonce_r)
        except BaseException as exc:  # noqa: BLE001 - report and fail closed
            os.write(2, f"nlrl sandbox: {exc!r}\n".encode())
        os._exit(JAIL_FAILED)
    os.close(nonce_r)
    _, status = os.waitpid(pid, 0)
    os._exit(os.WEXITSTATUS(status) if os.WIFEXITED(status) else 128 + os.WTERMSIG(status))


if __name__ == "__main__":
    main()
