"""Fact recall: attributes of fictional people, learned from statements, asked as questions.

The seed fixes ``n_entities`` pseudo-named people and one value per attribute each
("Dorvel Kasp lives in Quenby."). An item is a question about one (entity, attribute) key:
``Q: Where does Dorvel Kasp live? A:`` -> `` Quenby``.

Recall needs the fact in training, so :meth:`Facts.documents` states *every* fact, and adds
the question-answer form only for train keys. A held-out item therefore asks, in a form never
seen, about a fact that was seen: it measures recall, not memorised question strings.

The item space is ``n_entities * len(ATTRIBUTES)`` keys (1400 by default), of which about
80% are train keys; raise ``n_entities`` to draw more items.

The ladder is by the number of people: ``facts@N`` (20, 50, 200, 1000). The worlds nest: the
seed fixes one stream of names and each person's attributes come from the seed and their
place in it, so the first 20 people of ``facts@200`` are ``facts@20``'s, with the same
facts. Sources at several levels therefore never state two values of one fact, and a
smaller world's people are stated more often.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any, Iterator

from curricle.synthetic.base import SkillGenerator, SkillItem
from curricle.synthetic.config import FactsParams, checked
from curricle.synthetic.distractors import item_rng, pick_distractors
from curricle.synthetic.pool import pooled_documents


@dataclass(frozen=True)
class Attribute:
    """How one attribute is stated and asked (``{e}`` the entity, ``{v}`` the value)."""

    statement: str
    question: str
    values: tuple[str, ...]


ATTRIBUTES: dict[str, Attribute] = {
    "city": Attribute(
        "{e} lives in {v}.",
        "Where does {e} live?",
        ("Quenby", "Arlow", "Dunmere", "Halvik", "Morrow", "Tessaly", "Velmont", "Ostrand"),
    ),
    "color": Attribute(
        "{e}'s favorite color is {v}.",
        "What is {e}'s favorite color?",
        ("red", "blue", "green", "yellow", "purple", "orange", "black", "white"),
    ),
    "job": Attribute(
        "{e} works as a {v}.",
        "What is {e}'s job?",
        ("baker", "pilot", "farmer", "doctor", "tailor", "painter", "sailor", "teacher"),
    ),
    "pet": Attribute(
        "{e} has a pet {v}.",
        "What pet does {e} have?",
        ("cat", "dog", "parrot", "rabbit", "turtle", "horse", "goat", "snake"),
    ),
    "food": Attribute(
        "{e} likes to eat {v}.",
        "What does {e} like to eat?",
        ("apples", "bread", "cheese", "rice", "soup", "fish", "beans", "plums"),
    ),
    "game": Attribute(
        "{e} plays {v}.",
        "What game does {e} play?",
        ("chess", "tennis", "soccer", "golf", "hockey", "cricket", "rugby", "polo"),
    ),
    "month": Attribute(
        "{e} was born in {v}.",
        "In which month was {e} born?",
        tuple(
            "January February March April May June July August September October November December".split()
        ),
    ),
}

ONSETS = tuple("b br d dr f g gr h k kl l m n p pr r s st t tr v z".split())
NUCLEI = ("a", "e", "i", "o", "u")
CODAS = ("", "", "n", "r", "l", "s", "k", "m", "v")


def _syllable(rng: random.Random) -> str:
    return rng.choice(ONSETS) + rng.choice(NUCLEI) + rng.choice(CODAS)


def pseudo_name(rng: random.Random) -> str:
    """A two-part capitalised name such as ``Dorvel Kasp``."""
    first = _syllable(rng) + _syllable(rng)
    last = _syllable(rng) + (_syllable(rng) if rng.random() < 0.5 else "")
    return f"{first.capitalize()} {last.capitalize()}"


class Facts(SkillGenerator):
    """Question answering over ``n_entities`` seed-derived people and their attributes."""

    name = "facts"
    chance = 0.25
    levels = FactsParams.levels

    def __init__(self, seed: int = 0, **params: Any):
        """``params``: :class:`~curricle.synthetic.config.FactsParams`."""
        super().__init__(seed)
        self.n_entities = checked(self.name, FactsParams, params).n_entities
        rng = random.Random(f"{self.name}:{seed}:entities")
        names: dict[str, None] = {}
        while len(names) < self.n_entities:
            names.setdefault(pseudo_name(rng), None)
        self.entities: list[str] = list(names)
        #: ``values[i][attribute]``: the value of entity ``i`` (from the seed and ``i`` alone).
        self.values: list[dict[str, str]] = []
        for i in range(self.n_entities):
            own = random.Random(f"{self.name}:{seed}:values:{i}")
            self.values.append({a: own.choice(attr.values) for a, attr in ATTRIBUTES.items()})

    def _sample(self, rng: random.Random) -> SkillItem:
        return self.item(rng.randrange(self.n_entities), rng.choice(tuple(ATTRIBUTES)))

    def item(self, entity: int, attribute: str) -> SkillItem:
        """The question item about entity index ``entity``'s ``attribute``."""
        e = self.entities[entity]
        attr = ATTRIBUTES[attribute]
        value = self.values[entity][attribute]
        key = f"{e}|{attribute}"
        others = [" " + v for v in attr.values if v != value]
        rng = item_rng(self.name, self.seed, key)
        return SkillItem(
            self.name,
            key,
            f"Q: {attr.question.format(e=e)} A:",
            " " + value,
            pick_distractors(rng, " " + value, [others]),
        )

    def difficulty(self, item: SkillItem) -> float:
        """The distractor facts: other people with the same attribute (``n_entities - 1``),
        each a fact of the same form with another value to keep apart."""
        return float(self.n_entities - 1)

    def statement(self, entity: int, attribute: str) -> str:
        """The fact as a sentence, e.g. ``Dorvel Kasp lives in Quenby.``."""
        attr = ATTRIBUTES[attribute]
        return attr.statement.format(e=self.entities[entity], v=self.values[entity][attribute])

    def documents(self, n_docs: int, items_per_doc: int = 16) -> Iterator[tuple[str, str]]:
        """Training documents: every fact's statement, plus the question-answer line of each
        train key, ``items_per_doc`` lines a document, repeated in passes as needed."""
        lines = []
        for i in range(self.n_entities):
            for a in ATTRIBUTES:
                lines.append(self.statement(i, a))
                qa = self.item(i, a)
                if self.split(qa.key) == "train":
                    lines.append(qa.text)
        return pooled_documents(self.name, self.seed, lines, n_docs, items_per_doc)
