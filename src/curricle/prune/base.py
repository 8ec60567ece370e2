"""The pruning metric contract, and how many documents a domain keeps.

A metric answers one question per pruned domain: which training documents go, each with a
reason and a score (:class:`Removal`). The ranked metrics (``column``, ``loss``,
``prototype``) only implement :meth:`PruneMetric.scores` (one float per document, larger is
harder, NaN: no score); the base class removes the easiest (``keep-hardest``) or the hardest
(``keep-easiest``) of the scored documents, ties in document order, and never a document
without a score (it is kept and counted as ``unscored``). ``near-duplicate`` and ``random``
override :meth:`PruneMetric.removals` and :meth:`PruneMetric.candidates`.

:meth:`PruneMetric.candidates` is the metric's whole order: every document it could remove,
first to go first, each with its reason. Its first ``n - n_keep`` are exactly
:meth:`PruneMetric.removals`; group floors (:mod:`curricle.prune.groups`) walk further down it
when they keep one of those.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass

import numpy as np

from curricle.errors import CurricleError
from curricle.prune.config import PruneConfig
from curricle.store import DomainSplit, TokenStore


def keep_count(keep: float, n: int) -> int:
    """Documents a domain of ``n`` keeps: ``keep * n`` rounded half up (``0.25 * 10`` keeps
    3), at least one when ``n > 0`` (a domain the mixture names needs a document)."""
    if n == 0:
        return 0
    # The small epsilon makes a product that should be an exact half (0.35 * 10) round up
    # whatever its last binary digit.
    return min(n, max(1, math.floor(keep * n + 0.5 + 1e-9)))


def domain_rng(seed: int, domain: str) -> np.random.Generator:
    """The random generator of ``domain`` under ``seed`` (the same whichever domains are pruned)."""
    h = int.from_bytes(hashlib.blake2b(domain.encode(), digest_size=8).digest(), "big")
    return np.random.default_rng([seed, h])


@dataclass(frozen=True)
class Removal:
    """One removed training document: its index in the domain's train split, why, and the
    metric's value for it (None where it has none)."""

    index: int
    reason: str
    score: float | None


class PruneMetric:
    """Base class. ``__init__`` checks what the metric needs (a run, a model, a column) and
    fails in one line; :meth:`removals` is called once per pruned domain."""

    name = ""

    def __init__(self, config: PruneConfig, store: TokenStore, progress=None):
        self.config = config
        self.store = store
        self.progress = progress
        """A rich ``Progress`` for long work (None: no bar)."""

    def scores(self, domain: str, split: DomainSplit) -> np.ndarray:  # pragma: no cover - abstract
        """One float per training document, larger = harder; NaN: no score (kept)."""
        raise NotImplementedError

    def unscored(self, domain: str, split: DomainSplit) -> int:
        """How many documents had no score (kept whatever the fraction)."""
        return int(np.isnan(self._scores(domain, split)).sum())

    def _scores(self, domain: str, split: DomainSplit) -> np.ndarray:
        cache = self.__dict__.setdefault("_cache", {})
        if domain not in cache:
            cache[domain] = np.asarray(self.scores(domain, split), dtype=np.float64)
        return cache[domain]

    def removals(self, domain: str, split: DomainSplit, n_keep: int) -> list[Removal]:
        """The documents to remove so that ``n_keep`` remain (in document order)."""
        return sorted(self.candidates(domain, split, n_keep)[: split.n_docs - n_keep], key=lambda r: r.index)

    def candidates(self, domain: str, split: DomainSplit, n_keep: int) -> list[Removal]:
        """Every document the metric would remove, in the order it removes them; at least
        ``split.n_docs - n_keep`` of them (else a one-line error)."""
        scores = self._scores(domain, split)
        if len(scores) != split.n_docs:
            raise CurricleError(f"--by {self.config.by}: {len(scores)} scores for the {split.n_docs} training "
                                f"documents of domain '{domain}'")
        order = self.config.effective_order
        return ranked_candidates(scores, n_keep, order, "easy" if order == "keep-hardest" else "hard", domain,
                                 self.config.by)


def ranked_candidates(scores: np.ndarray, n_keep: int, order: str, reason: str, domain: str,
                      by: str) -> list[Removal]:
    """The scored documents in removal order: the lowest scores first (``keep-hardest``) or the
    highest (``keep-easiest``), ties in document order; NaN scores are never candidates, and
    fewer candidates than the ``len(scores) - n_keep`` removals needed is an error."""
    n_remove = len(scores) - n_keep
    scored = np.flatnonzero(~np.isnan(scores))
    if n_remove > len(scored):
        raise CurricleError(f"--by {by}: domain '{domain}' has {len(scores) - len(scored)} documents without a score, "
                            f"more than the {n_keep} it keeps; keep more, or score them (a longer proxy run)")
    key = scores[scored] if order == "keep-hardest" else -scores[scored]
    return [Removal(int(i), reason, float(scores[i])) for i in scored[np.argsort(key, kind="stable")].tolist()]

