"""For the CLI tests: scripted-model files, the gsm8k answers that grade right, and the one-line
error every command gives for bad input."""

from __future__ import annotations

import json
from pathlib import Path


def script(path: Path, *outputs: str) -> str:
    """Write a scripted backend's outputs to ``path`` (a JSON list); the path, for ``--model``."""
    path.write_text(json.dumps(list(outputs)))
    return str(path)


def gsm8k_answers(k: int) -> list[str]:
    """Outputs answering the first ``k`` gsm8k questions right, in order."""
    from nlrl.bench import load_dataset

    return [f" Working.\nFinal Answer: {r.reference}\n" for r in load_dataset("gsm8k").select(limit=k)]


def one_line_error(r, *needles: str) -> None:
    """``r`` (a CliRunner result) exited 1 with one ``error: ...`` line naming every needle."""
    assert r.exit_code == 1, r.output
    assert r.stderr.startswith("error: ") and r.stderr.count("\n") == 1, r.stderr
    assert "Traceback" not in r.output
    for n in needles:
        assert n in r.stderr, r.stderr
