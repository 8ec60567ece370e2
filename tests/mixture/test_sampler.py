import json
import logging

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from curricle.errors import CurricleError
from curricle.mixture.config import MixtureConfig, PacingConfig, PhasesConfig, StaticConfig
from curricle.mixture.sampler import MixtureSampler, allocate_rows
from curricle.store import TokenStore


def unique_docs(start: int, n_docs: int, length: int) -> list[list[int]]:
    """Documents whose tokens are unique across the store (so a token names its position)."""
    return [list(range(start + i * length, start + (i + 1) * length)) for i in range(n_docs)]


@pytest.fixture
def store3(make_store):
    return TokenStore(make_store({
        "a": unique_docs(1, 20, 7),
        "b": unique_docs(1001, 15, 11),
        "c": unique_docs(2001, 30, 3),
    }))


def cfg(**kw) -> MixtureConfig:
    base = dict(batch_rows=8, seq_len=6, schedule=StaticConfig(weights={"a": 0.5, "b": 0.3, "c": 0.2}))
    base.update(kw)
    return MixtureConfig(**base)


def draw(sampler: MixtureSampler, steps: int):
    return [sampler.next_batch() for _ in range(steps)]


def same(b1, b2) -> bool:
    return b1.step == b2.step and np.array_equal(b1.tokens, b2.tokens) and np.array_equal(b1.domain_ids, b2.domain_ids)


def test_single_document_rows_are_consecutive_chunks_of_the_stream(make_store):
    store = TokenStore(make_store({"a": [[1, 2, 3, 4, 5, 6, 7, 8, 9]]}))
    s = MixtureSampler(store, MixtureConfig(batch_rows=2, seq_len=4, schedule=StaticConfig(weights={"a": 1})))
    b0, b1 = s.next_batch(), s.next_batch()
    # Each row holds seq_len + 1 tokens; the document is followed by EOS (0) and repeats.
    assert b0.tokens.tolist() == [[1, 2, 3, 4, 5], [6, 7, 8, 9, 0]]
    assert b1.tokens.tolist() == [[1, 2, 3, 4, 5], [6, 7, 8, 9, 0]]
    assert b0.tokens[:, :-1].tolist() == [[1, 2, 3, 4], [6, 7, 8, 9]]  # inputs
    assert b0.tokens[:, 1:].tolist() == [[2, 3, 4, 5], [7, 8, 9, 0]]  # labels
    assert s.exposure_state()["a"].tolist() == [2]
    assert s.served_tokens.tolist() == [20]


def test_exposure_counts_document_starts(make_store):
    store = TokenStore(make_store({"a": unique_docs(1, 4, 3), "b": unique_docs(100, 3, 5)}))
    s = MixtureSampler(store, MixtureConfig(batch_rows=1, seq_len=5, schedule=StaticConfig(weights={"a": 1})))
    s.next_batch()  # 6 tokens of a 16-token epoch: the first document (4 tokens) and 2 of the second
    assert sorted(s.exposure_state()["a"].tolist()) == [0, 0, 1, 1]
    s.next_batch()  # 12 tokens: exactly three documents, the fourth not begun
    assert sorted(s.exposure_state()["a"].tolist()) == [0, 1, 1, 1]
    s.next_batch()
    s.next_batch()  # 24 tokens: one whole epoch and two documents of the next
    assert sorted(s.exposure_state()["a"].tolist()) == [1, 1, 2, 2]
    assert s.exposure_state()["b"].tolist() == [0, 0, 0]


def test_rows_are_domain_pure(store3):
    s = MixtureSampler(store3, cfg())
    for b in draw(s, 20):
        for row, d in zip(b.tokens.numpy(), b.domain_ids.numpy()):
            toks = row[row != 0]
            lo = {0: 1, 1: 1001, 2: 2001}[int(d)]
            assert np.all((toks >= lo) & (toks < lo + 1000))


def test_same_seed_same_stream_other_seed_other_stream(store3):
    a = draw(MixtureSampler(store3, cfg(), seed=3), 5)
    b = draw(MixtureSampler(store3, cfg(), seed=3), 5)
    c = draw(MixtureSampler(store3, cfg(), seed=4), 5)
    assert all(same(x, y) for x, y in zip(a, b))
    assert not all(same(x, y) for x, y in zip(a, c))


