"""llama.cpp on CPUs with Intel AMX: keep the weights out of ggml's AMX buffer type.

llama-cpp-python compiles llama.cpp for the machine it is installed on (``GGML_NATIVE``). On a
CPU with AMX (Sapphire Rapids and later Xeons) that build registers AMX as an *extra buffer
type* and repacks the weights into it at load, the token embedding table included; with the
pinned release (0.3.36) the first ``llama_decode`` on the Gemma 3 GGUF then crashes the process
with a segmentation fault, for generation and embedding alike (seen on these machines;
llama.cpp issue 11115 is the same class of fault: a tensor in the AMX buffer read back through
an interface it does not implement).

llama.cpp's model parameter ``use_extra_bufts`` (its ``--no-repack``) turns the extra buffer
types off, and then the weights stay in ordinary CPU buffers and run on the AVX-512 kernels.
``Llama`` does not expose the parameter, so :func:`guard` wraps the function it reads its
defaults from. It only does so when the build has AMX in it: elsewhere the repacked layouts are
the faster path and work, and nothing changes. A build flag could avoid the patch, but the
README's one install command cannot pass ``CMAKE_ARGS`` to a dependency's build.
"""

from __future__ import annotations

import logging
from typing import Any

log = logging.getLogger(__name__)

_guarded = False


def has_amx() -> bool:
    """Whether the installed llama.cpp was built with AMX kernels."""
    import llama_cpp

    return b"AMX_INT8 = 1" in llama_cpp.llama_print_system_info()


def guard() -> bool:
    """Load every later ``llama_cpp.Llama`` model without the extra buffer types on AMX builds.

    Idempotent; returns whether the guard is active."""
    global _guarded
    if _guarded:
        return True
    if not has_amx():
        return False
    from llama_cpp import llama_cpp as lib

    defaults = lib.llama_model_default_params

    def model_params() -> Any:
        params = defaults()
        params.use_extra_bufts = False
        return params

    lib.llama_model_default_params = model_params
    _guarded = True
    log.debug("llama.cpp built with AMX: models load without the AMX/repack buffer types")
    return True
