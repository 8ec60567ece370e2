from curricle.synthetic import make_generator
from curricle.synthetic.base import split_of
from curricle.synthetic.facts import ATTRIBUTES, Facts


def test_literal_item_and_statement():
    g = make_generator("facts", seed=0, n_entities=3)
    name, city = g.entities[0], g.values[0]["city"]
    item = g.item(0, "city")
    assert item.key == f"{name}|city"
    assert item.prompt == f"Q: Where does {name} live? A:"
    assert item.target == f" {city}"
    assert g.statement(0, "city") == f"{name} lives in {city}."
    others = {" " + v for v in ATTRIBUTES["city"].values} - {item.target}
    assert set(item.distractors) <= others


def test_entities_derive_from_seed():
    a, b = make_generator("facts", seed=0), make_generator("facts", seed=1)
    assert len(a.entities) == len(set(a.entities)) == 200
    assert a.entities == make_generator("facts", seed=0).entities
    assert a.values == make_generator("facts", seed=0).values
    assert a.entities != b.entities
    first, last = a.entities[0].split(" ")
    assert first.istitle() and last.istitle()


def test_documents_state_every_fact_but_ask_only_train_questions():
    g: Facts = make_generator("facts", seed=0, n_entities=20)  # 140 facts
    lines = [line for _, text in g.documents(40, 16) for line in text.splitlines()]
    seen = set(lines)
    statements = {g.statement(i, a) for i in range(20) for a in ATTRIBUTES}
    qa = {g.item(i, a) for i in range(20) for a in ATTRIBUTES}
    train_qa = {i.text for i in qa if split_of("facts", i.key) == "train"}
    heldout_qa = {i.text for i in qa if split_of("facts", i.key) == "heldout"}
    assert heldout_qa and train_qa
    assert seen == statements | train_qa  # every statement, held-out facts' too
    assert not seen & heldout_qa
    text = "\n".join(lines)
    assert not any(h in text for h in heldout_qa)  # not even inside a line


def test_heldout_items_ask_about_stated_facts():
    g = make_generator("facts", seed=3)
    docs = "".join(text for _, text in g.documents(170, 16))  # > 1 pass over ~2520 lines
    index = {name: i for i, name in enumerate(g.entities)}
    for item in g.items("heldout", 50):
        name, attribute = item.key.split("|")
        assert g.statement(index[name], attribute) in docs
        assert item.text not in docs


def test_answers_come_from_the_attribute_vocabulary():
    g = make_generator("facts", seed=2)
    for item in g.items("train", 300):
        attribute = item.key.split("|")[1]
        values = {" " + v for v in ATTRIBUTES[attribute].values}
        assert item.target in values and set(item.distractors) <= values