def test_resume_mid_stream_equals_uninterrupted(store3):
    full = draw(MixtureSampler(store3, cfg(), seed=1), 30)
    first = MixtureSampler(store3, cfg(), seed=1)
    draw(first, 12)
    state = json.loads(json.dumps(first.state_dict()))  # must survive JSON
    resumed = MixtureSampler(store3, cfg(), seed=1)
    resumed.load_state_dict(state)
    rest = draw(resumed, 18)
    assert all(same(x, y) for x, y in zip(full[12:], rest))


def test_resume_with_pacing_and_seq_len_schedule_and_override(store3):
    extra = cfg(seq_len={"points": [[0, 4], [20, 12]], "multiple_of": 2},
                pacing={"a": PacingConfig(column="n_tokens", steps=10, start=0.2)})
    full_s = MixtureSampler(store3, extra, seed=2)
    full = draw(full_s, 10)
    full_s.set_weights({"a": 1, "c": 1})
    full += draw(full_s, 15)

    first = MixtureSampler(store3, extra, seed=2)
    draw(first, 10)
    first.set_weights({"a": 1, "c": 1})
    draw(first, 3)
    resumed = MixtureSampler(store3, extra, seed=2)
    resumed.load_state_dict(json.loads(json.dumps(first.state_dict())))
    rest = draw(resumed, 12)
    assert all(same(x, y) for x, y in zip(full[13:], rest))


def test_two_ranks_are_disjoint_and_interleave_to_the_single_rank_stream(store3):
    single = draw(MixtureSampler(store3, cfg(), seed=5), 6)
    r0 = draw(MixtureSampler(store3, cfg(), seed=5, rank=0, world_size=2), 6)
    r1 = draw(MixtureSampler(store3, cfg(), seed=5, rank=1, world_size=2), 6)
    for s, a, b in zip(single, r0, r1):
        assert a.tokens.shape == (4, 7)
        merged = np.empty_like(s.tokens.numpy())
        merged[0::2], merged[1::2] = a.tokens.numpy(), b.tokens.numpy()
        assert np.array_equal(merged, s.tokens.numpy())
    # Within the first epoch of every domain, no token (= stream position) is served twice.
    seen0 = np.concatenate([b.tokens.numpy().ravel() for b in r0[:2]])
    seen1 = np.concatenate([b.tokens.numpy().ravel() for b in r1[:2]])
    assert not set(seen0[seen0 != 0]) & set(seen1[seen1 != 0])


def test_two_ranks_resume_on_one_rank_at_same_global_batch(store3):
    single = draw(MixtureSampler(store3, cfg(), seed=7), 20)
    r0 = MixtureSampler(store3, cfg(), seed=7, rank=0, world_size=2)
    r1 = MixtureSampler(store3, cfg(), seed=7, rank=1, world_size=2)
    draw(r0, 9)
    draw(r1, 9)
    assert r0.state_dict() == r1.state_dict()
    one = MixtureSampler(store3, cfg(), seed=7, rank=0, world_size=1)
    one.load_state_dict(r0.state_dict())
    assert all(same(x, y) for x, y in zip(single[9:], draw(one, 11)))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(raw=st.lists(st.floats(0.0, 1.0), min_size=2, max_size=5).filter(lambda w: sum(w) > 0.05))
def test_realized_token_proportions_match_weights(make_store, raw):
    names = [f"d{i}" for i in range(len(raw))]
    store = TokenStore(make_store({n: unique_docs(1 + 1000 * i, 9, 13) for i, n in enumerate(names)}))
    weights = dict(zip(names, raw))
    s = MixtureSampler(store, MixtureConfig(batch_rows=100, seq_len=15, schedule=StaticConfig(weights=weights)))
    tokens = np.zeros(len(names))
    for _ in range(100):  # 10k rows
        b = s.next_batch()
        tokens += np.bincount(b.domain_ids.numpy(), minlength=len(names)) * (b.seq_len + 1)
    want = np.array(raw) / sum(raw)
    assert np.all(np.abs(tokens / tokens.sum() - want) <= 0.02)


