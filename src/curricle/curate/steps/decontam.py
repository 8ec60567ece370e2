"""Decontamination: drop documents that contain a probe or evaluation item (n-gram overlap).

The reference set is, by default, the held-out items of every registered synthetic skill
generator (``curricle.synthetic.GENERATORS``: the items the skill probes score), plus every item
of the evaluation files given. Items and documents alike are brought to Unicode NFKC form,
case-folded, and split into words and single punctuation marks
(:data:`~curricle.curate.words.WORD_OR_PUNCT`), without other normalisation: ``31+79=110``,
``31 + 79 = 110`` and the full-width ``３１＋７９＝１１０`` are the same five tokens, ``café``
matches whether its accent is one code point (NFC) or a combining mark (NFD), and
``31+79=111`` is not a match.

- An item of at least ``n`` tokens (13 by default, GPT-3's choice) contributes its
  ``n``-grams that hold at least ``min_ngram_words`` words (7: a majority): a run of table
  rules or bullets (``- - - - ...``) is in countless documents and identifies no item. A
  document containing any of them is contaminated.
- Shorter items (most probe items: ``44+5=49``, ``reverse: liza -> azil``) have no 13-gram,
  so a document containing the *whole item* as a token sequence is contaminated; so is an item
  none of whose n-grams has enough words (a bracket-matching item is mostly brackets). Items
  shorter than ``min_item_tokens`` are ignored (too short to tell contamination from chance).

Written here rather than taken from datatrove: datatrove's ``NGramsDecontIndexer`` builds its
index only from lighteval tasks (an extra dependency that downloads the tasks), and its
filter normalises numbers to ``0`` (so every ``a+b=c`` item would match every other) and
skips items shorter than ``n``. The matcher here hashes each token once and checks every
n-gram length with a few vectorised numpy operations per length (binary search in a sorted
array of index hashes), not a Python loop per n-gram.

**After PII redaction.** The ``pii`` steps that come before this one rewrite an e-mail
address in a document to ``<EMAIL>`` (an IP address to ``<IP_ADDRESS>``, ...), so an item
holding one (``contact admin@example.org``) would no longer be found in it. The index therefore
holds each item both as given and as those steps redact it (each in turn, so with several
``pii`` steps every combination); the run passes them in (:func:`build_index`'s ``redact``).

Drop reason: ``contaminated``; the quarantine entry names the matching reference set
(``probe:<skill>`` or ``eval:<file>``) and the matched tokens.
"""

from __future__ import annotations

import glob
import gzip
import json
import logging
import os
import unicodedata
from pathlib import Path
from typing import Any, Iterable, Iterator

import numpy as np

from curricle import atomic
from curricle.curate.config import DecontamConfig, EvalFileConfig, PIIConfig
from curricle.curate.document import CurDoc, Drop
from curricle.curate.steps.base import CurationStep
from curricle.curate.steps.pii import build_rules
from curricle.curate.words import WORD_OR_PUNCT
from curricle.errors import CurricleError
from curricle.sources.config import SourceConfig
from curricle.sources.files import files_fingerprint
from curricle.synthetic import GENERATORS, make_generator

log = logging.getLogger(__name__)

#: The multiplier of the rolling n-gram hash (odd, so multiplication is invertible mod 2^64).
_P = np.uint64(0x9E3779B97F4A7C15)
INDEX_FILE = "decontam-index.npz"
#: How :func:`tokens_of` normalises text; in the run's fingerprint (:meth:`DecontamStep.prepare`),
#: so an output curated under another normalisation is curated again.
NORMALISATION = "NFKC, casefold"


def tokens_of(text: str) -> list[str]:
    """The tokens items and documents are compared by: ``text`` in NFKC form, case-folded, as
    words and single punctuation marks (so an NFD or full-width copy of an item still matches)."""
    return WORD_OR_PUNCT.findall(unicodedata.normalize("NFKC", text).casefold())


def token_hashes(tokens: list[str]) -> np.ndarray:
    """One 64-bit hash per token."""
    from xxhash import xxh64_intdigest

    return np.fromiter((xxh64_intdigest(t.encode("utf-8", "surrogatepass")) for t in tokens), dtype=np.uint64, count=len(tokens))


def rolling_hashes(th: np.ndarray, lengths: Iterable[int]) -> Iterator[tuple[int, np.ndarray]]:
    """``(L, hashes of every L-gram)`` for each wanted ``L``, ascending, from token hashes.

    ``h_L[i] = sum_j th[i+j] * P^(L-1-j) mod 2^64``, built from ``h_(L-1)`` in one vector step.
    """
    wanted = sorted(set(lengths))
    if not wanted or len(th) == 0:
        return
    h = th.copy()
    for L in range(1, wanted[-1] + 1):
        if L > 1:
            if len(h) < 2:
                return
            h = h[:-1] * _P + th[L - 1 :]
        if L in wanted:
            yield L, h


