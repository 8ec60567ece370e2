"""A task's items and the splits they fall in."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any, Literal

Split = Literal["train", "heldout", "test"]
SPLITS: tuple[Split, ...] = ("train", "heldout", "test")


@dataclass(frozen=True)
class TaskItem:
    """One item: ``prompt`` is what the model is given, ``completion`` what it should answer
    (a leading space, where there is one, belongs to the completion, as in the probes).

    ``messages``: the chat form it came from (rendered into ``prompt`` with the model's chat
    template). ``difficulty``: a number, easiest lowest (pacing ranks by it).
    """

    id: str
    prompt: str
    completion: str
    difficulty: float = 0.0
    split: Split = "train"
    distractors: tuple[str, ...] = ()
    messages: tuple[dict[str, str], ...] | None = None
    meta: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def target(self) -> str:
        """What graders compare with (the completion)."""
        return self.completion

    @property
    def text(self) -> str:
        return self.prompt + self.completion


def unit_hash(*parts: str) -> float:
    """A stable number in [0, 1) from strings (not from any seed)."""
    h = hashlib.blake2b("\x00".join(parts).encode(), digest_size=8).digest()
    return int.from_bytes(h, "big") / 2**64


def split_by_hash(task: str, item_id: str, heldout_share: float, test_share: float) -> Split:
    """The split of an item by a hash of (task, id): held-out first, then test, then train."""
    u = unit_hash(task, item_id)
    if u < heldout_share:
        return "heldout"
    if u < heldout_share + test_share:
        return "test"
    return "train"


def normalized(text: str) -> str:
    """What two prompts are compared on: whitespace runs collapsed, ends stripped."""
    return " ".join(text.split())
