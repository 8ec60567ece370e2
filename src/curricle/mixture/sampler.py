"""The mixture sampler: packed, domain-pure rows from weights that may change every step.

How a step's global batch is built (identically on every rank):

1. ``w = weights(step)`` (the schedule's, or a controller's from :meth:`set_weights`) and the
   row length ``L = seq_len(step)``.
2. Rows per domain: each domain is owed ``credit + w * B * L`` tokens; it gets that many rows,
   rounded by largest remainder so the batch has exactly ``B`` rows, and the rounding error is
   carried as credit to the next step. So weights count tokens, and the realized proportions
   match them to within one row per domain over any stretch of the run.
3. The global batch holds each domain's rows together, domains in store order, and global
   row ``g`` goes to rank ``g % world_size``. Ranks are therefore disjoint, each gets a share of
   every domain, and the global order does not depend on the world size: resuming with another
   world size at the same global batch continues the very same stream. (Row order within one
   optimizer step does not change its gradient, so rows are not shuffled.)
4. Each domain is a stream of its documents, each followed by EOS, in a per-epoch random order
   (seeded by ``(seed, domain, epoch)``). A domain's rows take consecutive ``L + 1`` tokens of
   its stream (``L`` inputs plus the one extra label token), so a row never mixes domains.
   The stream state of a domain is one number, its position; rows are cut from a read-ahead
   buffer of the stream (laid out ``_AHEAD_TOKENS`` at a time by one ``bytes.join`` of
   per-document memoryviews), so a step costs one copy per domain, not a Python loop per
   document.
5. *Drawn* domains take their documents one at a time instead: with pacing, each next
   document is drawn from the easiest ones available at that step; with priorities (set by
   the hard-examples controller through :meth:`set_doc_priorities`), in proportion to them;
   with ``weight_by``, in proportion to ``exp(score / temperature)``
   (:mod:`curricle.mixture.weight_by`: a table fixed when the sampler is built), and with
   pacing as well, in that proportion among the documents pacing makes available (a draw
   ``u`` picks the first available document, in pacing order, whose cumulative weight exceeds
   ``u`` times the available documents' total). Priorities and ``weight_by`` on one domain
   are refused (as are priorities and pacing). Each draw uses one uniform number of a
   per-domain stream seeded by ``(seed, domain)``. Their state is the number of documents
   drawn and where the current one stands; prioritized domains' batches say which document
   each row segment came from (``Batch.segments``).
6. A domain with an *overlay* (augmented documents, :meth:`attach_overlay`) gives some of its
   rows to the overlay's own stream: row by row, a row is the overlay's while that keeps the
   overlay's tokens within ``max_share`` of the domain's tokens since its first augmented
   document (so the share holds at every step, and is reached to within one row). The
   overlay's rows go after the domain's other rows of the step. The overlay stream reads its
   documents in the order they were added, cycling, and jumps to the first new document when
   more are added; its state is a few numbers (position, length seen, tokens served, the
   domain's tokens when it started) and the overlay's length, which a resumed sampler cuts the
   overlay back to. Overlay rows carry no ``segments`` (they are no document of the store);
   when its documents have groups, a batch says how many of this rank's overlay tokens each
   group has (``Batch.overlay_groups``). With group floors (the hard-examples controller's
   ``groups``), a step's overlay rows are also the most that keep every floored group's
   expected share of the domain's tokens at its floor (:mod:`curricle.mixture.overlay_groups`).

The state is a few numbers per domain (see :meth:`state_dict`); every rank holds the same
state and advances every domain's stream for all ``B`` rows, copying only its own rows.

The state also names the data it was drawn from: the store's snapshot id and, per domain, a
hash of its split's documents (:mod:`curricle.store.snapshot`). Resumed on a store of
another snapshot with the same domains, a domain whose documents are unchanged keeps its exact
stream; a changed one starts a fresh stream at its beginning, its permutations (or draws)
seeded by ``(seed, domain, the new snapshot id)``, so positions into the old documents are
never read against the new ones. Step, credit, served tokens and weights carry on.
:attr:`MixtureSampler.snapshot_change` says what changed (the trainer logs it as a
``snapshot-changed`` event), with, per changed domain, how the means of its numeric metadata
columns (``n_tokens``, ``compression_ratio``, ...) moved, in units of the old data's standard
deviation: the documents the restarted stream now serves are drawn from the new split, so this
is the shift of the incoming batches' metadata (the drift signal passes it to the controllers,
:mod:`curricle.controllers.drift_signal`). Domains added or removed are refused: every weight vector has one
entry per domain. A prioritized domain (per-document state kept by the controller) that
changed is refused too.

Replaying a run's sample selection: the stream is a function of the store's snapshot, the seed,
the mixture config and the weights used at each step (``RUN/run.json`` records the first two,
``RUN/config.yaml`` the third). ``curricle sample RUN/config.yaml --steps N`` on a store of
the recorded snapshot draws exactly the run's first ``N`` batches when the weights come from
the schedule (no controller changing them); a controller's weights are in
``RUN/mixture_log.jsonl`` but ``curricle sample`` does not replay them, and ``train.trace``
records a hash of every row a run trained on.
"""

from __future__ import annotations

import logging
import math
import zlib
from dataclasses import dataclass
from typing import Any, Iterator

import numpy as np
import torch

from curricle.errors import CurricleError
from curricle.mixture.config import MixtureConfig, seq_len_at
from curricle.mixture.overlay_groups import GroupFloors, OverlayGroups
from curricle.mixture.pacing import DomainPacing, pacing_difficulty
from curricle.mixture.schedules import WeightSchedule, build_schedule
from curricle.mixture.weight_by import draw_probabilities, weight_by_scores
from curricle.store import TokenStore
from curricle.store.snapshot import unit_digest

log = logging.getLogger(__name__)

STATE_VERSION = 2
_UNIFORM_BLOCK = 4096
#: Tokens of a domain's stream laid out ahead at a time.
_AHEAD_TOKENS = 1 << 18
#: Domains with at most this many documents keep one memoryview per document (about 190 bytes
#: each) for laying out the read-ahead buffer; above it, views are made per buffer. Measured:
#: cached views stop paying off (they fall out of the CPU caches) near 100K documents.
_VIEW_CACHE_DOCS = 1 << 15


