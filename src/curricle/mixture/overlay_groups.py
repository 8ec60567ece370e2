"""The groups of a domain's augmented documents in the sampler, and the floors they must respect.

An overlay (augmented documents, :meth:`~curricle.mixture.sampler.MixtureSampler.attach_overlay`)
takes some of its domain's rows. With groups (the hard-examples controller's ``groups``),
every augmented document counts in one group (its ``group`` in the overlay's ``meta.jsonl``), so
the rows it takes count in that group, not in the groups of the store's documents they replace.
:class:`OverlayGroups` keeps, per overlay domain:

- which group each overlay document is in, and the overlay stream's tokens per group over any
  stretch of it (exact: the stream is the documents in order, cycling);
- this rank's overlay tokens per group in each batch (``Batch.overlay_groups``), which the
  controller adds to ``group/share/<domain>/<group>``;
- with floors (:class:`GroupFloors`), the rule that caps the overlay's rows. Each floored group
  ``g`` keeps its *expected* share of the domain's tokens since the overlay's first document at
  or above its floor ``f_g``, at every step::

      E_g = sum over steps of (store tokens x q_g) + overlay tokens of g       (the state)
      E_g >= f_g * (tokens of the domain since the overlay's first document)

  where ``q_g`` is the group's expected share of the store's drawn tokens under the draw table
  in force that step (probability times document length, as the controller's floors count).
  A step's overlay rows are the most (up to what ``max_share`` allows) that keep this true for
  every floored group; the rest of the domain's rows are the store's. Since the controller
  holds ``q_g >= f_g``, no overlay row is always allowed, so the rule never fails. At fixed
  draw probabilities the overlay's share tends to the *floor cap* (:meth:`OverlayGroups.cap`):
  the largest ``c`` with ``(1 - c) * q_g + c * o_g >= f_g`` for every floored group, ``o_g``
  the group's share of the overlay's tokens.

``E`` is a few floats per domain in the sampler's state, and every other number here is a
function of the overlay's documents and the sampler's draw tables (both checkpointed), so a
resumed run takes the same rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

#: Slack on a floor, relative to the tokens counted: float rounding, never a row.
_TOLERANCE = 1e-9


@dataclass(frozen=True)
class GroupFloors:
    """Floors on the token shares of a domain's groups, which its overlay must leave them."""

    names: list[str]
    """The groups (the values of the controller's ``groups.column``, as it names them)."""
    ids: np.ndarray
    """Per document of the domain's training split: its group, an index into ``names``."""
    floors: np.ndarray
    """Per group: the least expected share of the domain's tokens (0: no floor)."""


