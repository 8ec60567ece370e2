"""Deduplication: exact documents, repeated lines, and near-duplicates (MinHash LSH).

Unlike the per-document steps, a duplicate is only known against the whole corpus, so each
kind works in three phases that map onto the pipeline's stages:

1. *sign* (stage ``filter``, in parallel per shard): :class:`Signer` turns each surviving
   document into its exact hash, the hashes of its lines, and its MinHash signature;
2. *decide* (stage ``dedup``, one task): :func:`decide` reads every shard's signatures in the
   corpus order (sources in config order, shards, documents) and decides, per document, drop
   or keep, and which lines to remove;
3. *apply* (stage ``write``, in parallel per shard): the decisions are applied and counted.

The decisions, in order:

- ``exact-dedup``: a document whose text is identical to an earlier one's is dropped
  (reason ``duplicate``; the quarantine names the kept copy).
- ``near-dedup``: MinHash LSH (datasketch's ``MinHash`` and ``MinHashLSH``) over word
  ``shingle_size``-grams, ``bands`` x ``rows`` permutations. Documents are visited in corpus
  order; one whose LSH candidates include an already *kept* document is dropped as its
  near-duplicate (reason ``near-duplicate``), otherwise it is kept and indexed. Only kept
  documents enter the index, so every kept pair is below the LSH threshold and every drop
  names a kept document (no chains through dropped ones). Defaults: 5-word shingles, 14 bands
  of 8 rows, the FineWeb / datatrove parameters (threshold about (1/14)^(1/8) = 0.72 Jaccard).
  ``min_jaccard`` optionally verifies each candidate's estimated Jaccard similarity. Prose and
  code domains only by default: a synthetic skill's documents are distinct by construction,
  and their words alone (``close: [( -> )]`` is one word) would make them all look alike.
- ``line-dedup``: a line (stripped, at least ``min_line_chars`` long) that already appeared in
  an earlier kept document is removed (CCNet-style paragraph deduplication); the document is
  rewritten, or dropped (reason ``all-lines-repeated``) when nothing is left. Prose domains
  only by default: repeated lines are the grammar of code and of synthetic skill documents.

Memory: the decide stage holds every signature (4 * bands * rows bytes a document, 448 B by
default) and every line hash (12 B a line) in one process: about 1 GB per million documents.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa

from curricle.curate.config import ExactDedupConfig, LineDedupConfig, NearDedupConfig
from curricle.curate.document import CurDoc
from curricle.curate.steps.base import DomainRoles
from curricle.curate.words import WORD

EXACT, NEAR, LINES = "exact-dedup", "near-dedup", "line-dedup"


@dataclass
class DedupPlan:
    """The three dedup configs and the domains' roles: which kinds apply to which domain."""

    exact: ExactDedupConfig
    near: NearDedupConfig
    lines: LineDedupConfig
    roles: DomainRoles

    def steps_for(self, domain: str) -> list[str]:
        """The dedup steps a document of ``domain`` goes through, in order."""
        out = []
        if self.roles.applies(self.exact, "all", domain):
            out.append(EXACT)
        if self.roles.applies(self.near, "text", domain):
            out.append(NEAR)
        if self.roles.applies(self.lines, "prose", domain):
            out.append(LINES)
        return out


class MinHasher:
    """The MinHash signature of a text under a :class:`NearDedupConfig`: its lower-cased words
    in ``shingle_size``-word shingles, ``bands * rows`` permutations (datasketch's ``MinHash``,
    affine32 scheme, xxh32). The near-dedup step signs with it, and ``curricle mine`` clusters
    documents by the LSH bands of the same signatures. Picklable; datasketch is imported on the
    first call."""

    def __init__(self, config: NearDedupConfig):
        self.config = config
        self._proto: Any = None

    def __call__(self, text: str) -> np.ndarray | None:
        """The signature (``num_perm`` hash values), or None for a text without words."""
        from datasketch import MinHash
        from xxhash import xxh32_intdigest

        cfg = self.config
        if self._proto is None:
            self._proto = MinHash(num_perm=cfg.num_perm, seed=cfg.seed, hashfunc=xxh32_intdigest)
        words = WORD.findall(text.lower())
        if not words:
            return None
        k = cfg.shingle_size
        shingles = [" ".join(words[i : i + k]).encode() for i in range(max(1, len(words) - k + 1))]
        m = MinHash(num_perm=cfg.num_perm, seed=cfg.seed, hashfunc=xxh32_intdigest,
                    permutations=self._proto.permutations, scheme="affine32")
        m.update_batch(shingles)
        return m.hashvalues


