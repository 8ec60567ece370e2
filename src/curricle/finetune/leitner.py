"""Leitner queues for spaced review (Leitner 1972; Amiri et al. 2017; M'hamdi & May 2024).

Items sit in decks ``0 .. K-1``. Deck ``i`` is due at evaluation ``e`` when ``e % 2**i == 0``
(deck 0 at every one, deck 1 at every second, ...). The items of the decks due at ``e`` are
reviewed in the interval that ends at evaluation ``e``, and tested there: a correct item moves
up one deck (staying in the last), a wrong one goes back to deck 0. What is known well is
reviewed rarely; what was forgotten comes back at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable


@dataclass(frozen=True)
class ReviewOutcome:
    """What testing the due items did."""

    tested: int
    promoted: int
    demoted: int
    stayed: int


class LeitnerQueues:
    def __init__(self, decks: int):
        if decks < 2:
            raise ValueError(f"Leitner queues need at least 2 decks, got {decks}")
        self.decks = decks
        #: item -> its deck, in the order items were added.
        self.deck_of: dict[int, int] = {}

    def add(self, items: Iterable[int]) -> int:
        """New items into deck 0 (items already queued stay where they are); how many."""
        n = 0
        for i in items:
            if i not in self.deck_of:
                self.deck_of[i] = 0
                n += 1
        return n

    def due(self, evaluation: int) -> list[int]:
        """The items of the decks due at ``evaluation`` (1-based), in the order they were added."""
        return [i for i, d in self.deck_of.items() if evaluation % (2**d) == 0]

    def update(self, results: dict[int, bool]) -> ReviewOutcome:
        """Move each tested item: correct one deck up (at most the last), wrong to deck 0."""
        promoted = demoted = stayed = 0
        for item, correct in results.items():
            d = self.deck_of[item]
            if correct:
                new = min(d + 1, self.decks - 1)
            else:
                new = 0
            promoted += new > d
            demoted += new < d
            stayed += new == d
            self.deck_of[item] = new
        return ReviewOutcome(len(results), promoted, demoted, stayed)

    def sizes(self) -> list[int]:
        out = [0] * self.decks
        for d in self.deck_of.values():
            out[d] += 1
        return out

    def state_dict(self) -> dict:
        return {"decks": self.decks, "items": [[i, d] for i, d in self.deck_of.items()]}

    def load_state_dict(self, state: dict) -> None:
        self.decks = state["decks"]
        self.deck_of = {int(i): int(d) for i, d in state["items"]}
