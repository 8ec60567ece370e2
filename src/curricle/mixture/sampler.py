"""The mixture sampler: packed, domain-pure rows from weights that may change every step.

How a step's global batch is built (identically on every rank):

1. ``w = weights(step)`` (the schedule's, or a controller's from :meth:`set_weights`) and the
   row length ``L = seq_len(step)``.
2. Rows per domain: each domain is owed ``credit + w * B * L`` tokens; it gets that many rows,
   rounded by largest remainder so the batch has exactly ``B`` rows, and the rounding error is
   carried as credit to the next step. So weights count tokens, and the realized proportions
   match them to within one row per domain over any stretch of the run.
3. The rows are put in a random order (seeded by ``(seed, step)``) and global row ``g`` goes to
   rank ``g % world_size``. Ranks are therefore disjoint, and the global order does not depend
   on the world size: resuming with another world size at the same global batch continues the
   very same stream.
4. Each domain is a stream of its documents, each followed by EOS, in a per-epoch random order
   (seeded by ``(seed, domain, epoch)``); with pacing, each next document is drawn from the
   easiest ones available at that step. A domain's rows take consecutive ``L + 1`` tokens of
   its stream (``L`` inputs plus the one extra label token), so a row never mixes domains.

The state is a few numbers per domain (see :meth:`state_dict`); every rank holds the same
state, and advances every domain's stream for all ``B`` rows but copies only its own rows.
"""

from __future__ import annotations

import logging
import zlib
from dataclasses import dataclass
from typing import Any, Iterator

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field

from curricle.errors import CurricleError
from curricle.mixture.pacing import DomainPacing, PacingConfig
from curricle.mixture.schedules import ScheduleSpec, StaticConfig, WeightSchedule, build_schedule
from curricle.mixture.seq_len import SeqLenSchedule, seq_len_at
from curricle.store import TokenStore

log = logging.getLogger(__name__)

STATE_VERSION = 1
_UNIFORM_BLOCK = 4096


class MixtureConfig(BaseModel):
    """What the model sees, step by step."""

    model_config = ConfigDict(extra="forbid")

    batch_rows: int = Field(16, ge=1)
    """Global batch: rows per optimizer step over all ranks (must divide by the world size)."""
    seq_len: int | SeqLenSchedule = 128
    """Tokens per row (model inputs), fixed or a schedule; each row carries one more token for
    the shifted labels."""
    schedule: ScheduleSpec = Field(default_factory=lambda: StaticConfig(temperature=1.0))
    """Domain weights over time (static / temperature / phases). Default: natural sizes."""
    pacing: dict[str, PacingConfig] = Field(default_factory=dict)
    """Difficulty pacing per domain name (domains not listed are not paced)."""
    max_epochs: float = Field(4.0, gt=0)
    """Warn when a domain has been served more than this many times its size."""

    def referenced_domains(self) -> set[str]:
        return self.schedule.referenced_domains() | set(self.pacing)


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

    @property
    def inputs(self) -> torch.Tensor:
        return self.tokens[:, :-1]

    @property
    def labels(self) -> torch.Tensor:
        return self.tokens[:, 1:]


