"""The seccomp filter as data: built for the known architectures, refused for others."""

import struct

import pytest

from nlrl.verifiers._seccomp import DENIED, NR, filter_program


@pytest.mark.parametrize("arch", sorted(NR))
def test_filter_compiles_for_known_architectures(arch):
    code = filter_program(arch)
    assert len(code) % 8 == 0 and len(code) // 8 < 4096  # BPF_MAXINSNS
    ins = [struct.unpack("=HBBI", code[i:i + 8]) for i in range(0, len(code), 8)]
    assert ins[-1] == (0x06, 0, 0, 0x7FFF0000)  # the default is to allow
    nrs = {k for op, _, _, k in ins if op == 0x15}
    for name in DENIED:
        if name in NR[arch]:
            assert NR[arch][name] in nrs, name
    # every jump lands inside the program
    assert all(i + 1 + max(jt, jf) < len(ins) for i, (op, jt, jf, _) in enumerate(ins) if op & 0x07 == 0x05)


def test_no_filter_for_an_unknown_architecture():
    with pytest.raises(OSError, match="no seccomp filter for the sparc64 architecture"):
        filter_program("sparc64")


def test_syscall_numbers_are_distinct():
    for arch, table in NR.items():
        assert len(set(table.values())) == len(table), arch
