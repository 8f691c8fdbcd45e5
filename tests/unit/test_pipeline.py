import json

import pytest

import nlrl
from nlrl import Pipeline, PromptError, ScriptedBackend, UnknownNameError
from nlrl.strategies import Budget


def test_solve_streams_gists_and_stops_after_answer_line():
    backend = ScriptedBackend([" 23 + 15 = 38.\nFinal Answer: 38\nQuestion: next one"])
    seen = []
    result = Pipeline(backend).solve("What is 23 + 15?", domain="math", on_gist=seen.append)
    assert result.final_answer == "38"
    assert result.output == " 23 + 15 = 38.\nFinal Answer: 38\n"
    assert result.trace[0].kind == "sample"
    assert result.trace[0].data["finish_reason"] == "answer"
    assert "".join(g.text for g in seen) == result.output
    assert [g.step for g in result.gists][-1] == 2
    d = result.to_dict()
    for key in ("prompt", "domain", "strategy", "prompt_text", "output", "final_answer", "gists",
                "trace", "usage", "elapsed_s"):
        assert key in d
    assert d["usage"]["calls"] == 1 and d["usage"]["completion_tokens"] > 0
    assert d["strategy"] == "cot" and d["domain"] == "math"
    json.dumps(d)
    assert backend.requests[0].prompt == result.prompt_text
    assert backend.requests[0].params.stop == ("Question:",)


def test_without_adaptive_stop_the_model_runs_to_its_stop_string():
    backend = ScriptedBackend(["Final Answer: 4\nmore text\nQuestion: x"])
    result = Pipeline(backend, adaptive=False).solve("2+2?", domain="math")
    assert result.output == "Final Answer: 4\nmore text\n"
    assert result.final_answer == "4"


def test_classifies_when_no_domain_given():
    backend = ScriptedBackend(["```python\ndef rev(s):\n    return s[::-1]\n```\n"])
    result = Pipeline(backend).solve("Write a Python function rev(s) that reverses a string.")
    assert result.domain == "coding"
    assert result.final_answer == "def rev(s):\n    return s[::-1]\n"


def test_stream_iterator_yields_gists_then_result():
    pipe = Pipeline(ScriptedBackend(["a\nb\nFinal Answer: yes\n"]))
    it = pipe.stream("Is the sky blue?", domain="commonsense")
    texts = [g.text for g in it]
    assert texts == ["a\n", "b\n", "Final Answer: yes\n"]
    assert it.result.final_answer == "yes"


def test_stream_iterator_reraises_errors():
    it = Pipeline(ScriptedBackend([])).stream("q?", domain="math")
    with pytest.raises(nlrl.BackendError):
        list(it)


@pytest.mark.parametrize("bad", ["", "   \n", b"\xff\xfe"])
def test_bad_prompts_raise_prompt_error(bad):
    with pytest.raises(PromptError):
        Pipeline(ScriptedBackend(["x"])).solve(bad)


def test_prompt_longer_than_context():
    pipe = Pipeline(ScriptedBackend(["x"], context_length=50))
    with pytest.raises(PromptError, match="context"):
        pipe.solve("word " * 100, domain="math")


def test_unknown_names_list_known_ones():
    with pytest.raises(UnknownNameError, match="cot"):
        Pipeline(ScriptedBackend([]), strategy="nope")
    with pytest.raises(UnknownNameError, match="embedded"):
        Pipeline("nope")


def test_budget_validation():
    with pytest.raises(nlrl.ConfigError):
        Budget(n=0)
    with pytest.raises(nlrl.ConfigError, match="smaller than one sample"):
        Budget(max_tokens=100, max_total_tokens=10)


def test_public_api_sorted_and_importable():
    assert nlrl.__all__ == sorted(nlrl.__all__)
    for name in nlrl.__all__:
        assert hasattr(nlrl, name), name
