"""Properties every registered generator must have: determinism, a clean train/held-out
split, training documents free of held-out items, well-formed distractors."""

import random
from functools import lru_cache

import pytest

from curricle.synthetic import GENERATORS, make_generator
from curricle.synthetic.base import SkillGenerator

N_TRAIN, N_HELDOUT, N_DOCS, PER_DOC = 300, 100, 20, 16


@lru_cache(maxsize=None)
def drawn(name: str):
    """(train items, held-out items, documents) of a generator at seed 0, drawn once."""
    g = make_generator(name, seed=0)
    return g.items("train", N_TRAIN), g.items("heldout", N_HELDOUT), list(g.documents(N_DOCS, PER_DOC))


ALL = pytest.mark.parametrize("name", list(GENERATORS))


@ALL
def test_same_seed_same_items_other_seed_other_items(name):
    train, heldout, _ = drawn(name)
    again = make_generator(name, seed=0)
    assert again.items("train", 100) == train[:100]  # a longer draw extends a shorter one
    assert again.items("heldout", N_HELDOUT) == heldout
    other = make_generator(name, seed=1).items("train", 100)
    assert [i.text for i in other] != [i.text for i in train[:100]]


@ALL
def test_train_and_heldout_disjoint_by_key_and_text(name):
    train, heldout, _ = drawn(name)
    g = make_generator(name, seed=0)
    assert len({i.key for i in train}) == N_TRAIN and len({i.key for i in heldout}) == N_HELDOUT
    assert all(g.split(i.key) == "train" for i in train)
    assert all(g.split(i.key) == "heldout" for i in heldout)
    assert not {i.key for i in train} & {i.key for i in heldout}
    assert not {i.text for i in train} & {i.text for i in heldout}


@ALL
def test_key_identifies_content(name):
    # Raw draws of either split, repeats included: one key, one item; one text, one key.
    g = make_generator(name, seed=0)
    rng = random.Random(7)
    by_key, key_of_text = {}, {}
    for _ in range(600):
        item = g._sample(rng)
        assert by_key.setdefault(item.key, item) == item
        assert key_of_text.setdefault(item.text, item.key) == item.key


@ALL
def test_no_heldout_item_in_training_documents(name):
    # An item is a line of a document; a held-out text must not be, nor begin, any line.
    # (Mid-line containment is not an item: "2+3=5" sits inside "52+3=55".)
    _, heldout, docs = drawn(name)
    assert len(docs) == N_DOCS and len({d for d, _ in docs}) == N_DOCS
    lines = [line for _, text in docs for line in text.splitlines()]
    assert len(lines) == N_DOCS * PER_DOC
    held = {i.text for i in heldout}
    assert not held & set(lines)
    for line in lines:
        assert not any(line.startswith(h) for h in held)


@ALL
def test_items_well_formed(name):
    train, heldout, _ = drawn(name)
    cls = GENERATORS[name]
    assert cls.name == name
    for item in train + heldout:
        assert item.skill == name and item.prompt and item.target
        assert "\n" not in item.text and len(item.target) <= 40
        assert len(item.distractors) == round(1 / cls.chance) - 1
        assert len(set(item.distractors)) == len(item.distractors)
        assert item.target not in item.distractors
        assert all(d for d in item.distractors)
        # Same leading space as the target, so no choice is told apart by tokenization.
        assert all(d[:1].isspace() == item.target[:1].isspace() for d in item.distractors)


@ALL
def test_composites_name_registered_parts(name):
    cls = GENERATORS[name]
    assert all(part in GENERATORS and part != name for part in cls.composite_of)


def test_registry_names():
    assert {"copy", "facts", "arithmetic", "arithmetic-hard", "brackets", "agreement"} <= set(GENERATORS)
    assert sum(bool(cls.composite_of) for cls in GENERATORS.values()) >= 2
    assert all(issubclass(cls, SkillGenerator) for cls in GENERATORS.values())


