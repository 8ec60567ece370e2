from curricle.synthetic import make_generator
from curricle.synthetic.agreement import ADJECTIVES, NOUNS, VERBS

PLURAL = {pl: True for _, pl in NOUNS} | {sg: False for sg, _ in NOUNS}


def test_literal_item():
    g = make_generator("agreement")
    item = g.item("the dog near the cats", plural=False)
    assert item.key == "the dog near the cats" and item.prompt == "agree: the dog near the cats"
    sg, pl = next(v for v in VERBS if " " + v[0] == item.target)
    assert item.distractors == (" " + pl,)
    plural = g.item("the dogs near the cat", plural=True)
    assert any(plural.target == " " + pl and plural.distractors == (" " + sg,) for sg, pl in VERBS)


def test_verb_agrees_with_subject_not_attractor():
    g = make_generator("agreement", seed=6)
    items = g.items("train", 400) + g.items("heldout", 100)
    mismatched = 0
    for item in items:
        words = item.prompt.split()
        assert words.pop(0) == "agree:" and words[0] == "the"
        head = words[2] if words[1] in ADJECTIVES else words[1]
        plural = PLURAL[head]
        sg, pl = next(v for v in VERBS if item.target.strip() in v)
        assert item.target == " " + (pl if plural else sg)
        assert item.distractors == (" " + (sg if plural else pl),)
        nouns = [w for w in words if w in PLURAL]
        mismatched += any(PLURAL[n] != plural for n in nouns[1:])
    assert mismatched > len(items) // 4  # attractors of the other number are common


def test_chance_is_one_half():
    assert make_generator("agreement").chance == 0.5
