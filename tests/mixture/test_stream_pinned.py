"""The exact token stream for fixed seeds, pinned by hash.

The hashes were computed with the sampler as it was before its read-ahead layout was rewritten
for speed (a Python loop of per-document slices then, one ``bytes.join`` of per-document
memoryviews now). Any change to how the stream is produced that changes a single token, row
order or domain id fails here; a deliberate change of the stream must update the hashes and
say why.
"""

import hashlib
import json
import pickle

import numpy as np
import pytest

import curricle.mixture.sampler as sampler_mod
from curricle.mixture.config import MixtureConfig, PacingConfig, StaticConfig
from curricle.mixture.sampler import MixtureSampler
from curricle.store import TokenStore


def ragged_docs(seed: int, n_docs: int, lo: int, hi: int, vocab: int) -> list[list[int]]:
    """Documents of random lengths in [lo, hi) with random non-EOS tokens."""
    rng = np.random.default_rng(seed)
    return [rng.integers(1, vocab, size=int(rng.integers(lo, hi))).tolist() for _ in range(n_docs)]


@pytest.fixture
def store5(make_store):
    return TokenStore(make_store({
        "code": ragged_docs(1, 40, 50, 900, 1000),    # long documents: rows inside one document
        "prose": ragged_docs(2, 60, 5, 120, 1000),
        "short": ragged_docs(3, 200, 1, 6, 1000),     # many documents per row, one-token docs
        "one": [[7, 8, 9]],                            # a single document: every row wraps epochs
        "paced": ragged_docs(4, 50, 3, 40, 1000),
    }))


def stream_hash(sampler: MixtureSampler, steps: int, weights: np.random.Generator | None = None) -> str:
    """Hash of the next ``steps`` batches (tokens, domain ids, seq_len); with ``weights``, new
    random weights are set before every step."""
    h = hashlib.sha256()
    for _ in range(steps):
        if weights is not None:
            sampler.set_weights(weights.dirichlet(np.full(len(sampler.domains), 0.7)))
        b = sampler.next_batch()
        h.update(np.ascontiguousarray(b.tokens.numpy()).tobytes())
        h.update(np.ascontiguousarray(b.domain_ids.numpy()).tobytes())
        h.update(str(b.seq_len).encode())
    return h.hexdigest()[:16]


def config(**kw) -> MixtureConfig:
    base = dict(batch_rows=12, max_epochs=1e9, seq_len={"points": [[0, 16], [30, 96]], "multiple_of": 4},
                schedule=StaticConfig(weights={"code": 0.4, "prose": 0.25, "short": 0.2, "one": 0.05,
                                               "paced": 0.1}),
                pacing={"paced": PacingConfig(column="n_tokens", steps=20, start=0.3)})
    base.update(kw)
    return MixtureConfig(**base)


PINNED = {
    # (weights change every step, world size, rank): hash of the first 60 steps
    (False, 1, 0): "b78a99bff8bcacfe",
    (True, 1, 0): "76491a6b478d3401",
    (True, 3, 2): "6dbc8628519002df",
}


@pytest.mark.parametrize(("ahead", "view_cache"), [(None, True), (1, True), (37, True), (4096, True),
                                                  (None, False), (37, False)])
@pytest.mark.parametrize("key", sorted(PINNED))
def test_stream_is_pinned(store5, monkeypatch, key, ahead, view_cache):
    # The read-ahead size and the per-document view cache are cache settings: the stream must
    # not depend on them.
    if ahead is not None:
        monkeypatch.setattr(sampler_mod, "_AHEAD_TOKENS", ahead)
    if not view_cache:
        monkeypatch.setattr(sampler_mod, "_VIEW_CACHE_DOCS", 0)
    walk, world, rank = key
    s = MixtureSampler(store5, config(), seed=11, rank=rank, world_size=world)
    assert stream_hash(s, 60, np.random.default_rng(5) if walk else None) == PINNED[key]


def test_resumed_stream_is_pinned(store5):
    """Stopped after 23 steps and resumed in a new sampler: the next 37 steps are those of the
    pinned uninterrupted stream."""
    walk = np.random.default_rng(5)
    first = MixtureSampler(store5, config(), seed=11)
    head = stream_hash(first, 23, walk)
    resumed = MixtureSampler(store5, config(), seed=11)
    resumed.load_state_dict(json.loads(json.dumps(first.state_dict())))
    tail = stream_hash(resumed, 37, walk)
    assert (head, tail) == ("1090ee5b5608441d", "dd8bb53355c9894f")


def test_pickled_sampler_continues_the_pinned_stream(store5):
    walk = np.random.default_rng(5)
    first = MixtureSampler(store5, config(), seed=11)
    stream_hash(first, 23, walk)
    copy = pickle.loads(pickle.dumps(first))
    assert stream_hash(copy, 37, walk) == "dd8bb53355c9894f"
