"""Literal documents as a drift side, for the sections' tests."""

from __future__ import annotations

import numpy as np

from curricle.drift.corpus import Corpus, DomainData, DomainDocs


def literal_corpus(domains: dict[str, list[list[int]]], prefix: str = "", vocab_size: int = 1000) -> Corpus:
    """A side holding exactly these documents (token ids), laid back to back with a separator
    (0) after each, as a store lays them; document ``i`` of domain ``d`` has id ``{prefix}{d}-{i}``."""
    out = {}
    for name, docs in domains.items():
        lengths = np.array([len(d) for d in docs], dtype=np.int64)
        index = np.concatenate([[0], np.cumsum(lengths + 1)]).astype(np.int64)
        tokens = np.concatenate([np.append(np.asarray(d, dtype=np.int64), 0) for d in docs]) if docs else \
            np.zeros(0, dtype=np.int64)
        data = DomainData(name, np.array([f"{prefix}{name}-{i}" for i in range(len(docs))], dtype=object),
                          tokens, index, lengths)
        out[name] = DomainDocs(data, np.arange(len(docs)))
    return Corpus(f"literal{prefix}", "store", out, vocab_size)


def random_docs(rng: np.random.Generator, n: int, vocab: int, offset: int = 1, length=(20, 60)) -> list[list[int]]:
    """``n`` documents of tokens uniform over ``offset .. offset + vocab - 1``."""
    return [[int(t) for t in rng.integers(offset, offset + vocab, size=int(rng.integers(*length)))] for _ in range(n)]