@pytest.mark.parametrize(
    "name, params",
    [("arithmetic", {}), ("agreement", {}), ("facts", {"n_entities": 2000})],
)
def test_item_space_supplies_5000_train_and_500_heldout(name, params):
    # The smallest spaces (facts: 7 keys an entity); the others are far larger, e.g. about
    # 930k bracket prefixes, 3e8 transform inputs.
    g = make_generator(name, seed=0, **params)
    assert len(g.items("train", 5000)) == 5000
    assert len(g.items("heldout", 500)) == 500


def test_make_generator_errors_name_the_problem():
    with pytest.raises(ValueError, match="unknown skill 'nope'; valid: copy, facts"):
        make_generator("nope")
    with pytest.raises(ValueError, match="skill 'arithmetic': bad parameters \\['width'\\]"):
        make_generator("arithmetic", width=3)
    with pytest.raises(ValueError, match="digits must be >= 1"):
        make_generator("arithmetic", digits=0)


def test_the_config_level_data_is_the_generators():
    """Configs check skills against synthetic.config without importing a generator: its
    skills, ladders and transforms are the generators' own."""
    from curricle.synthetic.config import SKILL_PARAMS, TRANSFORM_NAMES
    from curricle.synthetic.transforms import TRANSFORMS

    assert list(SKILL_PARAMS) == list(GENERATORS)
    assert {name: cls.levels for name, cls in GENERATORS.items()} == {
        name: params.levels for name, params in SKILL_PARAMS.items()}
    assert tuple(TRANSFORMS) == TRANSFORM_NAMES


@pytest.mark.parametrize("skill, level, params, message", [
    ("arithmetic", None, {"width": 3}, "skill 'arithmetic': bad parameters ['width']: "
                                       "ArithmeticParams.__init__() got an unexpected keyword argument 'width'"),
    ("arithmetic-hard", None, {"carries": 1}, "skill 'arithmetic-hard': bad parameters ['carries']: "
                                              "ArithmeticHardParams.__init__() got an unexpected keyword argument "
                                              "'carries'"),
    ("arithmetic-hard", None, {"digits": 0}, "arithmetic-hard: digits must be >= 1, got 0"),
    ("arithmetic", "2c1", {"carries": 3}, "skill 'arithmetic': level '2c1' sets ['carries']; give them in params "
                                          "or the level, not both"),
    ("arithmetic", "5", {}, "arithmetic: unknown level '5' (levels: 1, 2c0, 2c1, 2c2, 3, 4)"),
    ("reverse+uppercase", None, {"min_len": 1}, "reverse+uppercase: need 2 <= min_len <= max_len, got 1, 6"),
    ("compose", None, {"depth": 5}, "compose: depth must be in [1, 4], got 5"),
    ("compose", "3", {"max_len": 2}, "compose: need 2 <= min_len <= max_len, got 3, 2"),
    ("brackets", None, {"depth": 3, "min_len": 4, "max_len": 4}, "brackets: depth must be >= 1 with a length in "
                                                                  "[4, 4] of its parity, got 3"),
    ("copy", "2", {"target_words": 3}, "skill 'copy': level '2' sets ['target_words']; give them in params or the "
                                       "level, not both"),
    ("facts", None, {"n_entities": 0}, "facts: n_entities must be >= 1, got 0"),
    ("agreement", None, {"attractors": 6}, "agreement: attractors must be in [0, 5], got 6"),
    ("arithmetic", None, {"digits": 2.5}, "arithmetic: digits must be an integer, got 2.5"),
    ("arithmetic", None, {"carries": True}, "arithmetic: carries must be an integer or null, got True"),
    ("agreement", None, {"p_adjective": "0.5"}, "agreement: p_adjective must be a number, got '0.5'"),
])
def test_a_config_check_raises_what_building_the_generator_raises(skill, level, params, message):
    from curricle.synthetic.config import check_skill

    with pytest.raises(ValueError) as checked:
        check_skill(skill, level, params)
    with pytest.raises(ValueError) as built:
        make_generator(skill, level=level, **params)
    assert str(checked.value) == str(built.value) == message


def test_too_many_items_is_an_error():
    with pytest.raises(ValueError, match="cannot draw 20 distinct heldout items"):
        make_generator("facts", n_entities=5).items("heldout", 20)
