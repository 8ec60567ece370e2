"""The contract of a drift section: two sides in, :class:`~curricle.drift.verdict.Measure`\\ s out.

A section computes its statistics between two :class:`~curricle.drift.corpus.Corpus` sides,
``OLD`` first. The comparison calls it once on OLD against NEW (``detail=True``: fill each
measure's ``detail`` for the report) and ``null_splits`` times on two random halves of OLD
(``detail=False``: only values), so it must name its measures the same way both times and
compute only what the verdict reads when ``detail`` is False. Every statistic is "larger is
more different" (an absolute difference, a distance, a classifier's held-out AUC ...).

A domain present on one side only is not compared by the per-domain sections (the mixture
section and the lineage say it appeared or went).
"""

from __future__ import annotations

from typing import ClassVar, Iterator

from curricle.drift.corpus import Corpus, DomainDocs
from curricle.drift.verdict import Measure


class Section:
    """One kind of drift statistic (see the module docstring)."""

    name: ClassVar[str]

    def __init__(self, config):
        self.config = config

    def measure(self, old: Corpus, new: Corpus, detail: bool) -> list[Measure]:
        raise NotImplementedError

    @staticmethod
    def shared(old: Corpus, new: Corpus) -> Iterator[tuple[str, DomainDocs, DomainDocs]]:
        """The domains both sides have, sorted, with each side's documents."""
        for name in sorted(set(old.domains) & set(new.domains)):
            yield name, old.domains[name], new.domains[name]

    def make(self, statistic: str, value: float, domain: str | None, n_old: int, n_new: int, fact: str = "",
             **detail) -> Measure:
        return Measure(self.name, statistic, float(value), domain, n_old, n_new, detail, fact)