def test_weights_count_tokens_when_seq_len_changes(store3):
    c = cfg(batch_rows=10, seq_len={"points": [[0, 4], [40, 40]], "interpolate": "step"})
    s = MixtureSampler(store3, c)
    tokens = np.zeros(3)
    for _ in range(80):
        b = s.next_batch()
        tokens += np.bincount(b.domain_ids.numpy(), minlength=3) * (b.seq_len + 1)
    assert np.allclose(tokens / tokens.sum(), [0.5, 0.3, 0.2], atol=0.01)


def test_allocate_rows_is_exact_and_carries_rounding():
    rows, credit = allocate_rows(np.zeros(3), np.array([0.5, 0.25, 0.25]), 4, 10)
    assert rows.tolist() == [2, 1, 1] and np.allclose(credit, 0)
    total = np.zeros(3, dtype=int)
    credit = np.zeros(3)
    for _ in range(3):
        rows, credit = allocate_rows(credit, np.full(3, 1 / 3), 4, 10)
        assert rows.sum() == 4
        total += rows
    assert total.tolist() == [4, 4, 4]
    # A zero-weight domain never gets rows and forgets its credit.
    rows, credit = allocate_rows(np.array([5.0, 0.0]), np.array([0.0, 1.0]), 3, 10)
    assert rows.tolist() == [0, 3] and credit[0] == 0


def test_phases_switch_domains(store3):
    phases = PhasesConfig(phases=[
        {"name": "warmup", "steps": 5, "weights": {"c": 1}},
        {"name": "main", "weights": {"a": 1, "b": 1}},
    ])
    s = MixtureSampler(store3, cfg(schedule=phases))
    batches = draw(s, 10)
    assert all(set(b.domain_ids.tolist()) == {2} for b in batches[:5])
    assert all(set(b.domain_ids.tolist()) <= {0, 1} for b in batches[5:])


def test_pacing_never_serves_a_document_above_the_current_difficulty(make_store):
    # Document i has difficulty (n_tokens) 3 + i % 10, and its tokens all equal 100 + i.
    docs = [[100 + i] * (3 + i % 10) for i in range(50)]
    store = TokenStore(make_store({"a": docs}))
    difficulty = np.array([len(d) for d in docs])
    pacing = PacingConfig(column="n_tokens", kind="fixed_linear", start=0.1, steps=30)
    s = MixtureSampler(store, MixtureConfig(batch_rows=4, seq_len=8, schedule=StaticConfig(weights={"a": 1}),
                                            pacing={"a": pacing}))
    seen_max = []
    for _ in range(40):
        b = s.next_batch()
        limit = s._pacing[0].max_difficulty(b.step)
        toks = b.tokens.numpy()
        served = {int(t) - 100 for t in toks[toks != 0]}
        assert all(difficulty[i] <= limit for i in served), (b.step, limit)
        seen_max.append(max(difficulty[i] for i in served))
    assert seen_max[0] == 3 and max(seen_max[-10:]) == 12  # starts easy, ends with everything


def test_set_weights_hook_and_its_errors(store3):
    s = MixtureSampler(store3, cfg())
    s.set_weights({"b": 2.0})
    assert set(s.next_batch().domain_ids.tolist()) == {1}
    assert s.state_dict()["weights_override"] == [0.0, 1.0, 0.0]
    with pytest.raises(CurricleError, match="unknown domain 'z'"):
        s.set_weights({"z": 1})
    with pytest.raises(CurricleError, match="not all zero"):
        s.set_weights({"a": 0.0})
    with pytest.raises(CurricleError, match=">= 0"):
        s.set_weights(np.array([-1.0, 1.0, 1.0]))
    s.set_weights(None)
    assert len(set(s.next_batch().domain_ids.tolist())) > 1


