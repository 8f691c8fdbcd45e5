"""Seeded sampling on the embedded model reproduces whatever the KV cache held before.

The way it failed (issue 11): a fresh process evaluated the prompt in one batch and drew its
first token from that batch's logits; a second call found the prompt cached, re-fed its last
token alone, and llama.cpp's one-row kernel rounded differently, so ``seed=11`` gave other
samples. Each case here runs a fresh interpreter, then the same request in this process after
the cache has held other prompts (one sharing the few-shot prefix) and the request itself.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from nlrl import SamplingParams
from nlrl.backends.llama import LlamaCppBackend

# two llama.cpp threads on a busy two-core machine can take minutes: room beyond the 300 s default
pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(900)]

# more than one 64-token chunk before the question, so OTHER leaves a whole chunk to reuse
FEW_SHOT = ("Question: What is 12 + 7?\nAnswer: 12 + 7 = 19.\nFinal Answer: 19\n\n"
            "Question: What is 30 - 4?\nAnswer: 30 - 4 = 26.\nFinal Answer: 26\n\n"
            "Question: What is 8 + 45?\nAnswer: 8 + 45 = 53.\nFinal Answer: 53\n\n"
            "Question: What is 23 + 15?\nAnswer:")
OTHER = FEW_SHOT.replace("23 + 15", "41 + 36")
CASES = [(threads, batched) for threads in (1, 2) for batched in (True, False)]
PARAMS = {"n": 4, "temperature": 0.9, "seed": 11, "max_tokens": 12}

FRESH = """
import json, sys
from nlrl import SamplingParams
from nlrl.backends.llama import LlamaCppBackend
prompt, params, threads, batched = json.loads(sys.stdin.read())
backend = LlamaCppBackend(n_ctx=1024, n_threads=threads, batched=batched, batch_n_ctx=1024)
g = backend.complete(prompt, SamplingParams(**params))
print(json.dumps([list(c.token_ids) for c in g.completions]))
"""


@pytest.mark.parametrize("threads,batched", CASES)
def test_seeded_samples_do_not_depend_on_the_cache(threads, batched):
    proc = subprocess.run([sys.executable, "-c", FRESH],
                          input=json.dumps([FEW_SHOT, PARAMS, threads, batched]),
                          capture_output=True, text=True, timeout=400)
    assert proc.returncode == 0, proc.stderr
    fresh = json.loads(proc.stdout)
    backend = LlamaCppBackend(n_ctx=1024, n_threads=threads, batched=batched, batch_n_ctx=1024)
    try:
        params = SamplingParams(**PARAMS)
        backend.complete("Once upon a time", SamplingParams(max_tokens=2))
        backend.complete(OTHER, SamplingParams(**{**PARAMS, "max_tokens": 1}))  # shares the prefix
        warm = [backend.complete(FEW_SHOT, params) for _ in range(2)]
        for g in warm:
            assert [list(c.token_ids) for c in g.completions] == fresh
        assert len(set(warm[0].texts)) > 1                      # n different samples, not one
        # what was cached was reused: a whole chunk of the shared prefix, then the whole prompt
        assert warm[0].usage.prompt_tokens < backend.count_tokens(FEW_SHOT)
        assert warm[1].usage.prompt_tokens == (1 if batched else PARAMS["n"])
    finally:
        backend.close()


def test_a_greedy_answer_does_not_depend_on_the_cache():
    backend = LlamaCppBackend(n_ctx=1024, n_threads=1, batch_n_ctx=1024)
    try:
        greedy = SamplingParams(max_tokens=6)
        first = backend.complete(FEW_SHOT, greedy).completions[0].token_ids
        backend.complete(OTHER, greedy)
        assert backend.complete(FEW_SHOT, greedy).completions[0].token_ids == first
    finally:
        backend.close()
