import dataclasses
import json
import re
import zlib

import pytest

from nlrl._exceptions import ConfigError, PromptError
from nlrl.backends import SamplingParams, ScriptedBackend
from nlrl.tasks.classify import (
    DEFAULT_WEIGHTS,
    DOMAINS,
    Classification,
    classify,
    fallback_prompt,
    feature_hash,
    features,
    load_model,
    parse_label,
)

ORDINARY = [
    ("What is 17 * 23?", "math"),
    ("Write a Python function that reverses a string", "coding"),
    ("Who wrote Hamlet?", "commonsense"),
    ("Is the sun a star?", "commonsense"),
    ("Solve for x: 2x + 3 = 11", "math"),
    ("Tom has 5 apples and gives 2 to Sam. How many apples does Tom have now?", "math"),
    ("def add(a, b):", "coding"),
    ("Implement binary search in Java", "coding"),
    ("What is the capital of France?", "commonsense"),
    ("Where do people usually keep their car keys?", "commonsense"),
]

# One real prompt of each benchmark style (GSM8K, MATH, HumanEval, MBPP, HotpotQA,
# CommonsenseQA, StrategyQA); the benchmark measures the held-out sets in full.
BENCHMARK_STYLE = [
    ("Janet\u2019s ducks lay 16 eggs per day. She eats three for breakfast every morning and bakes "
     "muffins for her friends every day with four. She sells the remainder at the farmers' market daily "
     "for $2 per fresh duck egg. How much in dollars does she make every day at the farmers' market?", "math"),
    ("How many vertical asymptotes does the graph of $y=\\frac{2}{x^2+x-6}$ have?", "math"),
    ('from typing import List\n\n\ndef below_zero(operations: List[int]) -> bool:\n    """ Detect if the '
     'balance falls below zero.\n    >>> below_zero([1, 2, 3])\n    False\n    """\n', "coding"),
    ("Write a function to find the shared elements from the given two lists.", "coding"),
    ("Were Scott Derrickson and Ed Wood of the same nationality?", "commonsense"),
    ("A revolving door is convenient for two direction travel, but it also serves as a security measure "
     "at a what?\nAnswer choices: (A) bank (B) library (C) department store (D) mall (E) new york", "commonsense"),
    ("Are more people today related to Genghis Khan than Julius Caesar?", "commonsense"),
]


# Layouts from public datasets the classifier never trained on, written for these tests (not in
# the training data nor in benchmarks/classifier_data/foreign_eval.jsonl): an AQuA-style
# multiple-choice word problem is math, a CoNaLa-style short request is coding, an ARC/SciQ-style
# science question with numbers is commonsense.
FOREIGN_STYLE = [
    ("Question: A worker earns $18 per hour and works 7 hours a day. How much does he earn in 5 days?\n"
     "Options: (A) $540 (B) $600 (C) $630 (D) $650 (E) $720", "math"),
    ("A number is increased by 20% and then decreased by 20%. What is the net change?\n"
     "A) no change\nB) 4% decrease\nC) 4% increase\nD) 2% decrease", "math"),
    ("convert a list of integers to a comma-separated string", "coding"),
    ("download a web page and save it to disk", "coding"),
    ("zip two lists into a dictionary", "coding"),
    ("A plant kept in a dark closet for 14 days turns yellow. What does the plant lack?\n"
     "(A) sunlight (B) soil (C) air (D) seeds", "commonsense"),
    # science with quantities: right since the generated training prompts include such questions
    ("A glass of water left in the sun loses 20 mL in 3 days. What process removes the water?\n"
     "(A) condensation (B) evaporation (C) freezing (D) melting", "commonsense"),
    # trivia with figures that name times and things, not quantities (HotpotQA's kind, written here)
    ("Which painter born on 4 July 1902 designed the poster for the 3rd Biennale?", "commonsense"),
    ("What band released the album Station 19 in March 2011?", "commonsense"),
    ("Which film came out first, Return to Oz or Raising Arizona?", "commonsense"),
]

