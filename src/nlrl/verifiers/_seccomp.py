"""The sandbox's seccomp filter, compiled to classic BPF here (no libseccomp needed).

The filter is a deny list, installed by the trusted harness after ``no_new_privs`` and before any
untrusted code runs, and inherited by every process the program starts:

- a foreign architecture (32-bit syscalls on a 64-bit kernel, x32) kills the process;
- ``socket()`` fails with EAFNOSUPPORT for every family, AF_UNIX included (``socketpair()``, which
  reaches nothing outside, stays allowed);
- ``clone()`` with any namespace flag, ``unshare``, ``setns`` fail with EPERM; ``clone3`` fails
  with ENOSYS, so the C library falls back to ``clone``, whose flags the filter can read;
- ``ioctl(TIOCSTI)`` (typing into a terminal) fails with EPERM;
- process inspection (``ptrace``, ``process_vm_readv/writev``, ``pidfd_getfd``, ``kcmp``), the
  mount API, ``bpf``, ``perf_event_open``, the keyring, ``io_uring``, ``userfaultfd``, modules,
  kexec, reboot, swap, clocks, ``syslog``, handle-based opens and the x86 port/LDT calls fail with
  EPERM.

The x86_64 numbers are from ``asm/unistd_64.h`` and exercised by the tests; the aarch64 ones are
``asm-generic/unistd.h``'s and have not run on aarch64 hardware here. Only these two are known; elsewhere :func:`filter_program` raises ``OSError`` and no
isolating mode is available.
"""

from __future__ import annotations

import errno
import platform
import struct

__all__ = ["DENIED", "filter_program"]

AUDIT_ARCH = {"x86_64": 0xC000003E, "aarch64": 0xC00000B7}
_COMMON = ("ptrace", "process_vm_readv", "process_vm_writev", "pidfd_getfd", "kcmp", "mount", "umount2",
           "pivot_root", "chroot", "move_mount", "open_tree", "fsopen", "fsconfig", "fsmount", "fspick",
           "mount_setattr", "bpf", "perf_event_open", "keyctl", "add_key", "request_key", "io_uring_setup",
           "io_uring_enter", "io_uring_register", "userfaultfd", "init_module", "finit_module",
           "delete_module", "kexec_load", "kexec_file_load", "reboot", "swapon", "swapoff", "settimeofday",
           "clock_settime", "clock_adjtime", "adjtimex", "syslog", "quotactl", "lookup_dcookie",
           "fanotify_init", "open_by_handle_at", "name_to_handle_at", "acct", "vhangup", "unshare", "setns")
DENIED = _COMMON + ("iopl", "ioperm", "modify_ldt", "uselib")  # the last four exist on x86_64 only
NR = {
    "x86_64": dict(socket=41, clone=56, clone3=435, ioctl=16, ptrace=101, process_vm_readv=310,
                   process_vm_writev=311, pidfd_getfd=438, kcmp=312, mount=165, umount2=166, pivot_root=155,
                   chroot=161, move_mount=429, open_tree=428, fsopen=430, fsconfig=431, fsmount=432, fspick=433,
                   mount_setattr=442, bpf=321, perf_event_open=298, keyctl=250, add_key=248, request_key=249,
                   io_uring_setup=425, io_uring_enter=426, io_uring_register=427, userfaultfd=323,
                   init_module=175, finit_module=313, delete_module=176, kexec_load=246, kexec_file_load=320,
                   reboot=169, swapon=167, swapoff=168, settimeofday=164, clock_settime=227,
                   clock_adjtime=305, adjtimex=159, syslog=103, quotactl=179, lookup_dcookie=212,
                   fanotify_init=300, open_by_handle_at=304, name_to_handle_at=303, acct=163, vhangup=153,
                   unshare=272, setns=308, iopl=172, ioperm=173, modify_ldt=154, uselib=134),
    "aarch64": dict(socket=198, clone=220, clone3=435, ioctl=29, ptrace=117, process_vm_readv=270,
                    process_vm_writev=271, pidfd_getfd=438, kcmp=272, mount=40, umount2=39, pivot_root=41,
                    chroot=51, move_mount=429, open_tree=428, fsopen=430, fsconfig=431, fsmount=432, fspick=433,
                    mount_setattr=442, bpf=280, perf_event_open=241, keyctl=219, add_key=217, request_key=218,
                    io_uring_setup=425, io_uring_enter=426, io_uring_register=427, userfaultfd=282,
                    init_module=105, finit_module=273, delete_module=106, kexec_load=104, kexec_file_load=294,
                    reboot=142, swapon=224, swapoff=225, settimeofday=170, clock_settime=112,
                    clock_adjtime=266, adjtimex=171, syslog=116, quotactl=60, lookup_dcookie=18,
                    fanotify_init=262, open_by_handle_at=265, name_to_handle_at=264, acct=89, vhangup=58,
                    unshare=97, setns=268),
}

