"""llama-cpp-python's OpenAI-compatible server, started with nlrl's CPU guard.

    python -m nlrl.backends.llama_server --model MODEL.gguf [llama_cpp.server options]

The same server as ``python -m llama_cpp.server`` (every option passes through), except that on
a llama.cpp built with AMX the model loads without the AMX buffer types, which crash it there
(:mod:`nlrl.backends._llama_cpu`). The tests and benchmarks that need a real llama.cpp server
start it this way.
"""

from __future__ import annotations

from ._llama_cpu import guard


def main() -> None:
    guard()
    from llama_cpp.server.__main__ import main as serve

    serve()


if __name__ == "__main__":
    main()