# Layouts the benchmark sets tie to another domain, written for these tests (not in the training
# data, its generated part or the foreign-style set): competition LaTeX (MATH's kind), a signature
# with a docstring about numbers (HumanEval's kind), a word problem with numbers in words (GSM8K's
# kind), a short systems request, trivia asking for a count.
STYLE_GAPS = [
    ("Compute $\\displaystyle\\int_0^1 (3x^2 + 2x)\\,dx$.", "math"),
    ("Let $p(x) = x^3 - 4x$. For how many integers $k$ with $|k| \\le 5$ is $p(k) > 0$?", "math"),
    ("Nine friends share forty-five cherries equally and each then eats two. How many cherries are left in all?",
     "math"),
    ('def mean_of_evens(nums: list[int]) -> float:\n    """Return the mean of the even numbers in nums, '
     'or 0.0 if there are none.\n    >>> mean_of_evens([1, 2, 4])\n    3.0\n    """\n', "coding"),
    ("tail the last 20 lines of a log file and follow new ones", "coding"),
    ("How many symphonies did the composer of the Moonlight Sonata write?", "commonsense"),
]


@pytest.mark.parametrize("prompt,domain", ORDINARY + BENCHMARK_STYLE + FOREIGN_STYLE + STYLE_GAPS)
def test_domains_of_typical_prompts(prompt, domain):
    result = classify(prompt)
    assert result.domain == domain, result
    assert result.method == "model-free"


def test_classification_shape():
    r = classify("What is 2 + 2?")
    assert DOMAINS == ("math", "coding", "commonsense")
    assert isinstance(r, Classification)
    assert set(r.scores) == set(DOMAINS)
    assert sum(r.scores.values()) == pytest.approx(1.0)
    assert r.confidence == r.scores[r.domain] == max(r.scores.values())
    with pytest.raises(dataclasses.FrozenInstanceError):
        r.domain = "coding"  # type: ignore[misc]


def test_deterministic_and_process_independent_hash():
    assert classify("Who painted the Mona Lisa?") == classify("Who painted the Mona Lisa?")
    # crc32, not Python's salted hash(): the stored buckets must mean the same in every process
    assert feature_hash("u python", 18) == zlib.crc32(b"u python") & 0x3FFFF


def test_features_fold_numbers_and_see_structure():
    f = features("What is 17 * 23?")
    assert "u <n>" in f and "b <n> *" in f and "s arith" in f
    assert "s codeline" in features("def f(x):\n    return x")
    assert "s latex" in features("Find $\\frac{1}{2}$.")
    assert "s language" in features("Reverse a linked list in C++")
    assert "s quantity" in features("Ann has 3 cats and 4 dogs. How many pets does she have?")
    assert "s quantity" not in features("How many moons does Mars have?")  # no figures given
    assert len(f) == len(set(f))


def test_figures_are_folded_to_what_they_name():
    f = features("Which actor of Pitch Perfect 2 was born March 9, 1986 and won the 26th award for 3 films?")
    assert "u <name>" in f      # part of a name: Pitch Perfect 2
    assert "u <date>" in f      # a day beside its month
    assert "u <year>" in f and "u <ord>" in f
    assert "u <n>" in f         # a quantity stays a number
    assert "s num1" in f        # and only quantities are counted as the problem's figures
    # a capitalised word inside a sentence is a name; at the start of one it is the word itself
    assert "u <cap>" in features("Which movie was Return to Oz?") and "u return" not in features("Which movie was Return to Oz?")
    assert "u return" in features("Return the list. Then stop.")
    assert "u true" in features("It returns True if x is even.")


@pytest.mark.parametrize("bad", ["", "   ", "\n\t"])
def test_empty_prompt_is_an_error(bad):
    with pytest.raises(PromptError):
        classify(bad)


def test_non_text_and_bad_threshold():
    with pytest.raises(PromptError):
        classify(b"bytes")  # type: ignore[arg-type]
    with pytest.raises(ConfigError):
        classify("Who wrote Hamlet?", threshold=1.5)


