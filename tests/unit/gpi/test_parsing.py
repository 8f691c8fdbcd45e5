"""Strict JSON parsing, bounded retries, explicit fallbacks and the usage ledger."""

from __future__ import annotations

import pytest

from nlrl._exceptions import ConfigError, ParseError
from nlrl.backends import ScriptedBackend
from nlrl.gpi.llm import THOUGHT_PREFIX, JsonCaller, Ledger
from nlrl.gpi.parsing import first_json_object, parse_json_answer

KEYS = {"thought": str, "action": (str, int)}


def test_prefix_is_put_back_and_object_parsed():
    value = parse_json_answer('take 5", "action": 5}\ntrailing', prefix=THOUGHT_PREFIX, required=KEYS)
    assert value == {"thought": "take 5", "action": 5}


def test_braces_inside_strings_do_not_close_the_object():
    assert first_json_object('x {"a": "}{", "b": {"c": 1}} y') == '{"a": "}{", "b": {"c": 1}}'
    assert first_json_object(r'{"a": "quote \" }"}') == r'{"a": "quote \" }"}'


@pytest.mark.parametrize("text,match", [
    ("no json here", "no JSON object"),
    ('{"thought": "unclosed', "not closed"),
    ("{'thought': 'single quotes'}", "invalid JSON"),
    ('{"thought": "x"}', "missing key 'action'"),
    ('{"thought": "x", "action": null}', "must be str or int"),
    ('{"thought": "x", "action": true}', "boolean"),
    ('{"thought": 3, "action": "1"}', "must be str"),
])
def test_malformed_answers_raise(text, match):
    with pytest.raises(ParseError, match=match) as err:
        parse_json_answer(text, required=KEYS)
    assert err.value.raw == text


def test_nonempty_keys():
    with pytest.raises(ParseError, match="empty"):
        parse_json_answer('{"thought": "a", "final_evaluation": "  "}', nonempty=("final_evaluation",))


def test_a_json_array_is_not_an_object():
    with pytest.raises(ParseError):
        parse_json_answer("[1, 2]")


def test_ask_appends_the_prefix_and_stops_at_newline():
    b = ScriptedBackend(['ok", "action": "3"}\nmore text'])
    ans = JsonCaller(b).ask("policy", "PROMPT\n", required=KEYS)
    assert ans.ok and ans.value["action"] == "3"
    req = b.requests[0]
    assert req.prompt == "PROMPT\n" + THOUGHT_PREFIX
    assert req.params.stop == ("\n",) and req.params.temperature == 0.0


def test_retries_until_valid_and_counts_failures():
    b = ScriptedBackend(["garbage", 'x", "action": "9"}'])
    caller = JsonCaller(b, retries=2)
    ans = caller.ask("policy", "P", required=KEYS)
    assert ans.ok and ans.value["action"] == "9"
    assert len(ans.texts) == 2 and len(ans.errors) == 1
    stats = caller.ledger.role("policy")
    assert (stats.requests, stats.calls, stats.parse_failures, stats.fallbacks) == (1, 2, 1, 0)
    # the retry samples (the greedy answer would repeat itself) with a fresh seed
    p0, p1 = b.requests[0].params, b.requests[1].params
    assert p0.temperature == 0.0 and p1.temperature == 0.8 and p0.seed != p1.seed


def test_bounded_retries_then_failure_is_reported_not_hidden():
    b = ScriptedBackend(["bad"] * 3)
    caller = JsonCaller(b, retries=2)
    ans = caller.ask("value", "P", required=KEYS)
    assert not ans.ok and ans.value is None and len(ans.errors) == 3
    stats = caller.ledger.role("value")
    assert (stats.calls, stats.parse_failures, stats.fallbacks) == (3, 3, 1)
    with pytest.raises(Exception):
        b.complete("one more")  # exactly retries + 1 calls were made


def test_validator_failures_are_parse_failures():
    def only_up(v):
        if v["action"] != "up":
            raise ParseError("not up")
        return v

    b = ScriptedBackend(['a", "action": "down"}', 'a", "action": "up"}'])
    caller = JsonCaller(b, retries=1)
    assert caller.ask("policy", "P", required=KEYS, validate=only_up).value["action"] == "up"
    assert caller.ledger.role("policy").parse_failures == 1


def test_sample_draws_n_in_one_call_and_counts_bad_samples():
    outs = ['a", "action": "1"}', "junk", 'c", "action": "2"}']
    b = ScriptedBackend(lambda prompt, i: outs[i])
    caller = JsonCaller(b)
    answers = caller.sample("propose", "P", n=3, required=KEYS)
    assert [a.ok for a in answers] == [True, False, True]
    stats = caller.ledger.role("propose")
    assert (stats.calls, stats.requests, stats.parse_failures) == (1, 3, 1)
    assert b.requests[0].params.n == 3 and b.requests[0].params.temperature > 0


def test_ledger_usage_and_difference():
    b = ScriptedBackend(['a", "action": "1"}'] * 3)
    caller = JsonCaller(b)
    caller.ask("policy", "one two three", required=KEYS)
    before = caller.ledger.copy()
    caller.ask("policy", "four", required=KEYS)
    caller.ask("improve", "five", required=KEYS)
    diff = caller.ledger.minus(before)
    assert diff.total().calls == 2 and diff.role("policy").calls == 1
    assert diff.total().prompt_tokens > 0 and diff.total().completion_tokens > 0
    d = caller.ledger.to_dict()
    assert d["total"]["calls"] == 3 and set(d["by_role"]) == {"policy", "improve"}
    assert d["total"]["total_tokens"] == d["total"]["prompt_tokens"] + d["total"]["completion_tokens"]
    assert Ledger().to_dict()["by_role"] == {}


def test_bad_retry_setting():
    with pytest.raises(ConfigError):
        JsonCaller(ScriptedBackend([]), retries=-1)