def test_warns_when_a_domain_repeats_past_max_epochs(make_store, caplog):
    store = TokenStore(make_store({"a": [[1, 2, 3]], "b": unique_docs(10, 50, 20)}))
    s = MixtureSampler(store, MixtureConfig(batch_rows=2, seq_len=3, max_epochs=2.0,
                                            schedule=StaticConfig(weights={"a": 1, "b": 1})))
    with caplog.at_level(logging.WARNING):
        draw(s, 4)
    warnings = [r.getMessage() for r in caplog.records if "served" in r.getMessage()]
    assert len(warnings) == 1 and "domain 'a'" in warnings[0]
    assert s.epochs["a"] == 4.0


def test_bad_sampler_setups_fail_with_one_line(store3):
    with pytest.raises(CurricleError, match="unknown domain 'zzz'"):
        MixtureSampler(store3, cfg(schedule=StaticConfig(weights={"zzz": 1})))
    with pytest.raises(CurricleError, match="do not split evenly over 3 ranks"):
        MixtureSampler(store3, cfg(), world_size=3)
    s = MixtureSampler(store3, cfg(), seed=1)
    with pytest.raises(CurricleError, match="'seed' is 1 but this sampler has 2"):
        MixtureSampler(store3, cfg(), seed=2).load_state_dict(s.state_dict())


def test_the_numpy_allocation_of_many_domains_is_the_loops_bit_for_bit():
    from curricle.mixture.sampler import _allocate_rows, _allocate_rows_np

    rng = np.random.default_rng(0)
    for trial in range(300):
        d = int(rng.integers(2, 1500))
        w = rng.dirichlet(np.full(d, float(rng.choice([0.05, 1.0, 20.0]))))
        w[rng.random(d) < 0.1] = 0.0  # some domains switched off
        if w.sum() == 0:
            w[0] = 1.0
        w = w / w.sum()
        batch, seq_len = int(rng.integers(1, 64)), int(rng.integers(2, 300))
        credit = rng.uniform(-seq_len, seq_len, d) * rng.random()
        rows, carried = _allocate_rows_np(credit, w, batch, seq_len)
        ref_rows, ref_carried = _allocate_rows(credit.tolist(), w.tolist(), batch, seq_len)
        assert rows.tolist() == ref_rows and carried.tolist() == ref_carried, trial
        assert rows.sum() == batch


def test_restart_pacing_serves_the_easiest_documents_again_and_resumes(make_store):
    """Pacing from 0.1 to everything over 30 steps; restarted at step 30, the next batches are
    the easiest documents again, competence rising from there; None returns to the run's own
    clock (everything). The restart is sampler state."""
    docs = [[100 + i] * (3 + i % 10) for i in range(50)]  # document i: difficulty 3 + i % 10
    store = TokenStore(make_store({"a": docs}))
    difficulty = np.array([len(d) for d in docs])
    config = MixtureConfig(batch_rows=4, seq_len=8, schedule=StaticConfig(weights={"a": 1}),
                           pacing={"a": PacingConfig(column="n_tokens", kind="fixed_linear", start=0.1, steps=30)})

    def hardest(batch) -> int:
        toks = batch.tokens.numpy()
        return max(difficulty[int(t) - 100] for t in toks[toks != 0])

    s = MixtureSampler(store, config)
    draw(s, 30)
    assert s.weights_override is None
    with pytest.raises(CurricleError, match=r"restart_pacing: step 31 is not in \[0, 30\]"):
        s.restart_pacing(31)
    s.restart_pacing(30)
    assert s.state_dict()["pacing_from"] == 30
    # Competence 0.1, 0.13, 0.16 again: the 5, 7, 8 easiest documents (difficulty 3, then 3 and 4);
    # the first batch also ends the document read when the pacing restarted (difficulty 5).
    assert [hardest(b) for b in draw(s, 3)] == [5, 4, 4]
    resumed = MixtureSampler(store, config)
    resumed.load_state_dict(json.loads(json.dumps(s.state_dict())))
    assert all(same(x, y) for x, y in zip(draw(s, 20), draw(resumed, 20)))
    s.restart_pacing(None)
    assert "pacing_from" not in s.state_dict()
    assert max(hardest(b) for b in draw(s, 10)) == 12  # everything again