class Signer:
    """Phase 1: what the decide stage needs to know about one document."""

    def __init__(self, plan: DedupPlan):
        self.plan = plan
        self.minhash = MinHasher(plan.near)
        """The near-dedup MinHash signature of a text (None: no words); ``curricle prune --by
        near-duplicate`` signs store documents with it too."""

    def sign(self, doc: CurDoc) -> dict[str, Any]:
        from xxhash import xxh3_64_intdigest, xxh3_128_digest

        steps = self.plan.steps_for(doc.domain)
        out: dict[str, Any] = {"doc_hash": None, "minhash": None, "line_idx": None, "line_hash": None}
        if EXACT in steps:
            out["doc_hash"] = xxh3_128_digest(doc.text.encode("utf-8", "surrogatepass"))
        if NEAR in steps:
            out["minhash"] = self.minhash(doc.text)
        if LINES in steps:
            min_chars = self.plan.lines.min_line_chars
            idx, hashes = [], []
            for i, line in enumerate(doc.text.split("\n")):
                s = line.strip()
                if len(s) >= min_chars:
                    idx.append(i)
                    hashes.append(xxh3_64_intdigest(s.encode("utf-8", "surrogatepass")))
            out["line_idx"] = idx
            out["line_hash"] = hashes
        return out


def signature_schema(num_perm: int):
    return pa.schema([
        ("idx", pa.int32()),
        ("id", pa.string()),
        ("domain", pa.string()),
        ("doc_hash", pa.binary(16)),
        ("minhash", pa.list_(pa.uint32(), num_perm)),
        ("line_idx", pa.list_(pa.int32())),
        ("line_hash", pa.list_(pa.uint64())),
    ])


@dataclass
class Decision:
    """What the decide stage says about one document of a shard."""

    idx: int
    step: str
    """``exact-dedup`` / ``near-dedup`` (a drop) or ``line-dedup`` (lines removed)."""
    detail: dict[str, Any]
    lines: list[int] | None = None


def decision_schema():
    return pa.schema([("idx", pa.int32()), ("step", pa.string()), ("detail", pa.string()),
                      ("lines", pa.list_(pa.int32()))])


def decisions_table(decisions: list[Decision]):
    return pa.table({
        "idx": pa.array([d.idx for d in decisions], pa.int32()),
        "step": pa.array([d.step for d in decisions], pa.string()),
        "detail": pa.array([json.dumps(d.detail) for d in decisions], pa.string()),
        "lines": pa.array([d.lines for d in decisions], pa.list_(pa.int32())),
    }, schema=decision_schema())


def read_decisions(table) -> dict[int, Decision]:
    out = {}
    for idx, step, detail, lines in zip(*(table.column(c).to_pylist() for c in ("idx", "step", "detail", "lines"))):
        out[idx] = Decision(idx, step, json.loads(detail), lines)
    return out


