import pytest

from curricle.synthetic import make_generator


def test_literal_item():
    item = make_generator("copy").item(["kelo", "mapu", "riso", "tuva"])
    assert item.key == "kelo mapu riso tuva"
    assert item.prompt == "copy: kelo mapu riso tuva | kelo"
    assert item.target == " mapu riso tuva"
    assert item.text == "copy: kelo mapu riso tuva | kelo mapu riso tuva"


def test_whole_sequence_as_target():
    item = make_generator("copy", target_words=4).item(["kelo", "mapu", "riso", "tuva"])
    assert item.prompt == "copy: kelo mapu riso tuva |"
    assert item.target == " kelo mapu riso tuva"


def test_target_repeats_the_sequence_and_distractors_reuse_its_words():
    g = make_generator("copy", seed=2)
    for item in g.items("train", 200) + g.items("heldout", 50):
        seq, repeat = item.prompt.removeprefix("copy: ").split(" | ")
        words = seq.split()
        assert 4 <= len(words) <= 8 and len(set(words)) == len(words)
        assert (repeat + item.target).split() == words
        tail = item.target.split()
        for d in item.distractors:
            wrong = d.split()
            assert len(wrong) == len(tail) and set(wrong) <= set(words)


def test_pinned_stream():
    assert [i.text for i in make_generator("copy", 0).items("heldout", 1)] == [
        "copy: guta gevo lafo muti kisi rido gupu | guta gevo lafo muti kisi rido gupu"
    ]


@pytest.mark.parametrize("params", [{"min_words": 1}, {"min_words": 5, "max_words": 4}, {"target_words": 9}])
def test_bad_params(params):
    with pytest.raises(ValueError, match="copy: need"):
        make_generator("copy", **params)
