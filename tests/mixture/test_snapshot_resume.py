"""The sampler resumed on another snapshot of the data: unchanged domains keep their exact
stream, a changed one starts afresh, added or removed domains are refused."""

import json

import numpy as np
import pytest

from curricle.errors import CurricleError
from curricle.mixture.config import MixtureConfig, PacingConfig, StaticConfig
from curricle.mixture.sampler import MixtureSampler
from curricle.store import TokenStore
from tests.conftest import write_store
from tests.mixture.test_sampler import unique_docs

A = {"a": unique_docs(1, 20, 7), "b": unique_docs(1001, 15, 11), "c": unique_docs(2001, 30, 3)}
#: ``b`` gained five documents; ``a`` and ``c`` are the same.
A2 = {**A, "b": unique_docs(1001, 20, 11)}


def cfg(**kw) -> MixtureConfig:
    return MixtureConfig(batch_rows=8, seq_len=6, schedule=StaticConfig(weights={"a": 0.5, "b": 0.3, "c": 0.2}), **kw)


def rows_of(batches, domain: int) -> list[list[int]]:
    return [row for b in batches for row, d in zip(b.tokens.tolist(), b.domain_ids.tolist()) if d == domain]


def resumed_on(store, state, config=None, seed=1):
    s = MixtureSampler(store, config or cfg(), seed=seed)
    s.load_state_dict(json.loads(json.dumps(state)))
    return s


def test_unchanged_domains_keep_their_stream_and_a_changed_one_starts_afresh(tmp_path):
    old, new = TokenStore(write_store(tmp_path / "old", A)), TokenStore(write_store(tmp_path / "new", A2))
    full = MixtureSampler(old, cfg(), seed=1)
    uninterrupted = [full.next_batch() for _ in range(30)]
    first = MixtureSampler(old, cfg(), seed=1)
    for _ in range(12):
        first.next_batch()
    state = first.state_dict()
    assert state["snapshot"]["id"] == old.snapshot_id
    assert state["snapshot"]["streams"]["b"][1] == 15

    s = resumed_on(new, state)
    assert s.snapshot_change == {"old": old.snapshot_id, "new": new.snapshot_id, "domains_changed": ["b"],
                                 "docs": {"b": {"old": 15, "new": 20}},
                                 "metadata": {"b": {"n_tokens": {"old": 11.0, "new": 11.0, "shift": 0.0}}}}
    rest = [s.next_batch() for _ in range(18)]
    for d in (0, 2):  # a and c: the very rows the uninterrupted run drew
        assert rows_of(rest, d) == rows_of(uninterrupted[12:], d)
    assert [b.weights.tolist() for b in rest] == [b.weights.tolist() for b in uninterrupted[12:]]
    assert s.served_tokens.tolist() == full.served_tokens.tolist()  # counts carry on
    # b: a fresh stream of the new documents from its start, seeded by (seed, domain, new snapshot).
    salt = int(new.snapshot_id[:16], 16)
    stream = [t for epoch in (0, 1, 2) for i in np.random.default_rng([1, s._keys[1], salt, epoch]).permutation(20)
              for t in A2["b"][i] + [0]]
    served = [t for row in rows_of(rest, 1) for t in row]
    assert served == stream[: len(served)]
    assert s.state_dict()["reseeded"] == {"b": salt}


def test_the_restarted_stream_resumes_exactly_on_the_new_snapshot(tmp_path):
    old, new = TokenStore(write_store(tmp_path / "old", A)), TokenStore(write_store(tmp_path / "new", A2))
    first = MixtureSampler(old, cfg(), seed=1)
    for _ in range(5):
        first.next_batch()
    moved = resumed_on(new, first.state_dict())
    full = [moved.next_batch() for _ in range(20)]
    again = resumed_on(new, first.state_dict())
    for _ in range(8):
        again.next_batch()
    later = resumed_on(new, again.state_dict())
    assert later.snapshot_change is None  # the same snapshot as its state's
    rest = [later.next_batch() for _ in range(12)]
    assert all(np.array_equal(x.tokens, y.tokens) for x, y in zip(full[8:], rest))


def test_the_same_snapshot_resumes_with_no_change(tmp_path):
    store = TokenStore(write_store(tmp_path / "old", A))
    first = MixtureSampler(store, cfg(), seed=1)
    first.next_batch()
    same = resumed_on(TokenStore(write_store(tmp_path / "copy", A)), first.state_dict())
    assert same.snapshot_change is None and "reseeded" not in same.state_dict()


def test_a_changed_paced_domain_restarts_its_draws(tmp_path):
    paced = cfg(pacing={"b": PacingConfig(column="n_tokens", steps=10, start=0.2)})
    old, new = TokenStore(write_store(tmp_path / "old", A)), TokenStore(write_store(tmp_path / "new", A2))
    first = MixtureSampler(old, paced, seed=1)
    for _ in range(6):
        first.next_batch()
    assert first.state_dict()["drawn"]["b"][0] > 0
    s = resumed_on(new, first.state_dict(), paced)
    assert s.state_dict()["drawn"] == {"b": [0, -1, 0]}
    assert s.exposure_state()["b"].tolist() == [0] * 20
    s.next_batch()  # draws from the new documents


def test_domains_added_or_removed_are_refused_naming_them(tmp_path):
    old = TokenStore(write_store(tmp_path / "old", A))
    first = MixtureSampler(old, cfg(), seed=1)
    first.next_batch()
    other = TokenStore(write_store(tmp_path / "new", {"a": A["a"], "b": A["b"], "d": A["c"]}))
    config = MixtureConfig(batch_rows=8, seq_len=6, schedule=StaticConfig(weights={"a": 0.5, "b": 0.5}))
    with pytest.raises(CurricleError) as err:
        resumed_on(other, first.state_dict(), config)
    assert "added: d; removed: c" in str(err.value) and "\n" not in str(err.value)


def test_the_change_says_how_the_new_documents_metadata_moved(tmp_path):
    # b's documents get longer: 11 tokens each before, 11 or 21 after (5 of 20)
    longer = {**A, "b": unique_docs(1001, 15, 11) + unique_docs(5001, 5, 21)}
    old, new = TokenStore(write_store(tmp_path / "old", A)), TokenStore(write_store(tmp_path / "new", longer))
    first = MixtureSampler(old, cfg(), seed=1)
    first.next_batch()
    s = resumed_on(new, first.state_dict())
    # old sd 0 (every document 11 tokens): the shift is the difference of the means, 2.5 tokens
    assert s.snapshot_change["metadata"] == {"b": {"n_tokens": {"old": 11.0, "new": 13.5, "shift": 2.5}}}