@dataclass
class Batch:
    """One step's rows for this rank."""

    step: int
    tokens: torch.Tensor
    """(b, seq_len + 1) int64: model inputs are ``tokens[:, :-1]``, labels ``tokens[:, 1:]``."""
    domain_ids: torch.Tensor
    """(b,) int64: each row's domain, an index into ``MixtureSampler.domains``."""
    seq_len: int
    weights: np.ndarray
    """The token weights over domains this step was drawn with."""
    segments: list[tuple[int, int, int, int, int]] | None = None
    """For prioritized domains: (row, first column, end column, domain, document) of every
    document piece in this rank's rows (columns index ``tokens``; the end is exclusive)."""
    overlay_groups: list[tuple[int, str, int]] | None = None
    """(domain, group, tokens) of this rank's overlay rows, per group of augmented documents
    (None: no overlay row of a grouped document)."""


#: Metadata columns a sampler summarizes to say how a resumed run's new data differs (numeric
#: ones only; identifiers are not distributions).
NOT_SUMMARIZED = frozenset({"doc_id", "source"})


def metadata_summary(split) -> dict[str, list[float]]:
    """``{column: [documents, mean, sd]}`` of a split's numeric metadata columns (finite values)."""
    table = split.meta()
    out = {}
    for col in table.column_names:
        if col in NOT_SUMMARIZED:
            continue
        try:
            values = np.asarray(table.column(col).to_numpy(zero_copy_only=False), dtype=np.float64)
        except (TypeError, ValueError):
            continue
        values = values[np.isfinite(values)]
        if len(values):
            out[col] = [int(len(values)), float(values.mean()), float(values.std())]
    return out


def metadata_shift(old: dict[str, list[float]] | None, new: dict[str, list[float]]) -> dict[str, dict[str, float]]:
    """Per column both summaries have: the old and new means and the shift of the mean in units
    of the old sd (``inf``-free: a constant old column shifts by 0 when equal, else by the
    difference itself)."""
    out = {}
    for col, (_, mean_new, _) in sorted(new.items()):
        if not old or col not in old:
            continue
        _, mean_old, sd_old = old[col]
        diff = mean_new - mean_old
        out[col] = {"old": round(mean_old, 6), "new": round(mean_new, 6),
                    "shift": round(diff / sd_old if sd_old > 0 else diff, 6)}
    return out


def allocate_rows(credit: np.ndarray, weights: np.ndarray, batch_rows: int, seq_len: int) -> tuple[np.ndarray, np.ndarray]:
    """Rows per domain for one step, and the token credit carried to the next.

    ``credit`` is what each domain is owed (tokens) from rounding in earlier steps. Domains
    with zero weight get no rows and lose their credit. Rows left after flooring go to the
    largest remainders (ties: the lower domain index); rows over go from the smallest.
    """
    rows, carried = _allocate_rows(np.asarray(credit, dtype=np.float64).tolist(),
                                   np.asarray(weights, dtype=np.float64).tolist(), batch_rows, seq_len)
    return np.array(rows, dtype=np.int64), np.array(carried)


def _allocate_rows(credit: list[float], w: list[float], batch_rows: int, seq_len: int) -> tuple[list[int], list[float]]:
    """:func:`allocate_rows` on lists. Plain Python, one pass: the vectors are short, and
    numpy's per-call cost would dominate (this runs every step)."""
    owed, rows, frac, live = [], [], [], []
    for i, (c, x) in enumerate(zip(credit, w)):
        if x > 0:
            o = c + x * batch_rows * seq_len
            want = o / seq_len
            r = math.floor(want) if want > 0 else 0
            live.append(i)
        else:
            o, want, r = 0.0, 0.0, 0
        owed.append(o)
        rows.append(r)
        frac.append(want - r)
    missing = batch_rows - sum(rows)
    while missing > 0:
        best = max(live, key=frac.__getitem__)  # the first (lowest index) of equals
        rows[best] += 1
        frac[best] -= 1.0
        missing -= 1
    while missing < 0:
        # The last (highest index) of equals.
        worst = min(reversed([i for i, r in enumerate(rows) if r > 0]), key=frac.__getitem__)
        rows[worst] -= 1
        frac[worst] += 1.0
        missing += 1
    return rows, [o - r * seq_len for o, r in zip(owed, rows)]


def _allocate_rows_np(credit: np.ndarray, w: np.ndarray, batch_rows: int, seq_len: int) -> tuple[np.ndarray, np.ndarray]:
    """:func:`_allocate_rows` in numpy, for many domains: the same rows and credit, bit for bit
    (the same float64 operations in the same order; the same tie-breaking). Each row left
    over goes to one domain at most when there are enough candidates (a domain's remainder is
    below 1, and falls below every other once it has taken a row), so the greedy loop is one
    stable sort; otherwise it falls back to the loop."""
    live = w > 0
    owed = credit + w * batch_rows * seq_len
    owed[~live] = 0.0  # a switched-off domain forgets its credit
    want = owed / seq_len
    rows = np.floor(want)
    rows[want <= 0] = 0.0
    frac = want - rows
    rows = rows.astype(np.int64)
    missing = batch_rows - int(rows.sum())
    if missing > 0:
        cand = np.flatnonzero(live)
        f = frac[cand]
        if missing < len(cand):
            # The ``missing`` largest remainders, the lower index among equals (as a stable
            # sort would order them), found by one partition instead of a sort.
            cut = np.partition(f, len(f) - missing)[len(f) - missing]
            above = np.flatnonzero(f > cut)
            ties = np.flatnonzero(f == cut)[: missing - len(above)]
            chosen = cand[np.concatenate([above, ties])]
        else:
            chosen = cand
        # The loop would give a domain a second row once its remainder less 1 beats the next
        # candidate's (only negative remainders, from negative credit, can be that low).
        if missing > len(cand) or frac[chosen].min() <= f.max() - 1.0:
            r, c = _allocate_rows(credit.tolist(), w.tolist(), batch_rows, seq_len)
            return np.asarray(r, dtype=np.int64), np.asarray(c)
        rows[chosen] += 1
    elif missing < 0:
        cand = np.flatnonzero(rows > 0)
        if -missing > len(cand):
            r, c = _allocate_rows(credit.tolist(), w.tolist(), batch_rows, seq_len)
            return np.asarray(r, dtype=np.int64), np.asarray(c)
        # Smallest remainder first, the higher index among equals.
        order = np.lexsort((-cand, frac[cand]))
        rows[cand[order[:-missing]]] -= 1
    return rows, owed - rows * seq_len


