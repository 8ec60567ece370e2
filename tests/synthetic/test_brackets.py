import pytest

from curricle.synthetic import make_generator
from curricle.synthetic.brackets import closing, is_balanced


def test_literal_item():
    item = make_generator("brackets").item("([{")
    assert (item.key, item.prompt, item.target) == ("([{", "close: ([{ ->", " }])")
    assert item.text == "close: ([{ -> }])"


def test_closing_and_balance():
    assert closing("([]{") == "})"
    assert closing("()") == ""
    assert is_balanced("([]{})") and not is_balanced("([)]") and not is_balanced("((")
    with pytest.raises(ValueError, match="closes a bracket it did not open"):
        closing("(]")
    with pytest.raises(ValueError, match="leaves nothing to close"):
        make_generator("brackets").item("()")


def test_target_balances_prefix_and_distractors_do_not():
    g = make_generator("brackets", seed=5)
    for item in g.items("train", 300) + g.items("heldout", 100):
        prefix = item.key
        assert item.prompt == f"close: {prefix} ->" and 2 <= len(prefix) <= 10
        assert not is_balanced(prefix)
        assert is_balanced(prefix + item.target.strip())
        for d in item.distractors:
            assert not is_balanced(prefix + d.strip())


def test_wrong_order_is_offered_when_there_is_one():
    item = make_generator("brackets").item("([")
    assert " )]" in item.distractors or " ]" in item.distractors  # wrong order / short