class ItemIndex:
    """Sorted hash arrays per n-gram length, each hash labelled with its reference set."""

    def __init__(self, by_length: dict[int, tuple[np.ndarray, np.ndarray]], labels: list[str],
                 stats: dict[str, Any]):
        self.by_length = by_length  # L -> (sorted hashes uint64, label ids int32)
        self.labels = labels
        self.stats = stats

    @classmethod
    def build(cls, sets: dict[str, Iterable[str]], n: int, min_item_tokens: int,
              min_ngram_words: int = 0) -> "ItemIndex":
        labels = sorted(sets)
        acc: dict[int, list[tuple[np.ndarray, int]]] = {}
        items = ignored = 0
        for label_id, label in enumerate(labels):
            for text in sets[label]:
                toks = tokens_of(text)
                if len(toks) < min_item_tokens:
                    ignored += 1
                    continue
                items += 1
                th = token_hashes(toks)
                if len(toks) > n:
                    (_, h), = rolling_hashes(th, [n])
                    if min_ngram_words:
                        is_word = np.fromiter((t[0].isalnum() or t[0] == "_" for t in toks), dtype=np.int64,
                                              count=len(toks))
                        h = h[np.convolve(is_word, np.ones(n, dtype=np.int64), mode="valid") >= min_ngram_words]
                    if len(h):
                        acc.setdefault(n, []).append((h, label_id))
                        continue
                # Shorter than n, or no n-gram with enough words (``close: [[{}]] -> ]]``): the whole item.
                (L, h), = rolling_hashes(th, [len(toks)])
                acc.setdefault(L, []).append((h, label_id))
        by_length = {}
        for L, parts in acc.items():
            hashes = np.concatenate([h for h, _ in parts])
            ids = np.concatenate([np.full(len(h), lid, dtype=np.int32) for h, lid in parts])
            order = np.argsort(hashes, kind="stable")
            by_length[L] = (hashes[order], ids[order])
        stats = {"items": items, "ignored_short_items": ignored,
                 "hashes": int(sum(len(v[0]) for v in by_length.values())),
                 "sets": {lab: 0 for lab in labels}}
        for lid, lab in enumerate(labels):
            stats["sets"][lab] = int(sum(int((v[1] == lid).sum()) for v in by_length.values()))
        return cls(by_length, labels, stats)

    def save(self, path: Path) -> None:
        arrays = {}
        for L, (h, ids) in self.by_length.items():
            arrays[f"h{L}"] = h
            arrays[f"l{L}"] = ids
        arrays["meta"] = np.frombuffer(json.dumps({"labels": self.labels, "stats": self.stats}).encode(), dtype=np.uint8)
        with atomic.file(path) as tmp, open(tmp, "wb") as f:  # a file object: savez adds no ".npz"
            np.savez(f, **arrays)

    @classmethod
    def load(cls, path: Path) -> "ItemIndex":
        with np.load(path) as z:
            meta = json.loads(z["meta"].tobytes())
            by_length = {int(k[1:]): (z[k], z[f"l{k[1:]}"]) for k in z.files if k.startswith("h")}
        return cls(by_length, meta["labels"], meta["stats"])

    def find(self, text: str) -> tuple[str, str, int] | None:
        """``(label, matched tokens, length)`` of the first reference n-gram in ``text``."""
        if not self.by_length:
            return None
        toks = tokens_of(text)
        for L, h in rolling_hashes(token_hashes(toks), self.by_length):
            ref, ids = self.by_length[L]
            pos = np.searchsorted(ref, h)
            pos[pos == len(ref)] = 0
            hit = np.flatnonzero(ref[pos] == h)
            if len(hit):
                i = int(hit[0])
                return self.labels[int(ids[pos[i]])], " ".join(toks[i : i + L]), L
        return None


