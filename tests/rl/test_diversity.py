"""The diversity watch: exact values of each measure on literal completions, and the
``mode-collapse`` flag on a scripted history."""

from __future__ import annotations

import math

import pytest

from curricle.rl.diversity import (answer_entropy, distinct_n, group_diversity, levenshtein, mean_pairwise_edit,
                                   normalized_edit, prompt_diversity)


def test_distinct_n_counts_distinct_ngrams_over_all():
    assert distinct_n(["a b", "a b"], 1) == 0.5 and distinct_n(["a b", "a b"], 2) == 0.5
    assert distinct_n(["a b c", "a b d"], 1) == 4 / 6 and distinct_n(["a b c", "a b d"], 2) == 3 / 4
    assert distinct_n(["x", "y"], 2) is None  # no bigram at all
    assert distinct_n(["x", "y z"], 2) == 1.0  # a one-word completion adds no bigram


def test_levenshtein_known_values():
    assert levenshtein("kitten", "sitting") == 3
    assert levenshtein("flaw", "lawn") == 2
    assert levenshtein("", "abc") == 3 and levenshtein("abc", "abc") == 0
    assert normalized_edit("kitten", "sitting") == 3 / 7 and normalized_edit("", "") == 0.0


def test_pairwise_edit_and_entropy():
    assert mean_pairwise_edit(["a b", "a b"]) == 0.0
    # pairs: (ab, ab) 0, (ab, cd) 1, (ab, cd) 1 -> 2/3
    assert mean_pairwise_edit(["ab", "ab", "cd"]) == pytest.approx(2 / 3)
    assert mean_pairwise_edit(["only"]) is None
    assert answer_entropy(["1", " 1", "2 ", "2"]) == 1.0  # stripped: two answers, half each
    assert answer_entropy(["7"] * 8) == 0.0
    assert answer_entropy(["a", "b", "c", "d"]) == 2.0
    assert answer_entropy([]) is None


def test_group_diversity_averages_prompts_and_pools_completions():
    groups = [["a b", "a b"], ["c d", "e f"]]
    assert prompt_diversity(groups[0]) == {"distinct_1": 0.5, "distinct_2": 0.5, "edit_distance": 0.0,
                                           "answer_entropy": 0.0}
    out = group_diversity(groups)
    # "c d" -> "e f": 2 substitutions over 3 characters; the mean over the two prompts: (0 + 2/3) / 2.
    assert out == {"distinct_1": 0.75, "distinct_2": 0.75, "edit_distance": 1 / 3, "answer_entropy": 0.5,
                   "distinct_1_all": 6 / 8, "distinct_2_all": 3 / 4}
    assert group_diversity([]) == {}


def _scripted(check, rows):
    for step, (reward, mean, edit) in enumerate(rows):
        check.history.append({"step": step, "reward": reward, "mean": mean, "length": 4.0, "format": 0.0,
                              "diversity": {"edit_distance": edit, "answer_entropy": 1.0}})
        check._flags(step)
    return [(f["event"], f["step"]) for f in check.flags]


def test_mode_collapse_flags_diversity_falling_by_the_factor_while_the_score_rises():
    from curricle.rl.config import GuardSettings
    from curricle.rl.hf import HeldOutCheck

    guards = GuardSettings.model_validate({"mode_collapse": {"metric": "edit_distance", "factor": 2.0}})
    check = HeldOutCheck(evaluator=None, guards=guards)
    # step 0: no reward yet; the edit distance halves (0.6 -> 0.3) at step 2 while the score rises.
    assert _scripted(check, [(None, 0.2, 0.6), (0.3, 0.25, 0.4), (0.4, 0.3, 0.3), (0.5, 0.35, 0.2)]) == [
        ("mode-collapse", 2), ("mode-collapse", 3)]
    assert check.flags[0]["first"] == 0.6 and check.flags[0]["now"] == 0.3 and check.flags[0]["score"] == [0.2, 0.3]
    assert check.flags[0]["reward"] == [0.3, 0.4] and check.flags[0]["since_step"] == 0
    # The same fall while the score and the reward fell: no flag (a broken model, not a collapse).
    check = HeldOutCheck(evaluator=None, guards=guards)
    assert _scripted(check, [(None, 0.5, 0.6), (0.5, 0.4, 0.4), (0.4, 0.3, 0.2)]) == []
    # A fall short of the factor: no flag.
    check = HeldOutCheck(evaluator=None, guards=guards)
    assert _scripted(check, [(None, 0.2, 0.6), (0.3, 0.3, 0.31)]) == []
    # Watching the answer entropy instead (it holds at 1.0 here): no flag.
    check = HeldOutCheck(evaluator=None, guards=GuardSettings.model_validate(
        {"mode_collapse": {"metric": "answer_entropy"}}))
    assert _scripted(check, [(None, 0.2, 0.6), (0.3, 0.3, 0.1)]) == []


def test_the_guard_refuses_a_factor_of_one_or_less():
    from pydantic import ValidationError

    from curricle.rl.config import GuardSettings

    with pytest.raises(ValidationError, match="factor"):
        GuardSettings.model_validate({"mode_collapse": {"factor": 1.0}})
    assert math.isclose(GuardSettings().mode_collapse.factor, 2.0)
