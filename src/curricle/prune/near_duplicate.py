"""``--by near-duplicate``: keep one representative per MinHash near-duplicate cluster, with
curate's near-dedup (:mod:`curricle.curate.dedup`: the same signatures, LSH and decisions,
settings in ``near_duplicate``). Documents are decoded with the store's tokenizer and visited
in store order; one whose LSH candidates include an already kept document is a duplicate (its
cluster's representative is the first of it in store order).

What ``--keep`` means here: with ``n`` documents, ``R`` representatives and
``k = floor(keep * n + 0.5)`` to keep,

- ``k >= R``: ``n - k`` duplicates are removed (reason ``near-duplicate``, score the estimated
  Jaccard similarity to the kept document), chosen at random from the seeded generator when
  there are more duplicates than that; every representative stays;
- ``k < R``: every duplicate is removed, then ``R - k`` representatives at random (reason
  ``random``, no score).

Group floors (``groups``) can keep some of these; the next removals are the other duplicates,
then the other representatives, each in a seeded random order.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from curricle.curate.config import ExactDedupConfig, LineDedupConfig
from curricle.curate.dedup import DedupPlan, Signer, decide, signature_schema
from curricle.curate.steps.base import DomainRoles
from curricle.errors import CurricleError
from curricle.extras import require
from curricle.prune.base import PruneMetric, Removal, domain_rng
from curricle.store import DomainSplit


class NearDuplicateMetric(PruneMetric):
    name = "near-duplicate"

    def __init__(self, config, store, progress=None):
        super().__init__(config, store, progress)
        for module in ("datasketch", "xxhash"):  # curate's near-dedup needs them
            require(module, "curricle prune --by near-duplicate")
        if not store.tokenizer_dir.is_dir():
            raise CurricleError(f"--by near-duplicate: the store at {store.data_dir} has no tokenizer "
                                f"({store.tokenizer_dir.name}) to read its documents' text with")
        self.tokenizer = store.load_tokenizer()

    def duplicates(self, domain: str, split: DomainSplit) -> dict[int, float]:
        """Index -> estimated Jaccard similarity to its kept representative, for every
        near-duplicate of the domain's training documents."""
        cfg = self.config.near_duplicate.model_copy(update={"enabled": True, "domains": None})
        plan = DedupPlan(ExactDedupConfig(enabled=False), cfg, LineDedupConfig(enabled=False), DomainRoles())
        signer = Signer(plan)
        task = self.progress.add_task(f"signing [{domain}]", total=split.n_docs) if self.progress else None
        signatures = []
        for i in range(split.n_docs):
            signatures.append(signer.minhash(self.tokenizer.decode(split.document(i).tolist())))
            if task is not None:
                self.progress.advance(task)
        if task is not None:
            self.progress.remove_task(task)
        n = split.n_docs
        table = pa.table({
            "idx": pa.array(range(n), pa.int32()), "id": pa.array([str(i) for i in range(n)], pa.string()),
            "domain": pa.array([domain] * n, pa.string()), "doc_hash": pa.array([None] * n, pa.binary(16)),
            "minhash": pa.array([None if s is None else s.tolist() for s in signatures],
                                pa.list_(pa.uint32(), cfg.num_perm)),
            "line_idx": pa.array([None] * n, pa.list_(pa.int32())),
            "line_hash": pa.array([None] * n, pa.list_(pa.uint64())),
        }, schema=signature_schema(cfg.num_perm))
        return {d.idx: float(d.detail["jaccard_estimate"]) for d in decide([table], plan)[0]}

    def unscored(self, domain: str, split: DomainSplit) -> int:
        return 0

    def candidates(self, domain: str, split: DomainSplit, n_keep: int) -> list[Removal]:
        dups = self.duplicates(domain, split)
        n_remove = split.n_docs - n_keep
        rng = domain_rng(self.config.seed, domain)
        dup_idx = np.array(sorted(dups), dtype=np.int64)
        reps = np.setdiff1d(np.arange(split.n_docs), dup_idx)
        if n_remove <= len(dup_idx):
            chosen = np.sort(rng.choice(dup_idx, size=n_remove, replace=False)) if n_remove < len(dup_idx) else dup_idx
            extra = np.zeros(0, dtype=np.int64)
        else:
            chosen = dup_idx
            extra = np.sort(rng.choice(reps, size=n_remove - len(dup_idx), replace=False))
        # Past the removals (what group floors may reach): the other duplicates, then the other
        # representatives, each in an order the same generator draws after the removals'.
        later_dups = rng.permutation(np.setdiff1d(dup_idx, chosen))
        later_reps = rng.permutation(np.setdiff1d(reps, extra))
        return ([Removal(int(i), "near-duplicate", dups[int(i)]) for i in (*chosen, *later_dups)]
                + [Removal(int(i), "random", None) for i in (*extra, *later_reps)])
