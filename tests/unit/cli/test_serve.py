"""``nlrl serve``'s refusals: one line, exit 1, before any model is loaded."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

pytest.importorskip("fastapi")

from nlrl.cli import app  # noqa: E402

runner = CliRunner()


@pytest.mark.parametrize("args, says", [
    (["--strategy", "tree-of-magic"], "unknown strategy 'tree-of-magic'; known:"),
    (["--max-concurrency", "0"], "max_concurrency must be >= 1"),
    (["--api-key-file", "/nonexistent/keys"], "cannot read API key file"),
])
def test_bad_settings_fail_in_one_line(tmp_path, args, says):
    r = runner.invoke(app, ["serve", "--backend", "scripted", "--run-dir", str(tmp_path), *args])
    assert r.exit_code == 1
    assert says in r.stderr and len(r.stderr.strip().splitlines()) == 1
