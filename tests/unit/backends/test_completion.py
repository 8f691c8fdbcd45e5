"""The one completion builder every engine feeds token by token (``backends/_completion.py``)."""

from nlrl import SamplingParams
from nlrl.backends._completion import CompletionBuilder


def _stream():
    events = []
    return events, lambda ev: events.append((ev.index, ev.text, ev.token_id, ev.logprob)) and None


def test_stop_string_ends_the_text_before_it_and_keeps_the_token():
    events, cb = _stream()
    b = CompletionBuilder(2, SamplingParams(stop=["\nQ:"]), prompt_index=1, on_token=cb)
    assert b.accept(10, "4", -0.5) and b.accept(11, "\n", -0.1)
    assert not b.accept(12, "Q: next", -0.2) and b.done
    c = b.finish()
    assert (c.index, c.text, c.token_ids, c.logprobs, c.finish_reason) == (2, "4", (10, 11, 12), None, "stop")
    assert events == [(2, "4", 10, -0.5)]  # the held-back "\n" is never streamed


def test_length_releases_the_held_back_tail_and_the_detokenizer_tail():
    events, cb = _stream()
    b = CompletionBuilder(0, SamplingParams(stop=["END"], logprobs=True), on_token=cb, max_tokens=2)
    assert b.accept(1, "ab E", -1.0)
    assert not b.accept(2, "N", -2.0) and b.done
    c = b.finish("\ufffd")
    assert (c.text, c.logprobs, c.finish_reason) == ("ab EN\ufffd", (-1.0, -2.0), "length")
    assert [e[1] for e in events] == ["ab ", "EN\ufffd"] and events[-1][2:] == (None, None)


def test_the_tail_can_complete_a_stop_string():
    b = CompletionBuilder(0, SamplingParams(stop=["ab"]))
    assert b.accept(1, "xa")
    c = b.finish("b")
    assert (c.text, c.finish_reason) == ("x", "stop")


def test_end_of_sequence_is_not_kept():
    b = CompletionBuilder(0, SamplingParams())
    b.accept(1, "hi")
    b.end_of_sequence()
    c = b.finish()
    assert (c.text, c.token_ids, c.finish_reason) == ("hi", (1,), "stop")


def test_on_token_answer_stops_at_once_and_releases_nothing_more():
    seen = []
    b = CompletionBuilder(0, SamplingParams(stop=["Q:"]),
                          on_token=lambda ev: seen.append(ev.text) or "42" in "".join(seen))
    assert b.accept(1, "Final Answer: 4")
    assert not b.accept(2, "2\nQ", None)
    c = b.finish("tail")
    assert (c.text, c.finish_reason) == ("Final Answer: 42\n", "answer")
    assert "".join(seen) == c.text


def test_deferred_text_is_decoded_once_at_the_end():
    b = CompletionBuilder(0, SamplingParams(), logprobs=False)
    assert b.accept(1, None, -0.3) and b.accept(2, None, -0.4)
    c = b.finish("two tokens")
    assert (c.text, c.logprobs, c.finish_reason) == ("two tokens", None, "length")
