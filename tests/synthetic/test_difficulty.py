"""Each skill's own difficulty measure (what built-in tasks rank items by)."""

from __future__ import annotations

import pytest

from curricle.synthetic import GENERATORS, make_generator


@pytest.mark.parametrize("skill", list(GENERATORS))
def test_every_skill_measures_its_items(skill):
    gen = make_generator(skill, 0)
    values = [gen.difficulty(i) for i in gen.items("train", 50)]
    assert all(v >= 0 for v in values)


def test_the_measures():
    add = make_generator("arithmetic", 0, digits=3)
    assert add.difficulty(add.item(19, 3)) == 2 + 1 and add.difficulty(add.item(999, 1)) == 3 + 3
    br = make_generator("brackets", 0)
    assert br.difficulty(br.item("([{")) == 3 and br.difficulty(br.item("(()")) == 1
    cp = make_generator("copy", 0)
    assert cp.difficulty(cp.item(["ab", "cd", "ef", "gh"])) == 4
    ru = make_generator("reverse+uppercase", 0)
    assert ru.difficulty(ru.item("abcd")) == 8
    assert make_generator("facts", 0, n_entities=30).difficulty(None) == 29


def test_at_most_returns_what_a_small_space_has():
    gen = make_generator("arithmetic", 0, digits=1)
    with pytest.raises(ValueError, match="cannot draw"):
        gen.items("heldout", 500)
    items = gen.items("heldout", 500, at_most=True)
    assert 10 <= len(items) < 40 and len({i.key for i in items}) == len(items)
    assert gen.items("heldout", 5) == items[:5]