#: Above this many domains a step allocates its rows with numpy (below it, plain Python is faster).
_NUMPY_DOMAINS = 48


def _row_segments(pieces, row_len, skip, world, lo, d):
    """Pieces of a domain's flat rows, cut at row ends, as this rank's (row, a, b, d, doc)."""
    for start, end, doc in pieces:
        while start < end:
            j, col = divmod(start, row_len)
            stop = min(end, (j + 1) * row_len)
            if j >= skip and (j - skip) % world == 0:
                yield (lo + (j - skip) // world, col, col + stop - start, d, doc)
            start = stop


def _domain_key(name: str) -> int:
    """A stable per-domain seed component: adding a domain leaves others' streams alone."""
    return zlib.crc32(name.encode())


class MixtureSampler:
    """Yields :class:`Batch` es for ``rank`` of ``world_size`` from a :class:`TokenStore`.

    Deterministic given ``(seed, step, rank)``; ``state_dict()`` / ``load_state_dict()``
    resume the exact stream, also at a different world size with the same ``batch_rows``.
    """

    def __init__(
        self,
        store: TokenStore,
        config: MixtureConfig,
        seed: int = 0,
        rank: int = 0,
        world_size: int = 1,
        split: str = "train",
        prioritized: list[str] | tuple[str, ...] = (),
    ):
        if world_size < 1 or not 0 <= rank < world_size:
            raise CurricleError(f"rank {rank} is not in a world of size {world_size}")
        if config.batch_rows % world_size:
            raise CurricleError(
                f"mixture.batch_rows: {config.batch_rows} rows do not split evenly over {world_size} ranks"
            )
        self.store = store
        self.config = config
        self.seed = int(seed)
        self.rank = rank
        self.world_size = world_size
        self.domains: list[str] = store.domains
        self.split = split
        self.snapshot_change: dict[str, Any] | None = None
        """Set by :meth:`load_state_dict` when the state was saved on another snapshot of the
        data: ``{"old", "new", "domains_changed", "docs": {domain: {"old", "new"}}}`` (the
        training documents of each changed domain); None otherwise."""
        self._data_state: dict[str, Any] | None = None  # see _data()
        unknown = sorted(config.referenced_domains() - set(self.domains))
        if unknown:
            raise CurricleError(
                f"mixture: unknown domain '{unknown[0]}' (the store has: {', '.join(self.domains)})"
            )
        self._splits = [store.split(d, split) for d in self.domains]
        for s in self._splits:
            if s.n_docs == 0:
                raise CurricleError(f"domain '{s.domain}' has no documents in split '{split}'")
        try:
            self.schedule: WeightSchedule = build_schedule(config.schedule, self.domains, store.natural_tokens(split))
        except ValueError as err:
            raise CurricleError(f"mixture.schedule: {err}") from err
        self._pacing: dict[int, DomainPacing] = {
            self.domains.index(name): DomainPacing(p, pacing_difficulty(self._splits[self.domains.index(name)], name, p))
            for name, p in config.pacing.items()
        }
        for name in prioritized:
            if name not in self.domains:
                raise CurricleError(f"controller.domains: unknown domain '{name}' (the store has: {', '.join(self.domains)})")
            if name in config.pacing:
                raise CurricleError(f"domain '{name}' cannot have both difficulty pacing and hard-example priorities")
            if name in config.weight_by:
                raise CurricleError(f"mixture.weight_by.{name}: the controller draws domain '{name}' by its own "
                                    f"document priorities; drop weight_by there or leave the domain out of "
                                    f"controller.domains")
        self._prioritized = {self.domains.index(n) for n in prioritized}
        self._priority_cdf: dict[int, np.ndarray] = {}
        # weight_by: per domain, the draw probabilities as a cumulative table, in document
        # order (no pacing: normalized) or in pacing order (with pacing: not normalized, so
        # a prefix's total is the available documents' weight).
        self._weight_cdf: dict[int, np.ndarray] = {}
        self._weighted_mean_len: dict[int, float] = {}  # unpaced ones: expected tokens a draw
        for name, wb in config.weight_by.items():
            d = self.domains.index(name)
            p = draw_probabilities(weight_by_scores(self._splits[d], name, wb), wb)
            self._weight_cdf[d] = np.cumsum(p[self._pacing[d].order] if d in self._pacing else p)
            if d not in self._pacing:
                self._weight_cdf[d] /= self._weight_cdf[d][-1]
                self._weighted_mean_len[d] = max(1.0, float((p * self._splits[d].doc_lengths).sum()))
        self._drawn = set(self._pacing) | self._prioritized | set(self._weight_cdf)
        self._keys = [_domain_key(d) for d in self.domains]
        self._domain_index = np.arange(len(self.domains), dtype=np.int64)
        self._n_tokens = np.array([s.n_tokens for s in self._splits], dtype=np.float64)
        #: Tokens past which a domain repeats too often (warned about once, when passed).
        self._repeat_limit = config.max_epochs * self._n_tokens
        self._perm_cache: dict[int, tuple[int, np.ndarray, np.ndarray]] = {}
        self._uniform_cache: dict[int, tuple[int, np.ndarray]] = {}
        self._views: dict[int, np.ndarray] = {}  # see _doc_views()
        # Drawn domains count document starts as they go (see exposure_state()).
        self._drawn_serves = {d: np.zeros(self._splits[d].n_docs, dtype=np.int32) for d in self._drawn}
        self._overlays: dict[int, Any] = {}  # domain -> (overlay, max_share); see attach_overlay()
        self._ov_groups: dict[int, OverlayGroups] = {}  # the overlays' groups and floors
        self._reset_state()

    # -- state ---------------------------------------------------------------------------

    def _reset_state(self) -> None:
        n = len(self.domains)
        self.step = 0
        self._credit = [0.0] * n  # tokens owed to each domain from rounding (allocate_rows)
        # Streamed domains: the position in the stream. Drawn domains: [documents drawn,
        # current document (-1: none), offset into it].
        self._pos = [0] * n
        self._drawn_state = {d: [0, -1, 0] for d in self._drawn}
        self._ahead: dict[int, tuple[int, np.ndarray]] = {}
        self._served = [0] * n  # tokens served per domain (see served_tokens)
        # Overlay domains: [stream position, overlay tokens seen, overlay tokens served,
        # the domain's served tokens when its overlay started (-1: not yet)].
        self._ov_state = {d: [0, 0, 0, -1] for d in self._overlays}
        self._check_repeats(warn=False)
        self._override: np.ndarray | None = None
        self._pacing_from: int | None = None  # see restart_pacing()
        # Domains whose documents changed under a resumed run: their streams' extra seed.
        self._reseeded: dict[int, int] = {}

    def _check_repeats(self, warn: bool = True) -> None:
        """Warn about each domain that has passed ``max_epochs`` since the last check (served
        tokens only grow), and note how far the nearest other domain is from its limit, so
        that ``next_batch`` checks again only when a domain may have reached it."""
        served = self.served_tokens
        over = served > self._repeat_limit
        if warn:
            for i in np.flatnonzero(over & ~self._over).tolist():
                log.warning(
                    "domain '%s' has now been served %.2f times over (mixture.max_epochs: %s); "
                    "its documents repeat", self.domains[i], served[i] / self._n_tokens[i],
                    self.config.max_epochs,
                )
        self._over = over
        below = self._repeat_limit[~over] - served[~over]
        self._repeat_slack = float(below.min()) if len(below) else math.inf

    def _data(self) -> dict[str, Any]:
        """The data this sampler reads: the store's snapshot id and, per domain, the hash of
        its split and its documents, and the mean and sd of its numeric metadata columns
        (computed once)."""
        if self._data_state is None:
            snap = self.store.snapshot
            self._data_state = {"id": snap["id"], "streams": {
                name: [unit_digest(snap, f"{name}/{self.split}"), s.n_docs]
                for name, s in zip(self.domains, self._splits)},
                "meta": {name: metadata_summary(s) for name, s in zip(self.domains, self._splits)}}
        return self._data_state

    def state_dict(self) -> dict[str, Any]:
        """A small JSON-able dict: enough to continue the exact stream, and the snapshot of the
        data it was drawn from."""
        return {
            "version": STATE_VERSION,
            "seed": self.seed,
            "batch_rows": self.config.batch_rows,
            "domains": list(self.domains),
            "step": self.step,
            "credit": [float(c) for c in self._credit],
            "positions": [int(p) for p in self._pos],
            "drawn": {self.domains[d]: list(map(int, st)) for d, st in self._drawn_state.items()},
            "served_tokens": list(self._served),
            "weights_override": None if self._override is None else [float(w) for w in self._override],
            "snapshot": self._data(),
            **({"reseeded": {self.domains[d]: salt for d, salt in sorted(self._reseeded.items())}}
               if self._reseeded else {}),
            **({"pacing_from": self._pacing_from} if self._pacing_from is not None else {}),
            **({"overlays": {self.domains[d]: [*map(int, st), ov.n_docs, ov.n_tokens]
                             for d, st in self._ov_state.items() for ov in [self._overlays[d][0]]}}
               if self._overlays else {}),
            **({"overlay_floors": {self.domains[d]: g.expected.tolist() for d, g in floored.items()}}
               if (floored := {d: g for d, g in self._ov_groups.items() if g.floored}) else {}),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        saved_data = state.get("snapshot")  # None: saved before snapshots were recorded
        if saved_data is not None and state.get("domains") != self.domains:
            old, new = set(state.get("domains") or ()), set(self.domains)
            raise CurricleError(
                f"sampler state: the data changed its domains (snapshot {saved_data['id'][:12]} -> "
                f"{self._data()['id'][:12]}; added: {', '.join(sorted(new - old)) or 'none'}; removed: "
                f"{', '.join(sorted(old - new)) or 'none'}); a run resumes only on the same domains")
        for key, mine in (("version", STATE_VERSION), ("seed", self.seed),
                          ("batch_rows", self.config.batch_rows), ("domains", self.domains)):
            if state.get(key) != mine:
                raise CurricleError(
                    f"sampler state: '{key}' is {state.get(key)!r} but this sampler has {mine!r}; "
                    f"a stream can only resume with the same seed, domains and global batch"
                )
        drawn = {self.domains.index(name): list(map(int, st)) for name, st in state["drawn"].items()}
        if set(drawn) != self._drawn:
            raise CurricleError("sampler state: it was saved with pacing, priorities or weight_by on other "
                                "domains than this config's")
        self.step = int(state["step"])
        self._credit = [float(c) for c in state["credit"]]
        self._pos = [int(p) for p in state["positions"]]
        self._drawn_state = drawn
        self._ahead = {}
        self._reseeded = {self.domains.index(name): int(salt) for name, salt in state.get("reseeded", {}).items()}
        self.snapshot_change = None
        if saved_data is not None and saved_data["id"] != self._data()["id"]:
            self._restart_changed(saved_data)
        self._perm_cache, self._uniform_cache = {}, {}
        self._served = [int(t) for t in state["served_tokens"]]
        self._check_repeats(warn=False)
        ov = state.get("weights_override")
        self._override = None if ov is None else np.asarray(ov, dtype=np.float64)
        self._pacing_from = state.get("pacing_from")
        saved = state.get("overlays", {})
        unknown = sorted(set(saved) - {self.domains[d] for d in self._overlays})
        if unknown:
            raise CurricleError(f"sampler state: it was saved with augmented documents in domain '{unknown[0]}', "
                                f"which this config does not augment")
        expected = state.get("overlay_floors", {})
        for d, (overlay, _) in self._overlays.items():
            pos, seen, served, since, n_docs, n_tokens = saved.get(self.domains[d], [0, 0, 0, -1, 0, 0])
            overlay.restore(int(n_docs), int(n_tokens))
            self._ov_state[d] = [int(pos), int(seen), int(served), int(since)]
            groups = self._ov_groups[d]
            groups.invalidate()
            if groups.floored:
                if self.domains[d] not in expected and since >= 0:
                    raise CurricleError(f"sampler state: it was saved without group floors on the augmented documents "
                                        f"of '{self.domains[d]}', which this config has")
                groups.expected = np.asarray(expected.get(self.domains[d], np.zeros(len(groups.floors))),
                                             dtype=np.float64)

    def _restart_changed(self, saved: dict[str, Any]) -> None:
        """After a state saved on another snapshot: every domain whose documents changed
        starts a fresh stream (see the module docstring); :attr:`snapshot_change` says which."""
        now = self._data()
        changed = [name for name in self.domains if saved["streams"].get(name, [None])[0] != now["streams"][name][0]]
        prioritized = [name for name in changed if self.domains.index(name) in self._prioritized]
        if prioritized:
            raise CurricleError(f"sampler state: the documents of '{prioritized[0]}' changed (snapshot "
                                f"{saved['id'][:12]} -> {now['id'][:12]}) and the controller keeps per-document "
                                f"state on them; resume on the old data or start a new run")
        salt = int(now["id"][:16], 16)
        for name in changed:
            d = self.domains.index(name)
            self._reseeded[d] = salt
            self._pos[d] = 0
            if d in self._drawn:
                self._drawn_state[d] = [0, -1, 0]
                self._drawn_serves[d] = np.zeros(self._splits[d].n_docs, dtype=np.int32)
        self.snapshot_change = {
            "old": saved["id"], "new": now["id"], "domains_changed": changed,
            "docs": {name: {"old": saved["streams"].get(name, [None, None])[1], "new": now["streams"][name][1]}
                     for name in changed}}
        shifts = {name: metadata_shift(saved.get("meta", {}).get(name), now["meta"][name]) for name in changed}
        if any(shifts.values()):
            self.snapshot_change["metadata"] = {name: shift for name, shift in shifts.items() if shift}

    def exposure_state(self) -> dict[str, np.ndarray]:
        """How many times each document has been started, per domain (telemetry; not needed to
        resume). Streamed domains derive it from their position; drawn ones count as they go."""
        out = {}
        for d, name in enumerate(self.domains):
            if d in self._drawn:
                out[name] = self._drawn_serves[d].copy()
                continue
            split = self._splits[d]
            epoch, within = divmod(self._pos[d], split.n_tokens)
            counts = np.full(split.n_docs, epoch, dtype=np.int32)
            if within:
                ends = self._epoch_ends(d, epoch)
                k = int(np.searchsorted(ends, within, side="right"))  # the document serving next
                started = k + (within > (int(ends[k - 1]) if k else 0))  # it counts once begun
                counts[self._permutation(d, epoch)[:started]] += 1
            out[name] = counts
        return out

    def load_exposure_state(self, arrays: dict[str, np.ndarray]) -> None:
        restarted = set(self.snapshot_change["domains_changed"]) if self.snapshot_change else set()
        for d in self._drawn:
            name = self.domains[d]
            if name not in restarted and name in arrays and len(arrays[name]) == len(self._drawn_serves[d]):
                self._drawn_serves[d] = np.asarray(arrays[name], dtype=np.int32).copy()

    def array_state(self) -> dict[str, np.ndarray]:
        """What the checkpoint keeps beside :meth:`state_dict`: serve counts
        (``exposure/<domain>``) and draw tables (``priority/<domain>``)."""
        return {**{f"exposure/{d}": v for d, v in self.exposure_state().items()},
                **{f"priority/{d}": v for d, v in self.priority_state().items()}}

    def load_array_state(self, arrays: dict[str, np.ndarray]) -> None:
        def part(prefix: str) -> dict[str, np.ndarray]:
            return {k[len(prefix):]: v for k, v in arrays.items() if k.startswith(prefix)}

        self.load_exposure_state(part("exposure/"))
        self.load_priority_state(part("priority/"))

    def priority_state(self) -> dict[str, np.ndarray]:
        """The draw tables of prioritized domains (cumulative probabilities), by domain."""
        return {self.domains[d]: cdf for d, cdf in self._priority_cdf.items()}

    def load_priority_state(self, arrays: dict[str, np.ndarray]) -> None:
        self._priority_cdf = {self.domains.index(name): np.asarray(cdf, dtype=np.float64).copy()
                              for name, cdf in arrays.items()}

    def set_doc_priorities(self, domain: str, probs: np.ndarray | None) -> None:
        """Draw the next documents of a prioritized ``domain`` in proportion to ``probs``
        (one per document; None: uniformly). Used from the next batch on. They are arrays, so
        they live in :meth:`priority_state`, saved next to the (JSON) sampler state."""
        d = self.domains.index(domain)
        if d not in self._prioritized:
            raise CurricleError(f"set_doc_priorities: domain '{domain}' was not declared prioritized")
        if probs is None:
            self._priority_cdf.pop(d, None)
            return
        p = np.asarray(probs, dtype=np.float64)
        if p.shape != (self._splits[d].n_docs,) or not np.all(np.isfinite(p)) or np.any(p < 0) or p.sum() <= 0:
            raise CurricleError(f"set_doc_priorities: '{domain}' needs {self._splits[d].n_docs} finite, "
                                f"non-negative priorities, not all zero")
        cdf = np.cumsum(p)
        self._priority_cdf[d] = cdf / cdf[-1]

    # -- augmented documents ---------------------------------------------------------------

    def attach_overlay(self, domain: str, overlay: Any, max_share: float, floors: GroupFloors | None = None) -> None:
        """Train ``domain`` also on ``overlay``'s documents (an
        :class:`~curricle.augment.overlay.Overlay`, which may grow between steps), at
        ``max_share`` of the domain's tokens (see the module doc, item 6), and, with ``floors``,
        at no more than leaves each group of the domain its floor
        (:mod:`curricle.mixture.overlay_groups`). Attach before :meth:`load_state_dict`: a
        resumed sampler cuts the overlay back to its saved length."""
        if domain not in self.domains:
            raise CurricleError(f"augment.domains: unknown domain '{domain}' (the store has: {', '.join(self.domains)})")
        if not 0 < max_share < 1:
            raise CurricleError(f"augment.max_share: must be in (0, 1), got {max_share}")
        if np.dtype(overlay.dtype) != self._splits[self.domains.index(domain)].dtype:
            raise CurricleError(f"overlay of '{domain}': dtype {overlay.dtype} is not the store's")
        d = self.domains.index(domain)
        if floors is not None and (len(floors.ids) != self._splits[d].n_docs or len(floors.floors) != len(floors.names)):
            raise CurricleError(f"overlay of '{domain}': group floors for {len(floors.ids)} documents and "
                                f"{len(floors.names)} groups, but the domain has {self._splits[d].n_docs} documents")
        self._overlays[d] = (overlay, float(max_share))
        self._ov_state[d] = [0, 0, 0, -1]
        self._ov_groups[d] = OverlayGroups(floors, self._splits[d].doc_lengths)

    def overlay_floor_cap(self, domain: str) -> tuple[float, str | None] | None:
        """For an overlay domain with group floors: the largest share of the domain's tokens
        its overlay, as it is now, can take at the current draw probabilities with every group
        at its floor, and the group that sets it (None: none limits it); None without floors."""
        d = self.domains.index(domain)
        groups = self._ov_groups.get(d)
        if groups is None or not groups.floored:
            return None
        groups.sync(self._overlays[d][0])
        return groups.cap(self._draw_cdf(d))

    def overlay_share(self) -> dict[str, tuple[int, float]]:
        """Per overlay domain: its augmented documents, and the share of the domain's tokens
        (since its first augmented document) they have taken."""
        out = {}
        for d, (overlay, _) in self._overlays.items():
            _, _, served, since = self._ov_state[d]
            total = self._served[d] - since if since >= 0 else 0
            out[self.domains[d]] = (overlay.n_docs, served / total if total > 0 else 0.0)
        return out

    def _overlay_rows(self, d: int, n_rows: int, row_len: int) -> int:
        """How many of domain ``d``'s ``n_rows`` rows this step are its overlay's."""
        overlay, share = self._overlays[d]
        st = self._ov_state[d]
        if overlay.n_tokens == 0:
            return 0
        if st[3] < 0:
            st[3] = self._served[d]  # the share counts from here
        total = self._served[d] - st[3]
        k = 0
        for j in range(1, n_rows + 1):
            if st[2] + (k + 1) * row_len <= share * (total + j * row_len):
                k += 1
        groups = self._ov_groups[d]
        if groups.floored:
            groups.sync(overlay)
            k = groups.floor_rows(k, n_rows, row_len, self._overlay_start(d), total, self._draw_cdf(d))
        return k

    def _overlay_start(self, d: int) -> int:
        """Where domain ``d``'s overlay stream reads next (see :meth:`_overlay_stream`)."""
        overlay, _ = self._overlays[d]
        st = self._ov_state[d]
        return st[1] if overlay.n_tokens > st[1] else st[0] % overlay.n_tokens

    def _overlay_stream(self, d: int, n_tokens: int) -> np.ndarray:
        """The next ``n_tokens`` of domain ``d``'s overlay stream (its documents in order, cycling;
        new documents first)."""
        overlay, _ = self._overlays[d]
        st = self._ov_state[d]
        size = overlay.n_tokens
        if size > st[1]:  # documents were added: start at the first new one
            st[0], st[1] = st[1], size
        out = np.empty(n_tokens, dtype=overlay.tokens.dtype)
        pos, got = st[0] % size, 0
        while got < n_tokens:
            take = min(n_tokens - got, size - pos)
            out[got : got + take] = overlay.tokens[pos : pos + take]
            got += take
            pos = (pos + take) % size
        st[0] = pos
        st[2] += n_tokens
        return out

    # -- weights -------------------------------------------------------------------------

    def set_weights(self, weights: dict[str, float] | np.ndarray | None) -> None:
        """The controller hook: use these token weights from the next batch on.

        ``None`` returns to the schedule. The weights become part of the sampler state.
        """
        if weights is None:
            self._override = None
            return
        if isinstance(weights, dict):
            unknown = set(weights) - set(self.domains)
            if unknown:
                raise CurricleError(f"set_weights: unknown domain '{sorted(unknown)[0]}'")
            w = np.array([float(weights.get(d, 0.0)) for d in self.domains])
        else:
            w = np.asarray(weights, dtype=np.float64)
            if w.shape != (len(self.domains),):
                raise CurricleError(f"set_weights: expected {len(self.domains)} weights, got shape {w.shape}")
        # Summed in order, as sum() does (cumsum is sequential; np.sum is pairwise).
        total = float(np.cumsum(w)[-1]) if len(w) > _NUMPY_DOMAINS else sum(w.tolist())
        if not (np.isfinite(w).all() and (w >= 0).all()) or total <= 0:
            raise CurricleError(f"set_weights: weights must be finite, >= 0 and not all zero, got {w.tolist()}")
        self._override = w / total

    @property
    def weights_override(self) -> np.ndarray | None:
        """The weights of the last :meth:`set_weights` (a copy), None while the schedule's are used."""
        return None if self._override is None else self._override.copy()

    def restart_pacing(self, step: int | None) -> None:
        """Pace every paced domain as if the run had started at ``step`` (0-based, the next
        batch's step at the latest): the easiest documents again, competence rising on its own
        schedule from there. ``None`` returns to the run's own clock. Part of the sampler
        state. (The plateau policy ``reinstate: {pacing_start: true}``.)"""
        if step is not None and not 0 <= step <= self.step:
            raise CurricleError(f"restart_pacing: step {step} is not in [0, {self.step}]")
        self._pacing_from = step

    def weights_at(self, step: int) -> np.ndarray:
        """The token weights used at ``step`` (the override if set, else the schedule's)."""
        return self._override if self._override is not None else self.schedule.weights(step)

    def seq_len_at(self, step: int) -> int:
        return seq_len_at(self.config.seq_len, step)

    @property
    def served_tokens(self) -> np.ndarray:
        """Tokens served so far per domain (all ranks' rows), in store order."""
        return np.array(self._served, dtype=np.int64)

    @property
    def epochs(self) -> dict[str, float]:
        """How many times over each domain has been served (by tokens)."""
        return dict(zip(self.domains, (self.served_tokens / self._n_tokens).tolist()))

    # -- the stream ----------------------------------------------------------------------

    def _permutation(self, d: int, epoch: int) -> np.ndarray:
        cached = self._perm_cache.get(d)
        if cached is None or cached[0] != epoch:
            salt = [self._reseeded[d]] if d in self._reseeded else []  # a restarted stream's (module doc)
            rng = np.random.default_rng([self.seed, self._keys[d], *salt, epoch])
            perm = rng.permutation(self._splits[d].n_docs)
            cached = (epoch, perm, np.cumsum(self._splits[d].doc_lengths[perm]))
            self._perm_cache[d] = cached
        return cached[1]

    def _epoch_ends(self, d: int, epoch: int) -> np.ndarray:
        """Cumulative end offsets of the documents of ``epoch``, in stream order."""
        self._permutation(d, epoch)
        return self._perm_cache[d][2]

    def _doc_views(self, d: int, docs: np.ndarray) -> list[memoryview]:
        """Documents ``docs`` of unpaced domain ``d`` (each with its EOS) as memoryviews of the
        token memmap, in that order: picked by fancy indexing from a per-domain object array of
        every document's view (about 10 ns a document, against 45 for a Python-level pick), or
        made here for domains of more than ``_VIEW_CACHE_DOCS`` documents."""
        views = self._views.get(d)
        if views is None:
            split = self._splits[d]
            mv = memoryview(split.tokens)
            index = split.index
            if split.n_docs > _VIEW_CACHE_DOCS:
                return list(map(mv.__getitem__, map(slice, index[docs].tolist(), index[docs + 1].tolist())))
            # fromiter, not np.array: that would read equal-length views as rows of a 2-D array.
            views = self._views[d] = np.fromiter(
                map(mv.__getitem__, map(slice, index[:-1].tolist(), index[1:].tolist())),
                dtype=object, count=split.n_docs)
        return views[docs].tolist()

    def _lay_out(self, d: int, pos: int, need: int) -> np.ndarray:
        """Tokens ``pos .. pos + max(need, ahead)`` (at least) of unpaced domain ``d``, where
        ``ahead`` is ``_AHEAD_TOKENS`` or one epoch of a smaller domain.

        One ``bytes.join`` over per-document memoryviews, so the per-document work runs in C.
        Measured faster than a Python loop of numpy slices and than one vectorised gather
        (``np.repeat`` of the offsets, then fancy indexing) at every document length tried,
        130 to 3,400 tokens (figures in docs/architecture.md).
        """
        split = self._splits[d]
        epoch, within = divmod(pos, split.n_tokens)
        # Stream offset (in ``epoch``) to lay out up to.
        end = within + max(need, min(_AHEAD_TOKENS, split.n_tokens))
        pieces: list[memoryview] = []
        while end > 0:
            perm, ends = self._permutation(d, epoch), self._epoch_ends(d, epoch)
            k = int(np.searchsorted(ends, within, side="right"))  # the document holding ``within``
            # Enough documents of this epoch to reach ``end`` (all of them if it lies beyond).
            stop = min(len(perm), int(np.searchsorted(ends, end, side="left")) + 1)
            first = len(pieces)
            pieces += self._doc_views(d, perm[k:stop])
            skip = within - (int(ends[k - 1]) if k else 0)
            if skip:  # the first document starts mid-way
                pieces[first] = pieces[first][skip:]
            within = 0
            end -= split.n_tokens
            epoch += 1
        return np.frombuffer(b"".join(pieces), dtype=split.dtype)

    def _stream(self, d: int, n_tokens: int) -> np.ndarray:
        """The next ``n_tokens`` of unpaced domain ``d`` (a view of the read-ahead buffer)."""
        pos = self._pos[d]
        start, buf = self._ahead.get(d, (0, None))
        if buf is None or pos < start or pos + n_tokens > start + len(buf):
            start, buf = pos, self._lay_out(d, pos, n_tokens)
            self._ahead[d] = (start, buf)
        self._pos[d] = pos + n_tokens
        return buf[pos - start : pos - start + n_tokens]

    def _uniform(self, d: int, draw: int) -> float:
        block = draw // _UNIFORM_BLOCK
        cached = self._uniform_cache.get(d)
        if cached is None or cached[0] != block:
            salt = [self._reseeded[d]] if d in self._reseeded else []
            rng = np.random.default_rng([self.seed, self._keys[d], *salt, 1 << 40, block])
            cached = (block, rng.random(_UNIFORM_BLOCK))
            self._uniform_cache[d] = cached
        return float(cached[1][draw % _UNIFORM_BLOCK])

    def _draw_cdf(self, d: int) -> np.ndarray | None:
        """The cumulative draw probabilities of unpaced domain ``d`` in document order (its
        priorities', else its weight_by table); None: uniform draws."""
        cdf = self._priority_cdf.get(d)
        if cdf is None and d not in self._pacing:
            cdf = self._weight_cdf.get(d)
        return cdf

    def _choose(self, d: int, draw: int, step: int) -> int:
        """Drawn domain ``d``'s next document: by pacing (weighted by weight_by among the
        available documents, if set), by priority or weight_by, or uniformly."""
        u = self._uniform(d, draw)
        pacing = self._pacing.get(d)
        if pacing is not None:
            clock = step if self._pacing_from is None else step - self._pacing_from
            n = pacing.available(clock)
            cum = self._weight_cdf.get(d)
            if cum is not None and cum[n - 1] > 0:  # 0: every available weight underflowed; uniform
                return int(pacing.order[min(int(np.searchsorted(cum, u * cum[n - 1], side="right")), n - 1)])
            return int(pacing.order[int(u * n)])
        cdf = self._draw_cdf(d)
        if cdf is None:
            return int(u * self._splits[d].n_docs)
        return min(int(np.searchsorted(cdf, u, side="right")), len(cdf) - 1)

    def _uniforms(self, d: int, first: int, k: int) -> np.ndarray:
        """The uniform numbers of draws ``first .. first + k - 1`` of domain ``d`` (those
        :meth:`_uniform` gives one at a time)."""
        out = []
        draw, end = first, first + k
        while draw < end:
            self._uniform(d, draw)  # fills the cache with draw's block
            block = self._uniform_cache[d][1]
            i = draw % _UNIFORM_BLOCK
            take = min(end - draw, _UNIFORM_BLOCK - i)
            out.append(block[i : i + take])
            draw += take
        return np.concatenate(out) if len(out) > 1 else out[0]

    def _weighted_stream(self, d: int, n_tokens: int) -> np.ndarray:
        """The next ``n_tokens`` of unpaced weight_by domain ``d``: what :meth:`_drawn_rows`
        would give (the same documents, state and serve counts, bit for bit), with documents
        drawn a batch at a time by one ``searchsorted`` and laid out by one ``bytes.join`` of
        their memoryviews, as the stream does."""
        split = self._splits[d]
        index = split.index
        cdf = self._weight_cdf[d]
        serves = self._drawn_serves[d]
        draws, doc, offset = self._drawn_state[d]
        parts: list[memoryview] = []
        got = 0
        if doc >= 0:  # the rest of the current document first
            start, end = int(index[doc]) + offset, int(index[doc + 1])
            take = min(end - start, n_tokens)
            parts.append(memoryview(split.tokens)[start : start + take])
            got, offset = take, offset + take
            if start + take == end:
                doc = -1
        mean = self._weighted_mean_len[d]
        while got < n_tokens:
            need = n_tokens - got
            k = int(need / mean * 1.25) + 2  # enough documents, most of the time
            # cdf[-1] is exactly 1.0 (x / x) and u < 1, so no index runs past the last document.
            ids = np.searchsorted(cdf, self._uniforms(d, draws, k), side="right")
            lengths = split.doc_lengths[ids]
            ends = np.cumsum(lengths)
            m = min(k, int(np.searchsorted(ends, need, side="left")) + 1)  # documents used
            ids = ids[:m]
            views = self._doc_views(d, ids)
            total = int(ends[m - 1])
            last = int(lengths[m - 1])
            if total > need:  # the last one is cut: it stays current
                offset = last - (total - need)
                views[-1] = views[-1][:offset]
                doc = int(ids[-1])
            else:  # every one ends here (as in _drawn_rows: none current, the offset its length)
                offset, doc = last, -1
            parts += views
            np.add.at(serves, ids, 1)
            draws += m
            got += min(total, need)
        self._drawn_state[d] = [draws, doc, offset]
        return np.frombuffer(b"".join(parts), dtype=split.dtype)

    def _drawn_rows(self, d: int, n_rows: int, row_len: int, step: int) -> tuple[np.ndarray, list[tuple[int, int, int]]]:
        """``n_rows`` rows of drawn domain ``d``, document by document, and the pieces
        (flat start, flat end, document) they are made of."""
        split = self._splits[d]
        tokens, index = split.tokens, split.index
        serves = self._drawn_serves[d]
        draws, doc, offset = self._drawn_state[d]
        out = np.empty(n_rows * row_len, dtype=tokens.dtype)
        pieces = []
        pos = 0
        while pos < len(out):
            if doc < 0:
                doc = self._choose(d, draws, step)
                draws += 1
                offset = 0
                serves[doc] += 1
            start, end = int(index[doc]) + offset, int(index[doc + 1])
            take = min(end - start, len(out) - pos)
            out[pos : pos + take] = tokens[start : start + take]
            pieces.append((pos, pos + take, doc))
            pos += take
            offset += take
            if start + take == end:
                doc = -1
        self._drawn_state[d] = [draws, doc, offset]
        return out, pieces

    def next_batch(self) -> Batch:
        """This rank's rows of the next step, and advance the state."""
        step = self.step
        B, world, rank = self.config.batch_rows, self.world_size, self.rank
        L = self.seq_len_at(step)
        weights = self.weights_at(step)
        if len(weights) > _NUMPY_DOMAINS:  # the credit stays an array between steps
            credit = self._credit if isinstance(self._credit, np.ndarray) else np.asarray(self._credit, dtype=np.float64)
            rows_np, self._credit = _allocate_rows_np(credit, weights, B, L)
            nonzero = np.flatnonzero(rows_np)
            rows_per_domain = zip(nonzero.tolist(), rows_np[nonzero].tolist())
        else:
            rows_list, self._credit = _allocate_rows(self._credit, weights.tolist(), B, L)
            rows_per_domain = ((d, n) for d, n in enumerate(rows_list) if n)
        row_len = L + 1

        out = np.empty((B // world, row_len), dtype=np.int64)  # (b, L + 1)
        flat_out = out.reshape(-1)  # a view: this rank's rows end to end
        mine = np.zeros(len(self.domains), dtype=np.int64)  # this rank's rows per domain
        served = self._served
        drawn = self._drawn
        segments = [] if self._prioritized else None
        overlay_groups = []  # (domain, group, tokens) of this rank's overlay rows
        first = 0  # global index of the domain's first row
        lo = 0  # this rank's index of the domain's first row here
        flats = []  # one process: every domain's rows, copied into the batch at once below
        for d, n in rows_per_domain:
            k_ov = self._overlay_rows(d, n, row_len) if d in self._overlays else 0
            served[d] += n * row_len
            pieces = None
            if d in self._weighted_mean_len:  # weight_by without pacing: no Python loop per document
                flat = self._weighted_stream(d, (n - k_ov) * row_len)
            elif d in drawn:
                flat, pieces = self._drawn_rows(d, n - k_ov, row_len, step)
            else:
                flat = self._stream(d, (n - k_ov) * row_len)
            ov_start = -1
            if k_ov:  # the overlay's rows after the store's (their pieces index the store's rows only)
                ov_start = self._overlay_start(d)
                flat = np.concatenate([flat, self._overlay_stream(d, k_ov * row_len).astype(flat.dtype)])
            if world == 1:
                flats.append(flat)
                mine[d] = k = n
                skip = 0
            else:
                # This rank's rows among global rows first .. first + n - 1: g % world == rank.
                skip = (rank - first) % world
                rows = flat.reshape(n, row_len)[skip::world]
                mine[d] = k = len(rows)
                out[lo : lo + k] = rows
            if pieces is not None and d in self._prioritized:
                segments.extend(_row_segments(pieces, row_len, skip, world, lo, d))
            if k_ov:
                groups = self._ov_groups[d]
                groups.sync(self._overlays[d][0])
                if groups.grouped:
                    tokens = groups.rank_tokens(ov_start, k_ov, n, row_len, skip, world)
                    overlay_groups.extend((d, g, t) for g, t in tokens.items())
            lo += k
            first += n
        if flats:  # the one copy of these tokens: memmap dtype -> int64
            np.concatenate(flats, out=flat_out, casting="unsafe")

        self.step += 1
        self._repeat_slack -= B * row_len  # no domain gains more than the whole batch
        if self._repeat_slack < 0:
            self._check_repeats()
        domain_ids = np.repeat(self._domain_index, mine)  # (b,): domains in store order
        return Batch(step=step, tokens=torch.from_numpy(out), domain_ids=torch.from_numpy(domain_ids),
                     seq_len=L, weights=weights, segments=segments, overlay_groups=overlay_groups or None)

    def __getstate__(self) -> dict[str, Any]:
        # Memoryviews cannot be pickled; the per-document views are a cache, rebuilt on use.
        return {**self.__dict__, "_views": {}}

    def __iter__(self) -> Iterator[Batch]:
        while True:
            yield self.next_batch()

    def describe(self) -> str:
        w = self.weights_at(self.step)
        parts = ", ".join(f"{d} {x:.2f}" for d, x in zip(self.domains, w))
        return f"step {self.step}, seq_len {self.seq_len_at(self.step)}, weights: {parts}"
