import pytest

from nlrl import BackendError, ConfigError, PromptError, SamplingParams, ScriptedBackend
from nlrl.backends._stops import StopBuffer
from nlrl.backends.scripted import tokenize


def test_tokenize_round_trips():
    text = "Step 1: 12 + 30 = 42.\nFinal Answer: 42\n"
    assert "".join(tokenize(text)) == text
    assert len(tokenize(text)) > 10


def test_replays_in_order_and_counts_usage():
    b = ScriptedBackend(["a b c", "d e"])
    gens = b.generate(["pa q", "pb"], SamplingParams())
    assert [g.completions[0].text for g in gens] == ["a b c", "d e"]
    assert gens[0].usage.prompt_tokens == 2 and gens[0].usage.completion_tokens == 3
    assert gens[0].usage.calls == 1
    with pytest.raises(BackendError, match="ran out"):
        b.complete("p3")


def test_n_samples_evaluate_prompt_once():
    b = ScriptedBackend(["x", "y", "z"])
    g = b.complete("one two three four", SamplingParams(n=3, temperature=0.7))
    assert g.texts == ["x", "y", "z"]
    assert g.usage.prompt_tokens == 4
    assert [c.index for c in g.completions] == [0, 1, 2]


def test_stop_strings_and_max_tokens():
    b = ScriptedBackend(["answer 4\nQuestion: next", "one two three four five"])
    c = b.complete("p", SamplingParams(stop=("Question:",))).completions[0]
    assert c.text == "answer 4\n" and c.finish_reason == "stop"
    c = b.complete("p", SamplingParams(max_tokens=2)).completions[0]
    assert c.text == "one two" and c.finish_reason == "length"


def test_streaming_callback_sees_every_piece_and_can_stop():
    seen = []
    b = ScriptedBackend(["a b c d"])
    c = b.complete("p", on_token=lambda ev: seen.append(ev.text) or ev.text == " b").completions[0]
    assert seen == ["a", " b"]
    assert c.text == "a b" and c.finish_reason == "answer"


def test_streamed_text_equals_completion_with_stops():
    seen = []
    b = ScriptedBackend(["x = 1\n\nQuestion: y"])
    c = b.complete("p", SamplingParams(stop=("\n\nQuestion",)), on_token=lambda ev: seen.append(ev.text)).completions[0]
    assert "".join(seen) == c.text == "x = 1"


def test_mapping_and_callable_scripts():
    b = ScriptedBackend({"Critique": ["looks fine"], "Question": ["42"]})
    assert b.complete("Question: q").completions[0].text == "42"
    assert b.complete("Critique this").completions[0].text == "looks fine"
    with pytest.raises(BackendError):
        b.complete("neither")
    b = ScriptedBackend(lambda prompt, i: f"{len(prompt)}-{i}")
    assert b.complete("abc", SamplingParams(n=2)).texts == ["3-0", "3-1"]


def test_logprobs_only_when_asked_and_supported():
    b = ScriptedBackend(["a b"], cycle=True, logprob=lambda tok: -0.5)
    assert b.supports_logprobs
    assert b.complete("p", SamplingParams(logprobs=True)).completions[0].logprobs == (-0.5, -0.5)
    assert b.complete("p").completions[0].logprobs is None


def test_prompt_checks():
    b = ScriptedBackend(["x"], cycle=True, context_length=5)
    with pytest.raises(PromptError, match="empty"):
        b.generate(["  "], SamplingParams())
    with pytest.raises(PromptError, match="exceeds"):
        b.generate(["one two three four five six"], SamplingParams(max_tokens=1))
    with pytest.raises(ConfigError):
        b.generate("a string", SamplingParams())


def test_from_file(tmp_path):
    p = tmp_path / "s.txt"
    p.write_text("first\n---\nsecond\n")
    b = ScriptedBackend.from_file(p)
    assert b.complete("q", SamplingParams(n=2)).texts == ["first\n", "second\n"]
    j = tmp_path / "s.json"
    j.write_text('["a"]')
    assert ScriptedBackend.from_file(j).complete("q").texts == ["a"]
    with pytest.raises(ConfigError):
        ScriptedBackend.from_file(tmp_path / "missing.json")


@pytest.mark.parametrize("kw", [
    {"n": 0}, {"temperature": -1}, {"top_p": 0}, {"top_p": 1.5}, {"max_tokens": 0},
    {"seed": -3}, {"temperature": float("nan")}, {"top_k": -1},
])
def test_sampling_params_range_checked(kw):
    with pytest.raises(ConfigError, match=next(iter(kw))):
        SamplingParams(**kw)


def test_sampling_params_normalise_stop():
    assert SamplingParams(stop="\n").stop == ("\n",)
    assert SamplingParams(stop=["a", ""]).stop == ("a",)
    assert SamplingParams(seed=5).seed_for(2) == 7


def test_stop_buffer_holds_back_only_possible_stop_prefixes():
    b = StopBuffer(["END"])
    assert b.feed("abc E") == ("abc ", False)
    assert b.feed("N") == ("", False)
    assert b.feed("X") == ("ENX", False)
    assert b.feed(" E") == (" ", False)
    assert b.feed("ND more") == ("", True)
    assert b.text == "abc ENX "
    b = StopBuffer([])
    assert b.feed("x") == ("x", False) and b.flush() == "" and b.text == "x"
