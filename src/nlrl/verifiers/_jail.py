"""Stage 0 of the "namespaces" and "userns" sandbox modes: ``python -I -S _jail.py``; never imported.

It reads one JSON request on stdin, then builds the jail the untrusted program runs in:

1. "userns" (any user): a new user namespace mapping only the caller's own uid and gid (no
   setgroups), which gives this process the capabilities to build the rest; "namespaces" (root):
   no user namespace;
2. new mount, network, PID, IPC and UTS namespaces (no network interface is up, not even lo);
3. forks: the child is PID 1 of the new PID namespace, so when it exits the kernel kills every
   process left in the namespace, however it was detached; its host pid goes to the info fd;
4. in the child: a fresh /proc (only the jail's processes are visible), every mount remounted
   read-only (the jail fails if a real file system stays writable), a private size-limited
   tmpfs on /tmp (the working directory) and /dev/shm, an empty read-only /run (no host
   daemons' Unix sockets);
5. "namespaces": all privileges dropped to a throw-away uid with no supplementary groups;
   "userns": the caller's uid, whose capabilities in the namespace end at exec; both get
   no_new_privs, and the parent-death signal SIGKILL, so killing this process kills the jail;
6. exec of an interpreter that uid can read, running the harness (``_harness.py``), which sets
   the rlimits and the seccomp filter before any untrusted code runs.

This file runs only trusted code. Exit status 97 means the jail could not be built.
"""

import ctypes
import json
import os
import resource
import signal
import sys

CLONE_NEWNS, CLONE_NEWUTS, CLONE_NEWIPC, CLONE_NEWUSER = 0x00020000, 0x04000000, 0x08000000, 0x10000000
CLONE_NEWPID, CLONE_NEWNET = 0x20000000, 0x40000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_REMOUNT, MS_NOATIME, MS_NODIRATIME, MS_BIND = 32, 1024, 2048, 4096
MS_REC, MS_PRIVATE, MS_RELATIME, MS_STRICTATIME = 16384, 1 << 18, 1 << 21, 1 << 24
PR_SET_PDEATHSIG, PR_SET_NO_NEW_PRIVS = 1, 38
KEEP = {"nosuid": MS_NOSUID, "nodev": MS_NODEV, "noexec": MS_NOEXEC, "noatime": MS_NOATIME,
        "nodiratime": MS_NODIRATIME, "relatime": MS_RELATIME, "strictatime": MS_STRICTATIME}
JAIL_FAILED = 97
VIRTUAL = ("/sys", "/proc", "/dev")

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
        virtual = any(target == v or target.startswith(v + "/") for v in VIRTUAL)
        if not mount(None, target, None, flags) and "ro" not in opts and not virtual:
            die(f"remounting {target} read-only")


def write(path, text):
    fd = os.open(path, os.O_WRONLY)
    try:
        os.write(fd, text.encode())
    finally:
        os.close(fd)


def child(req):
    if req.get("info_fd") is not None:
        os.close(req["info_fd"])
    if not mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC):
        die("mounting /proc")
    make_read_only()
    lim = req["limits"]
    tmp_opts = f"size={lim['disk_mb']}m,mode=0755,nr_inodes=4096"
    if not mount("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, tmp_opts):
        die("mounting /tmp")
    if os.path.isdir("/dev/shm") and not mount("tmpfs", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC,
                                               "size=16m,mode=1777,nr_inodes=256"):
        die("mounting /dev/shm")
    if os.path.isdir("/run") and not mount("tmpfs", "/run", "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_RDONLY,
                                           "size=16k,mode=0755"):
        die("mounting /run")
    uid = req["uid"] if req["uid"] is not None else os.getuid()
    work = "/tmp/work"
    os.mkdir(work, 0o700)
    os.chown(work, uid, uid if req["uid"] is not None else os.getgid())
    os.chdir(work)
    devnull = os.open("/dev/null", os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    if req["uid"] is not None:
        # RLIMIT_NPROC counts this fresh uid's processes only: the fork-bomb budget
        resource.setrlimit(resource.RLIMIT_NPROC, (lim["procs"], lim["procs"]))
        os.setgroups([])
        os.setresgid(uid, uid, uid)
        os.setresuid(uid, uid, uid)
    # after the uid change, which clears the parent-death signal
    if libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 or libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
        die("prctl")
    for fd in req["fds"]:
        os.set_inheritable(fd, True)
    env = req["env"]
    for python in req["pythons"]:
        try:
            os.execve(python, [python] + req["argv"], env)
        except OSError:
            continue
    os.write(2, b"nlrl sandbox: no interpreter is readable by the sandbox user\n")
    os._exit(JAIL_FAILED)


def main():
    req = json.loads(sys.stdin.buffer.read())
    flags = CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWPID | CLONE_NEWIPC | CLONE_NEWUTS
    if req["userns"]:
        uid, gid = os.getuid(), os.getgid()
        if libc.unshare(CLONE_NEWUSER | flags) != 0:
            die("unshare (user namespaces)")
        try:
            write("/proc/self/setgroups", "deny")
            write("/proc/self/uid_map", f"{uid} {uid} 1")
            write("/proc/self/gid_map", f"{gid} {gid} 1")
        except OSError as exc:
            os.write(2, f"nlrl sandbox: writing the user namespace's id maps failed: {exc}\n".encode())
            os._exit(JAIL_FAILED)
    elif libc.unshare(flags) != 0:
        die("unshare")
    if not mount(None, "/", None, MS_REC | MS_PRIVATE):  # nothing we mount leaks to the host
        die("making mounts private")
    pid = os.fork()
    if pid == 0:
        try:
            child(req)
        except BaseException as exc:  # noqa: BLE001 - report and fail closed
            os.write(2, f"nlrl sandbox: {exc!r}\n".encode())
        os._exit(JAIL_FAILED)
    for fd in req["fds"]:
        os.close(fd)
    if req.get("info_fd") is not None:
        try:
            os.write(req["info_fd"], json.dumps({"child-pid": pid}).encode() + b"\n")
        finally:
            os.close(req["info_fd"])
    _, status = os.waitpid(pid, 0)
    os._exit(os.WEXITSTATUS(status) if os.WIFEXITED(status) else 128 + os.WTERMSIG(status))


if __name__ == "__main__":
    main()
