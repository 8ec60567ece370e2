"""Subject-verb agreement across attractors: ``agree: the dog near the cats`` -> `` runs``.

A small grammar: a subject noun phrase, then optionally an attractor, a noun of either number
in a prepositional phrase (``near the cats``) or an object relative clause (``that the cats
chase``); the target is the verb, agreeing with the subject. The one distractor is the same
verb in the other number, so chance is 0.5. The key is the sentence frame (the prompt less
its ``agree:`` marker), so a held-out frame never appears in training with any verb; the
marker starts every line, so a held-out sentence is never the tail of a longer training one
(``the children run`` inside ``the dogs near the children run``).

The ladder is by attractor distance: ``agreement@k`` (0 to 3) puts exactly ``k`` attractor
phrases between the subject and its verb. ``agreement@0`` (bare frames) is a small space:
288 frames, about 58 of them held out.
"""

from __future__ import annotations

import random

from curricle.synthetic.base import SkillGenerator, SkillItem
from curricle.synthetic.config import AgreementParams, checked
from curricle.synthetic.distractors import item_rng


def _pairs(spec: str) -> tuple[tuple[str, str], ...]:
    """``"dog/dogs cat/cats"`` -> ``(("dog", "dogs"), ("cat", "cats"))``."""
    return tuple(tuple(pair.split("/")) for pair in spec.split())  # type: ignore[misc]


#: Nouns, (singular, plural).
NOUNS = _pairs(
    "dog/dogs cat/cats bird/birds horse/horses fox/foxes child/children man/men woman/women "
    "teacher/teachers farmer/farmers king/kings girl/girls boy/boys doctor/doctors mouse/mice "
    "wolf/wolves"
)
ADJECTIVES = ("big", "small", "old", "young", "happy", "tired", "quiet", "brave")
PREPOSITIONS = ("near", "behind", "with", "beside", "under", "next to", "like", "above")
#: Intransitive verbs ending the sentence, (singular, plural).
VERBS = _pairs(
    "runs/run sleeps/sleep waits/wait sings/sing laughs/laugh smiles/smile falls/fall walks/walk "
    "swims/swim jumps/jump eats/eat goes/go"
)
#: Transitive verbs of the relative clauses, (singular, plural).
CLAUSE_VERBS = _pairs("sees/see likes/like follows/follow chases/chase knows/know helps/help")
#: How the subject is followed: no attractor, a prepositional phrase, a relative clause.
FRAMES = ("bare", "pp", "rc")
FRAME_WEIGHTS = (0.2, 0.4, 0.4)
#: What every prompt starts with.
MARKER = "agree:"


def _noun_phrase(rng: random.Random, noun: tuple[str, str], plural: bool, p_adjective: float) -> str:
    adj = rng.choice(ADJECTIVES) + " " if rng.random() < p_adjective else ""
    return f"the {adj}{noun[plural]}"


class Agreement(SkillGenerator):
    """Choose the verb form that agrees with the subject, not with the nearest noun."""

    name = "agreement"
    chance = 0.5
    levels = AgreementParams.levels

    def __init__(self, seed: int = 0, **params: Any):
        """``params``: :class:`~curricle.synthetic.config.AgreementParams`."""
        super().__init__(seed)
        p = checked(self.name, AgreementParams, params)
        self.p_adjective = p.p_adjective
        self.attractors = p.attractors

    def _sample(self, rng: random.Random) -> SkillItem:
        subject = rng.randrange(len(NOUNS))
        plural = rng.random() < 0.5
        words = [_noun_phrase(rng, NOUNS[subject], plural, self.p_adjective)]
        if self.attractors is None:  # no level: none or one, of either kind
            frames = [rng.choices(FRAMES, FRAME_WEIGHTS)[0]]
        else:
            frames = [rng.choice(FRAMES[1:]) for _ in range(self.attractors)]
        for frame in frames:
            if frame == "bare":
                continue
            attractor = rng.choice([n for i, n in enumerate(NOUNS) if i != subject])
            attractor_plural = rng.random() < 0.5
            np = _noun_phrase(rng, attractor, attractor_plural, self.p_adjective)
            if frame == "pp":
                words.append(f"{rng.choice(PREPOSITIONS)} {np}")
            else:
                verb = rng.choice(CLAUSE_VERBS)[attractor_plural]
                words.append(f"that {np} {verb}")
        return self.item(" ".join(words), plural)

    def difficulty(self, item: SkillItem) -> float:
        """Words of the subject phrase beyond ``the <noun>``: adjectives and the attractor phrases
        between the head noun and the verb."""
        return float(len(item.key.split()) - 2)

    def item(self, frame: str, plural: bool) -> SkillItem:
        """The item for a sentence ``frame`` (its key) whose head noun is ``plural`` or not;
        the verb is drawn from the key."""
        verb = item_rng(self.name, self.seed, frame).choice(VERBS)
        return SkillItem(self.name, frame, f"{MARKER} {frame}", " " + verb[plural], (" " + verb[not plural],))
