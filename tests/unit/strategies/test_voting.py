from __future__ import annotations

import pytest

from nlrl import ConfigError
from nlrl.strategies.voting import equivalence_for, majority, normalize_short, same_text


def test_majority_counts_and_ranks_groups():
    vote = majority(["3", "4", "3", "5", "3", "4"])
    assert vote.answer == "3"
    assert [(g.answer, g.count) for g in vote.groups] == [("3", 3), ("4", 2), ("5", 1)]
    assert vote.agreement == pytest.approx(0.5)


def test_equivalent_answers_form_one_group():
    eq = equivalence_for("math")
    vote = majority(["1/2", "3", "0.5", "\\frac{1}{2}", "3"], equivalent=eq)
    assert vote.answer == "1/2"
    assert vote.groups[0].members == (0, 2, 3)


def test_tie_goes_to_the_earliest_answer_without_tie_break_scores():
    assert majority(["7", "8", "8", "7"]).answer == "7"
    assert majority(["8", "7", "7", "8"]).answer == "8"


def test_tie_broken_by_best_reward_in_group():
    vote = majority(["7", "8", "8", "7"], tie_break=[0.1, 0.2, 0.9, 0.3])
    assert vote.answer == "8"
    # a missing score ranks below any real one
    assert majority(["7", "8"], tie_break=[None, 0.0]).answer == "8"


def test_weights_sum_per_group():
    vote = majority(["a", "b", "b"], weights=[0.9, 0.3, 0.4])
    assert vote.answer == "a"
    assert vote.groups[0].score == pytest.approx(0.9)
    assert vote.groups[1].score == pytest.approx(0.7)


def test_none_answers_abstain():
    vote = majority([None, "2", None, " "])
    assert vote.answer == "2" and vote.abstained == 3
    assert majority([None, None]).answer is None


def test_bad_weights_are_an_error():
    with pytest.raises(ConfigError):
        majority(["a"], weights=[float("nan")])
    with pytest.raises(ConfigError):
        majority(["a", "b"], weights=[1.0])


def test_crashing_equivalence_is_logged_and_treated_as_different(caplog):
    def boom(a, b):
        raise RuntimeError("x")

    vote = majority(["1", "2"], equivalent=boom)
    assert len(vote.groups) == 2
    assert "equivalence check failed" in caplog.text


@pytest.mark.parametrize("a,b", [("B", "b."), ("(c) shelf", "C"), ("Yes.", "yes"), ("the Eiffel Tower", "Eiffel tower")])
def test_short_answer_normalisation(a, b):
    assert same_text(a, b)


def test_normalize_keeps_words_that_start_with_a_letter():
    assert normalize_short("a dog") == "dog"
    assert not same_text("apple", "A")


def test_multiple_choice_answers_grouped_by_the_choice_they_pick():
    q = "Where is milk kept cold?\nA. oven\nB. refrigerator\nC. shelf"
    eq = equivalence_for("commonsense", q)
    vote = majority(["B", "the refrigerator", "A", "B. refrigerator", "(b)"], equivalent=eq)
    assert vote.groups[0].count == 4 and vote.groups[0].answer == "B"


def test_yes_no_grouped_by_meaning():
    eq = equivalence_for("commonsense", "Can a penguin fly?")
    assert majority(["No.", "yes", "no", "False"], equivalent=eq).groups[0].count == 3
