"""Which cached KV entries the embedded engine may reuse (the rule behind reproducible seeds)."""

from nlrl.backends._llama_batch import PROMPT_CHUNK, reusable_prefix


def test_an_identical_head_is_reused_whole_whatever_its_length():
    head = list(range(100))
    assert reusable_prefix(head, head) == 100
    assert reusable_prefix(head[:3], head[:3]) == 3


def test_a_shared_prefix_is_reused_by_whole_chunks_only():
    cached = list(range(150))
    head = list(range(140)) + [-1] * 20
    assert reusable_prefix(cached, head) == 2 * PROMPT_CHUNK   # 140 shared -> 128
    assert reusable_prefix(cached, head, chunk=10) == 140


def test_a_prefix_of_the_cached_head_is_not_reused_past_its_last_whole_chunk():
    """The cached head's tokens 64..99 were evaluated in a chunk of 86 tokens, not of 36."""
    cached = list(range(150))
    assert reusable_prefix(cached, cached[:100]) == PROMPT_CHUNK
    assert reusable_prefix(cached[:100], cached) == PROMPT_CHUNK


def test_nothing_shared_nothing_reused():
    assert reusable_prefix([], [1, 2, 3]) == 0
    assert reusable_prefix([1, 2, 3], []) == 0
    assert reusable_prefix([5] * 70, [6] * 70) == 0