class OverlayGroups:
    """One overlay domain's groups (see the module doc). ``lengths``: the store documents'
    lengths (EOS included), which weigh the draw probabilities into token shares."""

    def __init__(self, floors: GroupFloors | None, lengths: np.ndarray):
        self.base = list(floors.names) if floors is not None else []
        self.floors = np.asarray(floors.floors, dtype=np.float64) if floors is not None else np.zeros(0)
        self.ids = np.asarray(floors.ids, dtype=np.int64) if floors is not None else None
        self.lengths = np.asarray(lengths, dtype=np.float64)
        self.expected = np.zeros(len(self.floors))
        """E: per floored group, its expected tokens since the overlay's first document (state)."""
        self.invalidate()
        self._q_key: Any = ()  # the draw table the cached shares are of
        self._q = np.zeros(0)

    @property
    def floored(self) -> bool:
        return bool((self.floors > 0).any())

    @property
    def grouped(self) -> bool:
        """Whether any overlay document has a group (after :meth:`sync`)."""
        return bool((self._doc_group >= 0).any())

    def invalidate(self) -> None:
        """Forget what was read of the overlay (it was cut back or emptied)."""
        self.names = list(self.base)
        self._index = {g: i for i, g in enumerate(self.names)}
        self._synced: tuple[int, int] | None = None
        self._doc_group = np.zeros(0, dtype=np.int64)
        self._starts = np.zeros(1, dtype=np.int64)
        self._cum = np.zeros((1, len(self.names)), dtype=np.int64)

    def sync(self, overlay: Any) -> None:
        """Read the groups of ``overlay``'s documents (only when it has grown)."""
        key = (overlay.n_docs, overlay.n_tokens)
        if key == self._synced:
            return
        groups = []
        for record in overlay.records:
            g = record.get("group")
            if g is not None and g not in self._index:
                self._index[g] = len(self.names)
                self.names.append(g)
            groups.append(-1 if g is None else self._index[g])
        self._doc_group = np.asarray(groups, dtype=np.int64)
        self._starts = np.asarray(overlay.index, dtype=np.int64).copy()
        lengths = np.diff(self._starts)
        per_doc = np.zeros((len(groups), len(self.names)), dtype=np.int64)
        mine = self._doc_group >= 0
        per_doc[np.flatnonzero(mine), self._doc_group[mine]] = lengths[mine]
        self._cum = np.concatenate([np.zeros((1, len(self.names)), dtype=np.int64), np.cumsum(per_doc, axis=0)])
        self._synced = key

    def _before(self, x: int) -> np.ndarray:
        """Per group, the overlay's tokens ``[0, x)`` (``x`` at most its length)."""
        j = int(np.searchsorted(self._starts, x, side="right")) - 1  # the document holding token x
        if j >= len(self._doc_group):
            return self._cum[-1].copy()
        out = self._cum[j].copy()
        if self._doc_group[j] >= 0:
            out[self._doc_group[j]] += x - int(self._starts[j])
        return out

    def stream_tokens(self, start: int, n: int) -> np.ndarray:
        """Per group, tokens of the overlay stream ``start .. start + n`` (cycling)."""
        size = int(self._starts[-1])
        start %= size
        full, rest = divmod(n, size)
        out = full * self._cum[-1]
        end = start + rest
        if end <= size:
            return out + self._before(end) - self._before(start)
        return out + self._cum[-1] - self._before(start) + self._before(end - size)

    def store_shares(self, cdf: np.ndarray | None) -> np.ndarray:
        """Per floored group, its expected share of the store's drawn tokens under the draw
        table ``cdf`` (cumulative probabilities; None: uniform draws)."""
        if self._q_key is not cdf:
            p = np.ones(len(self.lengths)) if cdf is None else np.diff(cdf, prepend=0.0)
            t = np.bincount(self.ids, p * self.lengths, minlength=len(self.floors))
            self._q, self._q_key = t / t.sum(), cdf
        return self._q

    def floor_rows(self, k_max: int, n_rows: int, row_len: int, start: int, total: int,
                   cdf: np.ndarray | None) -> int:
        """Of the domain's ``n_rows`` this step, the most overlay rows, at most ``k_max``, that
        keep every floored group at its floor (the module doc); counts the step in ``E``.
        ``start``: where the overlay stream stands; ``total``: the domain's tokens since the
        overlay's first document, before this step."""
        q = self.store_shares(cdf)
        k_floors = len(self.floors)
        after = total + n_rows * row_len
        need = self.floors * after - _TOLERANCE * after
        for k in range(k_max, -1, -1):
            got = self.expected + (n_rows - k) * row_len * q + self.stream_tokens(start, k * row_len)[:k_floors]
            if k == 0 or bool(np.all(got >= need)):
                break
        self.expected = got
        return k

    def rank_tokens(self, start: int, k: int, n_rows: int, row_len: int, skip: int, world: int) -> dict[str, int]:
        """Per group, the tokens of this rank's rows among the ``k`` overlay rows (the last
        ``k`` of the domain's ``n_rows``; this rank's are those ``j`` with ``(j - skip) % world
        == 0``)."""
        if world == 1:
            t = self.stream_tokens(start, k * row_len)
        else:
            t = np.zeros(len(self.names), dtype=np.int64)
            first = n_rows - k
            for j in range(first + (skip - first) % world, n_rows, world):
                t = t + self.stream_tokens(start + (j - first) * row_len, row_len)
        return {self.names[g]: int(x) for g, x in enumerate(t.tolist()) if x}

    def cap(self, cdf: np.ndarray | None) -> tuple[float, str | None]:
        """The floor cap at draw table ``cdf`` and the overlay as it is (the module doc), and the
        group that sets it (None: no floored group limits the overlay; the cap is then 1)."""
        q = self.store_shares(cdf)
        size = int(self._starts[-1])
        o = self._cum[-1][: len(self.floors)] / size if size else np.zeros(len(self.floors))
        best: tuple[float, str | None] = (1.0, None)
        for g, f in enumerate(self.floors.tolist()):
            if f <= 0 or o[g] >= f:
                continue
            c = 0.0 if q[g] - f <= _TOLERANCE else float((q[g] - f) / (q[g] - o[g]))
            if c < best[0]:
                best = (c, self.names[g])
        return best
