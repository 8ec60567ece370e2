import random

import pytest

from curricle.synthetic.distractors import item_rng, pick_distractors


def test_round_robin_over_groups_then_fallback():
    rng = random.Random(0)
    out = pick_distractors(rng, "t", [["a1", "a2", "t"], ["b1"]], k=4, fallback=["a1", "f1", "f2"])
    assert len(out) == 4 and "t" not in out
    assert out[1] == "b1" and set(out[:3]) == {"a1", "a2", "b1"} and out[3] == "f1"


def test_too_few_candidates_is_an_error():
    with pytest.raises(ValueError, match="only 1 distractors"):
        pick_distractors(random.Random(0), "t", [["x", "x", "t"]])


def test_item_rng_depends_on_skill_seed_and_key():
    draw = lambda *a: item_rng(*a).random()  # noqa: E731
    assert draw("s", 0, "k") == draw("s", 0, "k")
    assert len({draw("s", 0, "k"), draw("s", 1, "k"), draw("s", 0, "j"), draw("r", 0, "k")}) == 4