def probe_items(config: DecontamConfig, sources: list[SourceConfig] | None = None) -> dict[str, list[str]]:
    """``probe:<skill>`` -> held-out item texts, for every registered skill (seed 0 with
    default parameters, plus each seed, parameters and ladder level a synthetic source in
    ``sources`` uses)."""
    variants: dict[str, list[tuple[int, dict, str | None]]] = {name: [(0, {}, None)] for name in GENERATORS}
    for src in sources or ():
        if getattr(src, "kind", None) != "synthetic":
            continue
        for level in src.levels or [None]:
            if (src.seed, src.params, level) not in variants[src.skill]:
                variants[src.skill].append((src.seed, dict(src.params), level))
    out: dict[str, list[str]] = {}
    for name, seeds in variants.items():
        texts: list[str] = []
        for seed, params, level in seeds:
            gen = make_generator(name, seed, level=level, **params)
            n = config.probe_items
            while True:
                try:
                    texts.extend(item.text for item in gen.items("heldout", n))
                    break
                except ValueError:  # a small item space (facts): take what it has
                    if n == 1:
                        break
                    n = max(1, n // 2)
        out[f"probe:{name}"] = texts
    return out


def _eval_paths(ef: EvalFileConfig, where: str) -> list[str]:
    pattern = os.path.expanduser(ef.path)
    files = sorted(glob.glob(pattern, recursive=True)) if set("*?[") & set(pattern) else [pattern]
    files = [f for f in files if os.path.isfile(f)]
    if not files:
        raise CurricleError(f"{where}.eval_files: no such file or directory: {ef.path}")
    return files


def eval_files_fingerprint(config: DecontamConfig, where: str = "curate.decontam") -> list[list[Any]]:
    """``[path, size, mtime_ns]`` of every evaluation file: changes when one does. ``where``:
    the step's config path, which errors name (``curate.pipeline.3``)."""
    return files_fingerprint([p for ef in config.eval_files for p in _eval_paths(ef, where)])


def eval_items(config: DecontamConfig, where: str = "curate.decontam") -> dict[str, list[str]]:
    """``eval:<file>`` -> item texts of each evaluation file (``where`` as for
    :func:`eval_files_fingerprint`)."""
    out: dict[str, list[str]] = {}
    for ef in config.eval_files:
        for path in _eval_paths(ef, where):
            items = list(_read_eval_file(path, ef.text_fields, where))
            if not items:  # a misspelled text field, or no line of JSON: nothing would be protected
                what = (f"no line has a string in text_fields {ef.text_fields}" if not path.endswith(".txt")
                        else "it has no non-empty line")
                raise CurricleError(f"{where}.eval_files: {path}: no evaluation items ({what})")
            out[f"eval:{path}"] = items
    return out


def _read_eval_file(path: str, fields: list[str], where: str) -> Iterator[str]:
    if path.endswith((".jsonl", ".jsonl.gz")):
        opener = gzip.open if path.endswith(".gz") else open
        with opener(path, "rt", encoding="utf-8", errors="replace") as f:
            for line in f:
                try:
                    record = json.loads(line)
                except ValueError:
                    continue
                if isinstance(record, dict):
                    for key in fields:
                        if isinstance(record.get(key), str):
                            yield record[key]
    elif path.endswith(".txt"):
        with open(path, encoding="utf-8", errors="replace") as f:
            yield from (line.strip() for line in f if line.strip())
    else:
        raise CurricleError(f"{where}.eval_files: {path}: expected .jsonl, .jsonl.gz or .txt")


def with_redactions(items: list[str], redact: list[PIIConfig]) -> list[str]:
    """``items``, then each one as the ``redact`` steps rewrite it where that differs: after
    each step, every text so far and its redaction (so a document that one of several ``pii``
    steps skipped, by its ``domains``, is covered too)."""
    out = list(items)
    for config in redact:
        rules = build_rules(config)
        seen = set(out)
        for text in list(out):
            for rule in rules:
                text, _ = rule.apply(text)
            if text not in seen:
                seen.add(text)
                out.append(text)
    return out


def build_index(config: DecontamConfig, sources: list[SourceConfig] | None = None,
                redact: Iterable[PIIConfig] = (), where: str = "curate.decontam") -> ItemIndex:
    """The index of the probe and evaluation items, each also as the ``redact`` configs (the
    enabled ``pii`` steps before this one, in order) rewrite it; ``where``: the step's config
    path, which errors name."""
    sets: dict[str, list[str]] = {}
    if config.probes:
        sets.update(probe_items(config, sources))
    sets.update(eval_items(config, where))
    redact = list(redact)
    if redact:
        sets = {label: with_redactions(texts, redact) for label, texts in sets.items()}
    return ItemIndex.build(sets, config.n, config.min_item_tokens, config.min_ngram_words)


class DecontamStep(CurationStep):
    config: DecontamConfig

    @classmethod
    def prepare(cls, config: DecontamConfig, where: str) -> Any:
        return {"normalisation": NORMALISATION}

    def setup(self) -> None:
        self._index = ItemIndex.load(Path(self.context.work_dir) / INDEX_FILE)

    def apply(self, doc: CurDoc) -> Drop | None:
        found = self._index.find(doc.text)
        if found is None:
            return None
        label, ngram, length = found
        return Drop("contaminated", {"matched": label, "ngram": ngram, "tokens": length})