def allocate_rows(credit: np.ndarray, weights: np.ndarray, batch_rows: int, seq_len: int) -> tuple[np.ndarray, np.ndarray]:
    """Rows per domain for one step, and the token credit carried to the next.

    ``credit`` is what each domain is owed (tokens) from rounding in earlier steps. Domains
    with zero weight get no rows and lose their credit.
    """
    active = weights > 0
    owed = np.where(active, credit + weights * batch_rows * seq_len, 0.0)
    want = owed / seq_len
    rows = np.floor(np.clip(want, 0, None)).astype(np.int64)
    frac = want - rows
    idx = np.arange(len(weights))
    while rows.sum() < batch_rows:
        # Largest remainder first; ties go to the lower domain index (stable order).
        cand = idx[active]
        best = cand[np.lexsort((cand, -frac[cand]))[0]]
        rows[best] += 1
        frac[best] -= 1.0
    while rows.sum() > batch_rows:
        cand = idx[rows > 0]
        worst = cand[np.lexsort((-cand, frac[cand]))[0]]
        rows[worst] -= 1
        frac[worst] += 1.0
    return rows, owed - rows * seq_len


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
            self.domains.index(name): DomainPacing(p, self._splits[self.domains.index(name)].column(p.column))
            for name, p in config.pacing.items()
        }
        self._keys = [_domain_key(d) for d in self.domains]
        self._perm_cache: dict[int, tuple[int, np.ndarray]] = {}
        self._uniform_cache: dict[int, tuple[int, np.ndarray]] = {}
        #: How many times each document has been started (telemetry, see exposure_state()).
        self.doc_serves = [np.zeros(s.n_docs, dtype=np.int32) for s in self._splits]
        self._reset_state()

    # -- state ---------------------------------------------------------------------------

    def _reset_state(self) -> None:
        n = len(self.domains)
        self.step = 0
        self._credit = np.zeros(n)
        # Per domain: [documents started, current document (-1: none), offset into it].
        self._streams = [[0, -1, 0] for _ in range(n)]
        self.served_tokens = np.zeros(n, dtype=np.int64)
        self._override: np.ndarray | None = None

    def state_dict(self) -> dict[str, Any]:
        """A small JSON-able dict: enough to continue the exact stream."""
        return {
            "version": STATE_VERSION,
            "seed": self.seed,
            "batch_rows": self.config.batch_rows,
            "domains": list(self.domains),
            "step": self.step,
            "credit": [float(c) for c in self._credit],
            "streams": [list(map(int, s)) for s in self._streams],
            "served_tokens": [int(t) for t in self.served_tokens],
            "weights_override": None if self._override is None else [float(w) for w in self._override],
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for key, mine in (("version", STATE_VERSION), ("seed", self.seed),
                          ("batch_rows", self.config.batch_rows), ("domains", self.domains)):
            if state.get(key) != mine:
                raise CurricleError(
                    f"sampler state: '{key}' is {state.get(key)!r} but this sampler has {mine!r}; "
                    f"a stream can only resume with the same seed, domains and global batch"
                )
        self.step = int(state["step"])
        self._credit = np.asarray(state["credit"], dtype=np.float64)
        self._streams = [list(map(int, s)) for s in state["streams"]]
        self.served_tokens = np.asarray(state["served_tokens"], dtype=np.int64)
        ov = state.get("weights_override")
        self._override = None if ov is None else np.asarray(ov, dtype=np.float64)

    def exposure_state(self) -> dict[str, np.ndarray]:
        """Per-document serve counts (not needed to resume the stream; kept for telemetry)."""
        return {d: c for d, c in zip(self.domains, self.doc_serves)}

    def load_exposure_state(self, arrays: dict[str, np.ndarray]) -> None:
        for i, d in enumerate(self.domains):
            if d in arrays and len(arrays[d]) == len(self.doc_serves[i]):
                self.doc_serves[i] = np.asarray(arrays[d], dtype=np.int32).copy()

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
        if not np.all(np.isfinite(w)) or np.any(w < 0) or w.sum() <= 0:
            raise CurricleError(f"set_weights: weights must be finite, >= 0 and not all zero, got {w.tolist()}")
        self._override = w / w.sum()

    def weights_at(self, step: int) -> np.ndarray:
        """The token weights used at ``step`` (the override if set, else the schedule's)."""
        return self._override if self._override is not None else self.schedule.weights(step)

    def seq_len_at(self, step: int) -> int:
        return seq_len_at(self.config.seq_len, step)

    @property
    def epochs(self) -> dict[str, float]:
        """How many times over each domain has been served (by tokens)."""
        return {d: float(t) / s.n_tokens for d, t, s in zip(self.domains, self.served_tokens, self._splits)}

    # -- the stream ----------------------------------------------------------------------

    def _permutation(self, d: int, epoch: int) -> np.ndarray:
        cached = self._perm_cache.get(d)
        if cached is None or cached[0] != epoch:
            rng = np.random.default_rng([self.seed, self._keys[d], epoch])
            cached = (epoch, rng.permutation(self._splits[d].n_docs))
            self._perm_cache[d] = cached
        return cached[1]

    def _uniform(self, d: int, draw: int) -> float:
        block = draw // _UNIFORM_BLOCK
        cached = self._uniform_cache.get(d)
        if cached is None or cached[0] != block:
            rng = np.random.default_rng([self.seed, self._keys[d], 1 << 40, block])
            cached = (block, rng.random(_UNIFORM_BLOCK))
            self._uniform_cache[d] = cached
        return float(cached[1][draw % _UNIFORM_BLOCK])

    def _next_doc(self, d: int, draw: int, step: int) -> int:
        pacing = self._pacing.get(d)
        if pacing is None:
            n = self._splits[d].n_docs
            return int(self._permutation(d, draw // n)[draw % n])
        k = pacing.available(step)
        return int(pacing.order[int(self._uniform(d, draw) * k)])

    def _take_rows(self, d: int, n_rows: int, row_len: int, step: int, dest: list[np.ndarray | None]) -> None:
        """Advance domain ``d`` by ``n_rows`` rows of ``row_len`` tokens; copy row j into
        ``dest[j]`` where it is not None (rows of other ranks are only skipped over)."""
        split = self._splits[d]
        tokens, index = split.tokens, split.index
        serves = self.doc_serves[d]
        draws, doc, offset = self._streams[d]
        for j in range(n_rows):
            out = dest[j]
            pos = 0
            while pos < row_len:
                if doc < 0:
                    doc = self._next_doc(d, draws, step)
                    draws += 1
                    offset = 0
                    serves[doc] += 1
                start = int(index[doc]) + offset
                end = int(index[doc + 1])
                take = min(end - start, row_len - pos)
                if out is not None:
                    out[pos : pos + take] = tokens[start : start + take]
                pos += take
                offset += take
                if start + take == end:
                    doc = -1
        self._streams[d] = [draws, doc, offset]

    def next_batch(self) -> Batch:
        """This rank's rows of the next step, and advance the state."""
        step = self.step
        B, world = self.config.batch_rows, self.world_size
        L = self.seq_len_at(step)
        weights = self.weights_at(step)
        rows_per_domain, self._credit = allocate_rows(self._credit, weights, B, L)

        order = np.repeat(np.arange(len(self.domains)), rows_per_domain)
        order = order[np.random.default_rng([self.seed, step, 0x5EED]).permutation(B)]  # (B,)
        mine = order[self.rank :: world]
        out = np.empty((B // world, L + 1), dtype=np.int64)  # (b, L + 1)
        for d in np.flatnonzero(rows_per_domain):
            # Global positions of this domain's rows, in stream order.
            positions = np.flatnonzero(order == d)
            dest = [out[g // world] if g % world == self.rank else None for g in positions]
            self._take_rows(int(d), len(positions), L + 1, step, dest)

        before = self.epochs
        self.served_tokens += rows_per_domain * (L + 1)
        self.step += 1
        for name, e in self.epochs.items():
            if before[name] <= self.config.max_epochs < e:
                log.warning(
                    "domain '%s' has now been served %.2f times over (mixture.max_epochs: %s); "
                    "its documents repeat", name, e, self.config.max_epochs,
                )
        return Batch(
            step=step,
            tokens=torch.from_numpy(out),
            domain_ids=torch.from_numpy(mine.astype(np.int64)),
            seq_len=L,
            weights=weights,
        )

    def __iter__(self) -> Iterator[Batch]:
        while True:
            yield self.next_batch()

    def describe(self) -> str:
        w = self.weights_at(self.step)
        parts = ", ".join(f"{d} {x:.2f}" for d, x in zip(self.domains, w))
        return f"step {self.step}, seq_len {self.seq_len_at(self.step)}, weights: {parts}"
