"""The AMX guard: on a llama.cpp built with AMX every model loads without the extra buffer
types (the AMX repack crashes the Gemma GGUF's first decode there); elsewhere nothing changes."""

from __future__ import annotations

import subprocess
import sys

import pytest

llama_cpp = pytest.importorskip("llama_cpp")

from nlrl.backends import _llama_cpu  # noqa: E402


def test_guard_turns_extra_buffer_types_off_exactly_on_amx_builds(monkeypatch):
    from llama_cpp import llama_cpp as lib

    monkeypatch.setattr(_llama_cpu, "_guarded", False)
    monkeypatch.setattr(lib, "llama_model_default_params", lib.llama_model_default_params)
    for amx in (False, True):
        monkeypatch.setattr(_llama_cpu, "has_amx", lambda amx=amx: amx)
        active = _llama_cpu.guard()
        assert active is amx
        assert lib.llama_model_default_params().use_extra_bufts is (not amx)
    assert _llama_cpu.guard() is True  # idempotent: the wrapper is not wrapped again


def test_has_amx_reads_the_build_not_the_cpu():
    info = llama_cpp.llama_print_system_info()
    assert _llama_cpu.has_amx() == (b"AMX_INT8 = 1" in info)


def test_server_launcher_takes_llama_cpp_servers_options():
    # Every option passes through to llama_cpp.server (its --help lists them); nothing is loaded.
    out = subprocess.run([sys.executable, "-m", "nlrl.backends.llama_server", "--help"],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "--model" in out.stdout and "--n_threads" in out.stdout
