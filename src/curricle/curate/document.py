"""The document as it moves through curation, and what a step may answer about it.

A :class:`CurDoc` is a source :class:`~curricle.sources.Document` plus where it came from
(``source`` and ``location``, for the quarantine) and a cached token count. Steps may replace
``text`` (a rewrite); they never change ``id`` or ``domain``.

"Tokens" in curation are whitespace-separated words (``len(text.split())``): cheap, the
same on every machine, and independent of the tokenizer ``prepare`` trains later.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any


def count_tokens(text: str) -> int:
    """Curation's token count: whitespace-separated words."""
    return len(text.split())


@dataclass(frozen=True)
class Drop:
    """A step's answer "remove this document": ``reason`` is the funnel's label (short,
    kebab-case), ``detail`` what the quarantine entry adds (e.g. the matched n-gram)."""

    reason: str
    detail: dict[str, Any] | None = None


@dataclass
class CurDoc:
    """One document in curation."""

    id: str
    text: str
    domain: str
    meta: dict[str, Any]
    source: str
    """The source's short description (``jsonl data/*.jsonl``)."""
    location: str
    """Where the document is in its source: ``path:line``, ``path:row``, ``path`` or the id."""
    replaced: Counter = field(default_factory=Counter)
    """What the current step replaced inside the text, by kind (PII redaction fills it)."""
    license: str | None = None
    """The licence the funnel counts it under: ``meta["license"]`` when it was read
    (:meth:`~curricle.curate.funnel.FunnelCounter.license_in` sets it), whatever a step later
    writes into that field."""
    written: dict[str, str] = field(default_factory=dict)
    """The ``meta`` fields curation steps wrote (new keys, or new values of old ones), each
    with the step that wrote it last; the runner fills it (:mod:`curricle.curate.fields`)."""
    _tokens: int | None = field(default=None, repr=False)
    _tokens_of: str | None = field(default=None, repr=False)

    @property
    def tokens(self) -> int:
        """Token count of the current text, recomputed only after a rewrite."""
        if self._tokens_of is not self.text:
            self._tokens = count_tokens(self.text)
            self._tokens_of = self.text
        return self._tokens  # type: ignore[return-value]

    def to_record(self) -> dict[str, Any]:
        """The record curate writes for a kept document."""
        return {"id": self.id, "text": self.text, "domain": self.domain, "meta": self.meta}


def location_of(source_desc: str, doc_id: str, meta: dict[str, Any]) -> str:
    """A human-readable location from a source document's ``meta``."""
    path = meta.get("source")
    if isinstance(path, str) and path:
        for key in ("line", "row"):
            if key in meta:
                return f"{path}:{meta[key]}"
        return path if not path.startswith("pydoc_data") else f"{path}#{doc_id}"
    return f"{source_desc}#{doc_id}"
