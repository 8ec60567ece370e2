from collections import Counter

from curricle.synthetic import make_generator
from curricle.synthetic.base import split_of
from curricle.synthetic.arithmetic import carry_columns, digit_off_by_one, sum_without_carries


def test_literal_item():
    item = make_generator("arithmetic").item(12, 345)
    assert (item.key, item.prompt, item.target, item.text) == ("12+345", "12+345=", "357", "12+345=357")


def test_distractors_are_carry_errors_and_near_misses():
    # 58+67=125 carries in both columns: dropping one gives 115 or 25, never carrying 15.
    item = make_generator("arithmetic").item(58, 67)
    carry_errors = {"115", "25", "15"}
    near = {"225", "135", "124", "126"}
    assert len(set(item.distractors) & carry_errors) == 2
    assert len(set(item.distractors) & near) == 1


def test_helpers():
    assert carry_columns(58, 67) == [0, 1]
    assert carry_columns(12, 345) == []
    assert carry_columns(95, 5) == [0, 1]
    assert sum_without_carries(58, 67) == 15
    assert sorted(digit_off_by_one(125)) == [115, 124, 126, 135, 225]
    assert sorted(digit_off_by_one(0)) == [1]


def test_targets_are_sums_and_digits_bound_operands():
    for name, digits in [("arithmetic", 2), ("arithmetic-hard", 4)]:
        g = make_generator(name, seed=3)
        assert g.digits == digits
        for item in g.items("train", 300) + g.items("heldout", 100):
            a, b = item.prompt.rstrip("=").split("+")
            assert int(item.target) == int(a) + int(b)
            assert max(len(a), len(b)) <= digits
        assert make_generator(name, digits=3).digits == 3


def test_small_space_documents_repeat_every_train_item_evenly():
    # 1-digit sums: 100 items, about 80 of them train; 300 lines are a few passes over them.
    g = make_generator("arithmetic", seed=0, digits=1)
    every = {f"{a}+{b}": f"{a}+{b}={a + b}" for a in range(10) for b in range(10)}
    train = {text for key, text in every.items() if split_of("arithmetic", key) == "train"}
    lines = [line for _, text in g.documents(30, 10) for line in text.splitlines()]
    assert len(lines) == 300 and set(lines) == train
    counts = Counter(lines).values()
    assert max(counts) - min(counts) <= 1


def test_pinned_stream():
    # The item stream of a seed is part of the probe sets' identity: a change must be on purpose.
    assert [i.text for i in make_generator("arithmetic", 0).items("train", 3)] == [
        "6+24=30",
        "87+24=111",
        "5+52=57",
    ]
