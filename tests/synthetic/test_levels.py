"""Difficulty ladders: each level's items have the stated difficulty (literal examples), and
held-out items stay out of every level's training documents, of every generator."""

from functools import lru_cache

import pytest

from curricle.probes.training_text import occurs
from curricle.synthetic import GENERATORS, level_name, make_generator
from curricle.synthetic.agreement import ADJECTIVES, CLAUSE_VERBS, NOUNS, PREPOSITIONS
from curricle.synthetic.arithmetic import carry_columns, count_with_carries
from curricle.synthetic.brackets import closing
from curricle.synthetic.transforms import TRANSFORMS

LEVELS = [(skill, level) for skill, cls in GENERATORS.items() for level in cls.levels]


def test_every_family_has_a_ladder():
    # arithmetic-hard is a fixed level of arithmetic's ladder, so it has none of its own.
    assert [s for s, cls in GENERATORS.items() if not cls.levels] == ["arithmetic-hard"]
    assert list(GENERATORS["copy"].levels) == ["2", "4", "8", "16"]
    assert list(GENERATORS["arithmetic"].levels) == ["1", "2c0", "2c1", "2c2", "3", "4"]
    assert list(GENERATORS["reverse"].levels) == ["2", "3", "4", "6", "8"]
    assert list(GENERATORS["compose"].levels) == ["1", "2", "3"]
    assert list(GENERATORS["brackets"].levels) == ["1", "2", "4", "8"]
    assert list(GENERATORS["facts"].levels) == ["20", "50", "200", "1000"]
    assert list(GENERATORS["agreement"].levels) == ["0", "1", "2", "3"]
    assert level_name("copy", "8") == "copy@8" and level_name("copy", None) == "copy"


def test_copy_levels_repeat_exactly_that_many_words():
    item = make_generator("copy", level="4").item(["kelo", "mapu", "riso", "tuva"])
    assert item.prompt == "copy: kelo mapu riso tuva |" and item.target == " kelo mapu riso tuva"
    for level, n in (("2", 2), ("8", 8), ("16", 16)):
        for item in make_generator("copy", 0, level=level).items("heldout", 20):
            words = item.key.split()
            assert len(words) == len(set(words)) == n
            assert item.prompt == f"copy: {item.key} |" and item.target.split() == words


def test_arithmetic_levels_bound_digits_and_count_carries():
    two = make_generator("arithmetic", level="2c1")
    assert two.item(58, 61).text == "58+61=119" and carry_columns(58, 61) == [1]
    for level, digits, carries in (("1", 1, None), ("2c0", 2, 0), ("2c1", 2, 1), ("2c2", 2, 2), ("3", 3, None)):
        g = make_generator("arithmetic", 0, level=level)
        items = g.items("train", 50)
        for item in items:
            a, b = (int(x) for x in item.key.split("+"))
            assert a < 10**digits and b < 10**digits and int(item.target) == a + b
            if carries is not None:
                assert len(carry_columns(a, b)) == carries
        assert max(max(len(x) for x in i.key.split("+")) for i in items) == digits
    assert [count_with_carries(2, k) for k in (0, 1, 2)] == [3025, 4500, 2475]  # 55*55, ..., of 10,000
    with pytest.raises(ValueError, match="carries must be in"):
        make_generator("arithmetic", digits=2, carries=3)


def test_transform_levels_fix_the_input_length():
    assert make_generator("reverse", level="6").item("abcdef").text == "reverse: abcdef -> fedcba"
    for skill in ("reverse", "uppercase", "sort-letters", "shift-letters", "reverse+uppercase"):
        for level in ("2", "4", "8"):
            assert {len(i.key) for i in make_generator(skill, 0, level=level).items("train", 30)} == {int(level)}


def test_compose_levels_chain_that_many_distinct_transforms():
    g = make_generator("compose", level="2")
    item = g.item(("reverse", "uppercase"), "abc")
    assert (item.key, item.prompt, item.target) == ("reverse+uppercase:abc", "reverse+uppercase: abc ->", " CBA")
    assert item.text == make_generator("reverse+uppercase").item("abc").text  # the same item, the same split
    assert g.split(item.key) == make_generator("reverse+uppercase").split("abc")
    assert g.steps(g.item(("shift-letters", "reverse"), "abz")) == ["bca", "acb"]
    for depth in (1, 2, 3):
        for item in make_generator("compose", 0, level=str(depth)).items("heldout", 30):
            chain, s = item.prompt.removesuffix(" ->").split(": ")
            steps = chain.split("+")
            assert len(steps) == len(set(steps)) == depth and set(steps) <= set(TRANSFORMS)
            for step in steps:
                s = TRANSFORMS[step](s)
            assert item.target == " " + s
    assert GENERATORS["compose"].level_composite_of("3") == ("compose@1",)
    assert GENERATORS["compose"].level_composite_of("1") == ()
    assert GENERATORS["reverse+uppercase"].level_composite_of("4") == ("reverse@4", "uppercase@4")