_LD_ABS, _JEQ, _JGE, _JSET, _RET = 0x20, 0x15, 0x35, 0x45, 0x06
_ALLOW, _KILL = 0x7FFF0000, 0x80000000
_NAMESPACE_FLAGS = 0x7E020080  # CLONE_NEWNS|NEWCGROUP|NEWUTS|NEWIPC|NEWUSER|NEWPID|NEWNET|NEWTIME
_TIOCSTI = 0x5412
_OFF_NR, _OFF_ARCH, _OFF_ARG0, _OFF_ARG1 = 0, 4, 16, 24  # struct seccomp_data, little-endian


def _errno(code: int) -> int:
    return 0x00050000 | code


def filter_program(machine: str | None = None) -> bytes:
    """The compiled filter (``struct sock_filter[]``) for this machine's architecture."""
    arch = machine or platform.machine()
    if arch not in NR:
        raise OSError(f"no seccomp filter for the {arch} architecture (known: {', '.join(NR)})")
    nr = NR[arch]
    ins: list[tuple[int, int, int, int]] = [
        (_LD_ABS, 0, 0, _OFF_ARCH), (_JEQ, 1, 0, AUDIT_ARCH[arch]), (_RET, 0, 0, _KILL),
        (_LD_ABS, 0, 0, _OFF_NR),
    ]
    if arch == "x86_64":  # the x32 ABI: same arch value, syscall numbers with bit 30 set
        ins += [(_JGE, 0, 1, 0x40000000), (_RET, 0, 0, _KILL)]
    # socket(): no family at all. Not even AF_UNIX: in the user-namespace modes the program has
    # the caller's uid, so a Unix socket of the caller's on a (read-only) file system, such as a
    # gpg or ssh agent under $HOME, would otherwise answer it. socketpair() stays allowed.
    ins += [(_JEQ, 0, 1, nr["socket"]), (_RET, 0, 0, _errno(errno.EAFNOSUPPORT))]
    ins += [  # clone(flags, ...): no new namespaces
        (_JEQ, 0, 4, nr["clone"]), (_LD_ABS, 0, 0, _OFF_ARG0), (_JSET, 0, 1, _NAMESPACE_FLAGS),
        (_RET, 0, 0, _errno(errno.EPERM)), (_RET, 0, 0, _ALLOW),
    ]
    ins += [  # ioctl(fd, TIOCSTI, ...)
        (_JEQ, 0, 4, nr["ioctl"]), (_LD_ABS, 0, 0, _OFF_ARG1), (_JEQ, 0, 1, _TIOCSTI),
        (_RET, 0, 0, _errno(errno.EPERM)), (_RET, 0, 0, _ALLOW),
    ]
    ins += [(_JEQ, 0, 1, nr["clone3"]), (_RET, 0, 0, _errno(errno.ENOSYS))]
    for name in DENIED:
        if name in nr:
            ins += [(_JEQ, 0, 1, nr[name]), (_RET, 0, 0, _errno(errno.EPERM))]
    ins.append((_RET, 0, 0, _ALLOW))
    return b"".join(struct.pack("=HBBI", *i) for i in ins)
