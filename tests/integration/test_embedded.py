"""The real embedded model: Gemma 3 270M through llama.cpp (a few seconds in all)."""

import json
import logging
import subprocess
import sys

import pytest

from nlrl import Pipeline, PromptError, SamplingParams

pytestmark = pytest.mark.integration

FEW_SHOT = ("Question: What is 12 + 7?\nAnswer: 12 + 7 = 19.\nFinal Answer: 19\n\n"
            "Question: What is 23 + 15?\nAnswer:")


def test_greedy_generation_streams_every_piece(embedded):
    seen = []
    g = embedded.complete(FEW_SHOT, SamplingParams(max_tokens=24, stop=("Question:",)),
                          on_token=lambda ev: seen.append(ev.text))
    c = g.completions[0]
    assert "Final Answer:" in c.text
    assert "".join(seen) == c.text
    assert c.finish_reason in ("stop", "length")
    assert g.usage.completion_tokens == len(c.token_ids) > 0
    assert g.usage.calls == 1 and g.usage.prompt_tokens >= 1


def test_n_samples_evaluate_the_prompt_once_and_seeds_reproduce(embedded):
    params = SamplingParams(n=4, temperature=0.9, seed=11, max_tokens=12)
    a = embedded.complete(FEW_SHOT, params)
    length = embedded.count_tokens(FEW_SHOT)
    assert len(a.completions) == 4 and [c.index for c in a.completions] == [0, 1, 2, 3]
    assert a.usage.prompt_tokens <= length * 1.1
    b = embedded.complete(FEW_SHOT, params)
    assert a.texts == b.texts
    assert b.usage.prompt_tokens <= 1  # the prompt's KV entries were reused


def test_logprobs_per_token(embedded):
    c = embedded.complete(FEW_SHOT, SamplingParams(max_tokens=8, logprobs=True)).completions[0]
    assert c.logprobs is not None and len(c.logprobs) == len(c.token_ids)
    assert all(lp <= 0 for lp in c.logprobs)
    batch = embedded.complete(FEW_SHOT, SamplingParams(n=2, max_tokens=8, logprobs=True))
    # batched matmuls round differently from single-sequence ones: close, not identical
    assert batch.completions[0].logprobs == pytest.approx(c.logprobs, abs=0.02)


def test_early_stop_from_callback(embedded):
    g = embedded.complete(FEW_SHOT, SamplingParams(max_tokens=40), on_token=lambda ev: True)
    c = g.completions[0]
    assert c.finish_reason == "answer" and len(c.token_ids) == 1


def test_pipeline_stops_once_answer_line_is_written(embedded):
    result = Pipeline(embedded, max_tokens=96).solve("What is 23 + 15?", domain="math")
    assert result.final_answer is not None
    assert result.trace[0].data["finish_reason"] in ("answer", "stop")
    assert result.output.rstrip().splitlines()[-1].startswith("Final Answer:")
    assert result.gists and result.usage.completion_tokens <= 96


def test_prompt_longer_than_context(embedded):
    with pytest.raises(PromptError, match="context"):
        embedded.complete("word " * 5000)


def test_cli_solve_json_on_the_embedded_model(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "nlrl", "solve", "What is 2 + 3?", "--json", "--max-tokens", "64",
         "--run-dir", str(tmp_path)],
        capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""  # llama.cpp's log (model load, KV cache) goes to logging, not stderr
    d = json.loads(proc.stdout)
    assert d["domain"] == "math" and d["final_answer"]
    assert d["usage"]["completion_tokens"] > 0 and d["gists"]


def test_cli_error_after_the_model_loaded_is_one_line(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "nlrl", "solve", "word " * 5000, "--json", "--run-dir", str(tmp_path)],
        capture_output=True, text=True, timeout=240)
    assert proc.returncode == 1 and proc.stdout == ""
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: prompt is") and "context" in lines[0]


def test_llama_cpp_log_goes_to_logging_at_debug(caplog):
    from nlrl.backends.llama import LlamaCppBackend

    with caplog.at_level(logging.DEBUG, logger="nlrl.llama_cpp"):
        LlamaCppBackend(n_ctx=256, n_threads=1).close()
    lines = [r.getMessage() for r in caplog.records if r.name == "nlrl.llama_cpp"]
    assert all(r.levelno == logging.DEBUG for r in caplog.records if r.name == "nlrl.llama_cpp")
    assert any(line.startswith("llama_kv_cache_iswa: using full-size SWA cache") for line in lines)
    assert all(line and not line.endswith("\n") for line in lines)  # whole lines, one record each


def test_cli_invalid_utf8_prompt(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "nlrl", "solve", b"\xff\xfe", "--run-dir", str(tmp_path)],
                          capture_output=True, timeout=120)
    assert proc.returncode == 1
    assert proc.stderr.decode().strip() == "error: prompt is not valid UTF-8"


def test_score_text_gives_teacher_forced_logprobs(embedded):
    c = embedded.complete(FEW_SHOT, SamplingParams(max_tokens=8, logprobs=True)).completions[0]
    scored = embedded.score_text(FEW_SHOT, c.text)
    assert len(scored) == len(c.logprobs)
    assert scored == pytest.approx(c.logprobs, abs=0.25)  # prompt evaluated in one batch here
    right = embedded.score_text(FEW_SHOT, " 23 + 15 = 38.")
    wrong = embedded.score_text(FEW_SHOT, " 23 + 15 = 91.")
    assert sum(right) > sum(wrong)


def test_the_readmes_first_example_gets_the_answer_it_promises(embedded):
    """The README's first command, on the default strategy and settings, prints what its comment
    says (`benchmarks/results/arithmetic.json` has why it is not a two-digit sum)."""
    import re
    from pathlib import Path

    readme = (Path(__file__).parents[2] / "README.md").read_text()
    question, promised = re.search(r'nlrl solve "([^"]+)" +# .*"Final Answer: ([^"]+)"', readme).groups()
    assert Pipeline(embedded).solve(question).final_answer == promised
    # and the strategy it shows fixing a sum the default gets wrong
    question, strategy, promised = re.search(
        r'nlrl solve "([^"]+)" --strategy ([\w-]+) +# .*"Final Answer: ([^"]+)"', readme).groups()
    assert Pipeline(embedded, strategy=strategy).solve(question).final_answer == promised
