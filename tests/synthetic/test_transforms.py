import pytest

from curricle.synthetic import GENERATORS, make_generator
from curricle.synthetic.transforms import TRANSFORMS, StringTransform, shift_letters

SINGLES = [n for n, cls in GENERATORS.items() if issubclass(cls, StringTransform) and n in TRANSFORMS]
COMPOSITES = [n for n, cls in GENERATORS.items() if issubclass(cls, StringTransform) and cls.composite_of]


@pytest.mark.parametrize(
    "name, target",
    [
        ("reverse", " dcba"),
        ("uppercase", " ABCD"),
        ("sort-letters", " abcd"),
        ("shift-letters", " bcde"),
        ("reverse+uppercase", " DCBA"),
        ("sort-letters+uppercase", " ABCD"),
        ("reverse+shift-letters", " edcb"),
    ],
)
def test_literal_items(name, target):
    item = make_generator(name).item("bdca" if "sort" in name else "abcd")
    assert item.prompt == f"{name}: {item.key} ->"
    assert item.target == target


def test_shift_wraps():
    assert shift_letters("xyz") == "yza"


def test_registered_transforms():
    assert SINGLES == ["reverse", "uppercase", "sort-letters", "shift-letters"]
    assert len(COMPOSITES) >= 2


@pytest.mark.parametrize("name", SINGLES + COMPOSITES)
def test_targets_apply_the_transform(name):
    g = make_generator(name, seed=1)
    for item in g.items("train", 150) + g.items("heldout", 50):
        s = item.prompt.removeprefix(f"{name}: ").removesuffix(" ->")
        assert s == item.key and s.isalpha() and s.islower() and 3 <= len(s) <= 6
        expected = s
        for step in GENERATORS[name].composite_of or (name,):
            expected = TRANSFORMS[step](expected)
        assert item.target == " " + expected


@pytest.mark.parametrize("name", COMPOSITES)
def test_composite_composes_parts_and_offers_each_part_alone(name):
    cls = GENERATORS[name]
    assert name == "+".join(cls.composite_of)
    parts = [make_generator(p) for p in cls.composite_of]
    g = make_generator(name, seed=4)
    for item in g.items("train", 100):
        s = item.key
        out = s
        for part in parts:
            out = part.item(out).target.strip()  # each part, as its own skill
        assert item.target == " " + out
        for part in parts:
            alone = part.item(s).target
            assert alone == item.target or alone in item.distractors


def test_length_params():
    g = make_generator("reverse", min_len=8, max_len=8)
    assert all(len(i.key) == 8 for i in g.items("train", 20))
    with pytest.raises(ValueError, match="reverse: need 2 <= min_len <= max_len"):
        make_generator("reverse", min_len=5, max_len=4)
