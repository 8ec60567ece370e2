"""Document fields: the scores and labels a curated document carries in its ``meta``, and who
wrote them.

A curation step may write a field into ``doc.meta`` (langid's ``language`` and
``language_score``, a quality classifier's ``quality``, a user step's ``toxicity``); the
runner notes, per document, which step last wrote each field (``CurDoc.written``). A source's
``meta_fields`` are fields too, written by ``source``. Curate records, per domain, every field
the documents it kept carry, with the kinds of value seen (``number``, ``string``, ``bool``;
``other`` for a list or an object) and who wrote it, in ``funnel.json`` under ``fields``::

    "fields": {"web": [{"name": "language_score", "kinds": ["number"], "by": ["langid"]}, ...]}

(names sorted; documents a later step or deduplication dropped may have added a kind). A
``kind: curated`` source reads this record: the fields a step wrote reach ``meta.parquet``
without being listed again, and an explicit ``meta_fields`` naming a field curate never
recorded is a one-line error (:mod:`curricle.sources.curated`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

#: Who wrote a field that came from the source's record (a ``meta_fields`` entry).
SOURCE = "source"
#: Kinds a field carried into ``meta.parquet`` may have (``other``: a list or an object).
STORE_KINDS = frozenset({"number", "string", "bool"})


def value_kind(value: Any) -> str | None:
    """``number``, ``string``, ``bool`` or ``other``; None for a null."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    return "string" if isinstance(value, str) else "other"


def written_fields(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    """The keys of ``after`` (a document's ``meta`` after a step) that are new or hold another
    value than in ``before`` (its copy from before the step)."""
    return [k for k, v in after.items() if k not in before or before[k] is not v and before[k] != v]


class FieldRecorder:
    """Per domain, the fields of the documents one shard kept: kinds seen and who wrote them.
    Saved as JSON per shard, merged over shards when curate finishes."""

    def __init__(self, source_fields: list[str] | tuple[str, ...] = ()):
        self.source_fields = tuple(source_fields)
        self.domains: dict[str, dict[str, tuple[set[str], list[str]]]] = {}

    def note(self, domain: str, name: str, value: Any, by: str) -> None:
        kinds, writers = self.domains.setdefault(domain, {}).setdefault(name, (set(), []))
        kind = value_kind(value)
        if kind is not None:
            kinds.add(kind)
        if by not in writers:
            writers.append(by)

    def note_doc(self, doc: Any) -> None:
        """Record the fields of a kept document: its sources' ``meta_fields`` it holds (written
        by ``source`` unless a step rewrote them) and those the steps wrote."""
        for name in self.source_fields:
            if name in doc.meta and name not in doc.written:
                self.note(doc.domain, name, doc.meta[name], SOURCE)
        for name, step in doc.written.items():
            self.note(doc.domain, name, doc.meta.get(name), step)

    def merge(self, other: "FieldRecorder") -> None:
        for domain, fields in other.domains.items():
            for name, (kinds, writers) in fields.items():
                mine_kinds, mine_writers = self.domains.setdefault(domain, {}).setdefault(name, (set(), []))
                mine_kinds.update(kinds)
                mine_writers.extend(w for w in writers if w not in mine_writers)

    def to_dict(self) -> dict[str, list[dict[str, Any]]]:
        """``{domain: [{"name", "kinds", "by"}]}``, domains and names sorted, kinds sorted, the
        writers in the order first seen (shards merged in order)."""
        return {d: [{"name": n, "kinds": sorted(k), "by": list(w)} for n, (k, w) in sorted(fields.items())]
                for d, fields in sorted(self.domains.items())}

    @classmethod
    def from_dict(cls, data: dict[str, list[dict[str, Any]]]) -> "FieldRecorder":
        out = cls()
        for d, fields in data.items():
            out.domains[d] = {f["name"]: (set(f["kinds"]), list(f["by"])) for f in fields}
        return out

    def save(self, path: Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict()))

    @classmethod
    def load(cls, path: Path) -> "FieldRecorder":
        """A shard's record (empty if the shard was done by a curate that recorded none)."""
        try:
            return cls.from_dict(json.loads(Path(path).read_text()))
        except FileNotFoundError:
            return cls()


def recorded_fields(funnel: dict[str, Any], domain: str) -> list[dict[str, Any]] | None:
    """The ``fields`` record of a ``funnel.json`` (as a dict) for ``domain``; None when the
    funnel has no record (written before fields were recorded)."""
    record = funnel.get("fields")
    return None if record is None else record.get(domain, [])


def step_fields(funnel: dict[str, Any], domain: str) -> list[str]:
    """The fields curation steps wrote on ``domain`` 's kept documents that ``meta.parquet``
    can hold (numbers, strings or bools), sorted: what a curated domain carries without
    being told."""
    return [f["name"] for f in recorded_fields(funnel, domain) or []
            if set(f["by"]) - {SOURCE} and f["kinds"] and set(f["kinds"]) <= STORE_KINDS]