def test_bracket_levels_leave_that_many_open():
    g = make_generator("brackets", level="4")
    assert g.item("([]{[(").target == " )]})"
    for level in ("1", "2", "4", "8"):
        d = int(level)
        for item in make_generator("brackets", 0, level=level).items("train", 50):
            assert len(closing(item.key)) == d and d <= len(item.key) <= d + 6
            assert (len(item.key) - d) % 2 == 0


def test_fact_levels_are_nested_worlds():
    small, large = make_generator("facts", 0, level="20"), make_generator("facts", 0, level="200")
    assert len(small.entities) == 20 and len(large.entities) == 200
    assert large.entities[:20] == small.entities and large.values[:20] == small.values
    assert small.item(3, "city").text == large.item(3, "city").text
    names = {i.key.split("|")[0] for i in small.items("train", 100)}
    assert names <= set(small.entities)


def test_agreement_levels_put_that_many_attractors_between_subject_and_verb():
    nouns = {w for pair in NOUNS for w in pair}
    for k in range(4):
        for item in make_generator("agreement", 0, level=str(k)).items("train", 40):
            words = item.key.split()
            assert item.prompt == f"agree: {item.key}"
            # Each attractor is a preposition or ``that`` and a noun phrase of its own.
            assert words.count("the") == sum(w in nouns for w in words) == k + 1, item.key
            before = [words[i - 1] for i, w in enumerate(words) if w == "the" and i > 0]
            assert all(w == "that" or w in PREPOSITIONS or w == "to" for w in before), item.key
    bare = make_generator("agreement", level="0").item("the big dog", plural=False)
    assert bare.prompt == "agree: the big dog" and "big" in ADJECTIVES
    assert all(v[0] not in item.key for v in CLAUSE_VERBS for item in [bare])


def test_a_small_level_repeats_its_train_items_evenly():
    # agreement@0: 288 bare frames, 229 of them train; 800 lines are 3.5 passes over them.
    g = make_generator("agreement", 0, level="0")
    train = {i.text for i in g.items("train", 1000, at_most=True)}
    lines = [line for _, text in g.documents(50, 16) for line in text.splitlines()]
    assert len(train) == 229 and len(lines) == 800 and set(lines) == train
    counts = [lines.count(t) for t in train]
    assert max(counts) - min(counts) <= 1


def test_level_errors_name_the_levels():
    with pytest.raises(ValueError, match=r"copy: unknown level '3' \(levels: 2, 4, 8, 16\)"):
        make_generator("copy", level="3")
    with pytest.raises(ValueError, match="level '4' sets \\['max_words', 'min_words', 'target_words'\\]"):
        make_generator("copy", level="4", min_words=3, max_words=5, target_words=2)
    with pytest.raises(ValueError, match="arithmetic-hard: unknown level '2' \\(levels: none\\)"):
        make_generator("arithmetic-hard", level="2")


# --- Held-out items never in training, at any level of any generator -------------------

DOCS, PER_DOC, HELDOUT = 12, 16, 60


@lru_cache(maxsize=None)
def made(skill: str, level: str | None):
    g = make_generator(skill, 0, level=level)
    train = g.items("train", DOCS * PER_DOC, at_most=True)
    docs = [text for _, text in g.documents(DOCS, PER_DOC)]
    return g, train, g.items("heldout", HELDOUT, at_most=True), docs


ALL = LEVELS + [(skill, None) for skill in GENERATORS]


@pytest.mark.parametrize("skill, level", ALL, ids=[level_name(s, lv) for s, lv in ALL])
def test_heldout_items_of_a_level_are_not_its_training_items(skill, level):
    g, train, heldout, _ = made(skill, level)
    assert heldout and train
    assert all(g.split(i.key) == "heldout" for i in heldout) and all(g.split(i.key) == "train" for i in train)
    assert not {g.split_key(i.key) for i in train} & {g.split_key(i.key) for i in heldout}


def test_no_heldout_item_of_any_level_occurs_in_any_training_document():
    """Every generator and level's training documents, joined; every held-out item of every
    generator and level: none occurs, not even inside a longer line (as the contamination
    check reads it)."""
    training = "\x00".join(doc for skill, level in ALL for doc in made(skill, level)[3])
    needles = {i.text: level_name(skill, level) for skill, level in ALL for i in made(skill, level)[2]}
    assert len(needles) > 2000
    leaked = [(where, text) for text, where in needles.items() if occurs(text, training)]
    assert leaked == []
    # The keys too: a partition's held-out split keys are no level's training split keys.
    by_partition: dict[str, tuple[set, set]] = {}
    for skill, level in ALL:
        g, train, heldout, _ = made(skill, level)
        tr, ho = by_partition.setdefault(g.partition or g.name, (set(), set()))
        tr.update(g.split_key(i.key) for i in train)
        ho.update(g.split_key(i.key) for i in heldout)
    assert {p: tr & ho for p, (tr, ho) in by_partition.items() if tr & ho} == {}
    assert set(by_partition) >= {"arithmetic", "transform", "copy", "facts", "brackets", "agreement"}
