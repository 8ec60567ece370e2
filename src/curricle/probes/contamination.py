"""Checking that probe items never occur in training data.

An item *occurs* in a text when the text contains ``prompt + target`` verbatim (for a text
probe, the whole passage), and not inside a longer word or number: ``5+4=9`` does not occur
in ``95+4=99``. Short items can occur inside longer training lines of the same skill (the
agreement frame ``the children run`` inside ``the dogs near the children run``); those are
reported too, since the model did see that exact text. That is the leak that matters for a probe: the model could have
memorised the answer in the probe's own wording. (Fuzzier overlap, such as the same sum
written with spaces, is what ``curate``'s decontamination step catches before training.)

A task marked *in-sample* (its items may be training items: a generator level whose space is
too small to hold items out, or a task file that says so) is checked too, but its hits are
expected: the report keeps them apart (``expected``) from the contamination (``leaks``).

The training data is a prepared token store (every domain's *train* split, decoded) or any
iterable of texts. Each item is searched for in the concatenated text of a domain, so the
cost is one linear scan per item.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from curricle.probes.task import ProbeTask
from curricle.probes.training_text import occurs, store_texts
from curricle.store import TokenStore

_SEP = "\x00"


@dataclass
class ContaminationReport:
    """Items found in the training data: ``hits`` is ``[(task, item id, where)]``."""

    items_checked: int = 0
    texts_checked: int = 0
    hits: list[tuple[str, str, str]] = field(default_factory=list)
    in_sample: set[str] = field(default_factory=set)
    """The tasks checked that are marked in-sample."""

    @property
    def leaks(self) -> list[tuple[str, str, str]]:
        """The hits of tasks meant to be out of sample: contamination."""
        return [h for h in self.hits if h[0] not in self.in_sample]

    @property
    def expected(self) -> list[tuple[str, str, str]]:
        """The hits of in-sample tasks."""
        return [h for h in self.hits if h[0] in self.in_sample]

    @property
    def clean(self) -> bool:
        """No out-of-sample task has an item in the training data."""
        return not self.leaks

    def by_task(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for task, _, _ in self.hits:
            out[task] = out.get(task, 0) + 1
        return out


def check_contamination(store_or_texts, tasks: Sequence[ProbeTask]) -> ContaminationReport:
    """Search the training data for every item of ``tasks``.

    ``store_or_texts``: a prepared data directory (``Path`` or ``str``), a ``TokenStore``, or
    an iterable of training texts. Returns a report whose ``hits`` name each leaked item
    and where it was found (the domain, or ``text`` for plain texts).
    """
    if isinstance(store_or_texts, (str, Path, TokenStore)):
        corpora = store_texts(store_or_texts)
    else:
        texts = list(store_or_texts)
        corpora = [("text", _SEP.join(texts), len(texts))]
    report = ContaminationReport(in_sample={t.name for t in tasks if t.in_sample})
    needles = [(t.name, i.id, i.text) for t in tasks for i in t.items]
    report.items_checked = len(needles)
    # One scan per item over all corpora joined; only a hit looks up which corpus it is in.
    names, texts = [], []
    for where, text, n_texts in corpora:
        names.append(where)
        texts.append(text)
        report.texts_checked += n_texts
    joined = _SEP.join(texts)
    for task, item_id, needle in needles:
        if needle and occurs(needle, joined):
            for where, text in zip(names, texts):
                if occurs(needle, text):
                    report.hits.append((task, item_id, where))
                    break
    return report