def decide(tables: list[Any], plan: DedupPlan) -> list[list[Decision]]:
    """Phase 2: per shard (in the order of ``tables``), the decisions on its documents."""
    from datasketch import LeanMinHash, MinHashLSH

    out: list[list[Decision]] = [[] for _ in tables]
    dropped: set[tuple[int, int]] = set()

    # Exact: the first copy of each text is kept.
    seen: dict[bytes, str] = {}
    for r, t in enumerate(tables):
        for idx, doc_id, h in zip(*(t.column(c).to_pylist() for c in ("idx", "id", "doc_hash"))):
            if h is None:
                continue
            first = seen.get(h)
            if first is None:
                seen[h] = doc_id
            else:
                out[r].append(Decision(idx, EXACT, {"duplicate_of": first}))
                dropped.add((r, idx))
    del seen

    # Near: only kept documents are indexed; a document with a kept candidate is dropped.
    cfg = plan.near
    if cfg.enabled:
        lsh = MinHashLSH(num_perm=cfg.num_perm, params=(cfg.bands, cfg.rows))
        kept_ids: list[str] = []
        kept_sigs: list[np.ndarray] = []
        for r, t in enumerate(tables):
            col = t.column("minhash")
            if col.null_count == len(col):
                continue
            ids = t.column("id").to_pylist()
            idxs = t.column("idx").to_pylist()
            arr = col.combine_chunks()
            valid = arr.is_valid().to_numpy(zero_copy_only=False)
            # flatten() leaves null rows out: row k's values start at (valid rows before k) * num_perm.
            flat = arr.flatten().to_numpy(zero_copy_only=False)
            starts = np.cumsum(valid) - valid
            for row in np.flatnonzero(valid):
                idx = idxs[row]
                if (r, idx) in dropped:
                    continue
                sig = flat[starts[row] * cfg.num_perm : (starts[row] + 1) * cfg.num_perm]
                lean = LeanMinHash(seed=cfg.seed, hashvalues=sig, scheme="affine32")
                best = None
                for key in sorted(lsh.query(lean)):
                    est = float(np.mean(kept_sigs[key] == sig))
                    if cfg.min_jaccard is None or est >= cfg.min_jaccard:
                        best = (key, est)
                        break
                if best is None:
                    lsh.insert(len(kept_ids), lean, check_duplication=False)
                    kept_ids.append(ids[row])
                    kept_sigs.append(sig)
                else:
                    out[r].append(Decision(idx, NEAR, {"duplicate_of": kept_ids[best[0]],
                                                      "jaccard_estimate": round(best[1], 3)}))
                    dropped.add((r, idx))

    # Lines: a line already seen in an earlier kept document is removed.
    if plan.lines.enabled:
        hashes, owners, line_no = [], [], []
        doc_keys: list[tuple[int, int]] = []
        for r, t in enumerate(tables):
            col_h = t.column("line_hash").to_pylist()
            col_i = t.column("line_idx").to_pylist()
            for idx, hs, ls in zip(t.column("idx").to_pylist(), col_h, col_i):
                if not hs or (r, idx) in dropped:
                    continue
                owner = len(doc_keys)
                doc_keys.append((r, idx))
                hashes.append(np.asarray(hs, dtype=np.uint64))
                owners.append(np.full(len(hs), owner, dtype=np.int64))
                line_no.append(np.asarray(ls, dtype=np.int32))
        if hashes:
            h = np.concatenate(hashes)
            own = np.concatenate(owners)
            lno = np.concatenate(line_no)
            _, first, inverse = np.unique(h, return_index=True, return_inverse=True)
            # First seen in another, earlier, document. Owners ascend along the arrays, so
            # each document's removed lines are one contiguous run of ``pos``.
            pos = np.flatnonzero(own[first][inverse.reshape(-1)] != own)
            if len(pos):
                owners_hit, starts = np.unique(own[pos], return_index=True)
                ends = np.append(starts[1:], len(pos))
                for owner, s, e in zip(owners_hit.tolist(), starts.tolist(), ends.tolist()):
                    r, idx = doc_keys[owner]
                    lines = sorted(lno[pos[s:e]].tolist())
                    out[r].append(Decision(idx, LINES, {"lines_removed": len(lines)}, lines=lines))
    for decisions in out:
        decisions.sort(key=lambda d: (d.idx, d.step))
    return out
