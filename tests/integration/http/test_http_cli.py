"""The issue's own reproduction: ``nlrl solve --backend openai --strategy self-consistency --n 3``
against llama-cpp-python's server as users start it (no native n, streams cut by a queued
request), streamed and with ``--json``: three samples and a vote, exit code 0."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SRC = Path(__file__).resolve().parents[3] / "src"


def solve(target, tmp_path, *extra: str) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "nlrl", "solve", "What is 5 + 6?", "--backend", "openai",
           "--base-url", target.url, "--model", target.models["completions"],
           "--strategy", "self-consistency", "--n", "3", "--max-tokens", "24",
           "--run-dir", str(tmp_path), *extra]
    env = {**os.environ, "PYTHONPATH": f"{SRC}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
           "NLRL_THREADS": "1"}
    return subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=env)


@pytest.mark.parametrize("target", ["llama-cpp-python"], indirect=True)
def test_self_consistency_n3_json(target, tmp_path):
    res = solve(target, tmp_path, "--json")
    assert res.returncode == 0, res.stderr[-2000:]
    out = json.loads(res.stdout)
    samples = [e for e in out["trace"] if e["kind"] == "sample"]
    votes = [e for e in out["trace"] if e["kind"] == "vote"]
    assert sorted(e["index"] for e in samples) == [0, 1, 2]
    assert len(votes) == 1 and votes[0]["samples"] == 3
    assert out["usage"]["calls"] >= 3 and out["usage"]["completion_tokens"] > 0


@pytest.mark.parametrize("target", ["llama-cpp-python"], indirect=True)
def test_self_consistency_n3_streamed(target, tmp_path):
    res = solve(target, tmp_path)
    assert res.returncode == 0, res.stderr[-2000:]
    assert res.stdout.strip() and "error" not in res.stderr.lower()