def test_confident_prompt_never_reaches_the_backend():
    backend = ScriptedBackend([])  # any call would raise: it has nothing to say
    r = classify("Write a Python function that reverses a string", backend=backend, threshold=0.0)
    assert r.method == "model-free" and backend.requests == []


def test_low_confidence_asks_the_model_with_a_strict_few_shot_prompt():
    backend = ScriptedBackend([" coding\nmore"])
    prompt = "Who wrote Hamlet?\nThanks"
    free = classify(prompt)
    r = classify(prompt, backend=backend, threshold=1.0)  # every prompt is below 1.0
    assert (r.domain, r.method) == ("coding", "model")
    assert r.scores == free.scores and r.confidence == free.scores["coding"]
    (req,) = backend.requests
    assert req.params == SamplingParams(max_tokens=4, temperature=0, stop=["\n"])
    assert req.prompt == fallback_prompt(prompt)
    assert req.prompt.endswith("Question: Who wrote Hamlet? Thanks\nKind:")
    for domain in DOMAINS:
        assert f"Kind: {domain}\n" in req.prompt


@pytest.mark.parametrize("answer", ["I think math", "", "Math or coding", "physics"])
def test_unparseable_model_answer_keeps_the_model_free_label(answer):
    backend = ScriptedBackend([answer])
    free = classify("Is the sun a star?")
    r = classify("Is the sun a star?", backend=backend, threshold=1.0)
    assert r == free and len(backend.requests) == 1


def test_parse_label_is_strict():
    assert parse_label(" math") == "math"
    assert parse_label("Coding.") == "coding"
    assert parse_label("commonsense \n") == "commonsense"
    for bad in ("mathematics", "math, coding", "the answer is math", "", "."):
        assert parse_label(bad) is None


def test_long_prompt_is_cut_in_the_fallback_prompt():
    text = "word " * 500
    p = fallback_prompt(text)
    assert p.count("\n") == fallback_prompt("x").count("\n")
    assert len(p) < len(fallback_prompt("x")) + 500


def test_weights_file_is_compact_and_checked(tmp_path):
    assert DEFAULT_WEIGHTS.stat().st_size < 1_500_000
    data = json.loads(DEFAULT_WEIGHTS.read_text())
    assert data["labels"] == list(DOMAINS)
    bad = tmp_path / "w.json"
    bad.write_text(json.dumps({**data, "labels": ["a", "b", "c"]}))
    with pytest.raises(ConfigError):
        load_model(str(bad))
    bad.write_text("{not json")
    with pytest.raises(ConfigError):
        load_model(str(bad))
    with pytest.raises(ConfigError):
        load_model(str(tmp_path / "missing.json"))


def _synth_module():
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[3] / "benchmarks" / "classifier_synth.py"
    spec = importlib.util.spec_from_file_location("classifier_synth", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_generated_training_prompts_are_reproducible_and_not_evaluation_prompts():
    synth = _synth_module()
    rows = synth.generate()
    assert rows == [json.loads(line) for line in synth.OUT.read_text("utf-8").splitlines()]
    assert {r["domain"] for r in rows} == set(DOMAINS)
    prompts = {r["prompt"] for r in rows}
    foreign = synth.OUT.parent / "foreign_eval.jsonl"
    evaluated = {json.loads(line)["prompt"] for line in foreign.read_text("utf-8").splitlines() if line.strip()}
    tested = {p.values[0] if hasattr(p, "values") else p[0] for p in FOREIGN_STYLE + STYLE_GAPS}
    assert not prompts & evaluated and not prompts & tested
    # nor near copies: no generated prompt shares half its words with an evaluation prompt
    words = [set(re.findall(r"\w+", p.lower())) for p in evaluated | tested]
    for p in prompts:
        a = set(re.findall(r"\w+", p.lower()))
        assert all(len(a & b) < 0.5 * len(a | b) for b in words), p
