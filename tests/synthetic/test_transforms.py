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
def test_composite_composes_parts_and_no_part_alone_rules_a_distractor_out(name):
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
        # Every distractor is one slip from the full output: same letters (one shifted at
        # most), same case, so a solver that knows every part but one has nothing to go on.
        for d in item.distractors:
            d = d.strip()
            assert len(d) == len(out) and d != out
            assert d.isupper() == out.isupper() and d.islower() == out.islower()
            differ = [i for i in range(len(out)) if d[i] != out[i]]
            assert len(differ) in (1, 2)


def test_composite_items_on_literal_inputs():
    item = make_generator("reverse+uppercase").item("ehmw")
    assert item.prompt == "reverse+uppercase: ehmw ->" and item.target == " WMHE"
    assert " wmhe" not in item.distractors and " EHMW" not in item.distractors  # no part alone
    assert set(item.distractors) <= {" MWHE", " WHME", " WMEH", " XMHE", " VMHE", " WNHE", " WLHE", " WMIE",
                                     " WMGE", " WMHF", " WMHD"}


def test_length_params():
    g = make_generator("reverse", min_len=8, max_len=8)
    assert all(len(i.key) == 8 for i in g.items("train", 20))
    with pytest.raises(ValueError, match="reverse: need 2 <= min_len <= max_len"):
        make_generator("reverse", min_len=5, max_len=4)
