from nlrl.backends import TokenEvent
from nlrl.gists import GistStream


def events(pieces, index=0):
    return [TokenEvent(0, index, p) for p in pieces]


def test_gists_flush_at_line_ends_with_step_numbers():
    got = []
    s = GistStream("math", on_gist=got.append, adaptive=False, chunk_tokens=100)
    for ev in events([" 2 +", " 2 = 4.\nFinal", " Answer: 4\n"]):
        assert s(ev) is False
    s.finish()
    assert [(g.step, g.text) for g in got] == [(1, " 2 + 2 = 4.\n"), (2, "Final Answer: 4\n")]
    assert all(g.t >= 0 for g in got) and got == s.gists


def test_long_lines_stream_in_chunks():
    s = GistStream("math", adaptive=False, chunk_tokens=2)
    for ev in events(["a", "b", "c", "d", "e"]):
        s(ev)
    s.finish()
    assert [g.text for g in s.gists] == ["ab", "cd", "e"]


def test_adaptive_stop_once_answer_line_complete():
    s = GistStream("math", adaptive=True)
    results = [s(ev) for ev in events([" so 4.\n", "Final Answer:", " 4", "\n", "more"])]
    assert results == [False, False, False, True, True]


def test_samples_are_tracked_separately():
    s = GistStream("commonsense", adaptive=True, chunk_tokens=100)
    assert s(TokenEvent(0, 0, "Final Answer: yes")) is False
    assert s(TokenEvent(0, 1, "Final Answer: no\n")) is True
    assert s(TokenEvent(0, 0, "\n")) is True
    s.finish()
    assert sorted({g.sample for g in s.gists}) == [0, 1]
