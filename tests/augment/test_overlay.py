"""The overlay of augmented documents in the sampler: max_share at every step, exact resume."""

import json

import numpy as np
import pytest

from curricle.augment.base import AugmentedDoc
from curricle.augment.overlay import Overlay
from curricle.errors import CurricleError
from curricle.mixture.config import MixtureConfig, StaticConfig
from curricle.mixture.sampler import MixtureSampler
from curricle.store import TokenStore
from tests.mixture.test_sampler import same, unique_docs

AUG = 5000  # augmented tokens are 5000+, so a row's origin is visible


def doc(i: int) -> AugmentedDoc:
    return AugmentedDoc(f"aug {i}", f"a-{i}", "perturb", '{"seed": %d}' % i)


@pytest.fixture
def store(make_store):
    return TokenStore(make_store({"a": unique_docs(1, 20, 7), "b": unique_docs(1001, 15, 11)}))


def sampler_with_overlay(store, path, share=0.25, **kw):
    s = MixtureSampler(store, MixtureConfig(batch_rows=8, seq_len=6, schedule=StaticConfig(weights={"a": 0.5, "b": 0.5})),
                       seed=3, **kw)
    overlay = Overlay(path, "a", store.dtype, store.eos_id)
    s.attach_overlay("a", overlay, share)
    return s, overlay


def test_max_share_holds_at_every_step_and_is_reached_to_within_a_row(store, tmp_path):
    s, overlay = sampler_with_overlay(store, tmp_path / "ov", share=0.3)
    for _ in range(3):
        s.next_batch()
    assert s.overlay_share() == {"a": (0, 0.0)}
    overlay.append([doc(0), doc(1)], [np.arange(AUG, AUG + 9), np.arange(AUG + 9, AUG + 13)], step=3)
    row = 7
    a_tokens = aug_tokens = 0
    for _ in range(40):
        b = s.next_batch()
        a_rows = int((b.domain_ids == 0).sum())
        a_tokens += a_rows * row
        ov = [r for r in b.tokens[b.domain_ids == 0] if (r >= AUG).any() and not (r[(r != 0)] < AUG).any()]
        aug_tokens += len(ov) * row
        assert aug_tokens <= 0.3 * a_tokens  # the cap, at every step
        assert aug_tokens > 0.3 * a_tokens - row  # reached to within one row
        docs, share = s.overlay_share()["a"]
        assert docs == 2 and share == pytest.approx(aug_tokens / a_tokens)
    # Overlay rows come after the domain's own rows, and hold only overlay tokens and EOS.
    assert ov and all(set(r.tolist()) <= set(range(AUG, AUG + 13)) | {0} for r in ov)


def test_the_overlay_stream_reads_new_documents_first_then_cycles(store, tmp_path):
    s, overlay = sampler_with_overlay(store, tmp_path / "ov", share=0.5)
    overlay.append([doc(0)], [np.arange(AUG, AUG + 6)], step=0)  # 7 tokens with EOS: one row each
    b = s.next_batch()
    assert b.tokens[b.domain_ids == 0][-2:].tolist() == [[*range(AUG, AUG + 6), 0]] * 2
    overlay.append([doc(1)], [np.arange(AUG + 100, AUG + 106)], step=1)
    b = s.next_batch()
    assert b.tokens[b.domain_ids == 0][-2:].tolist() == [[*range(AUG + 100, AUG + 106), 0], [*range(AUG, AUG + 6), 0]]


def test_resume_cuts_the_overlay_back_and_continues_the_same_rows(store, tmp_path):
    s, overlay = sampler_with_overlay(store, tmp_path / "ov")
    overlay.append([doc(0)], [np.arange(AUG, AUG + 9)], step=0)
    for _ in range(5):
        s.next_batch()
    state = s.state_dict()
    assert state["overlays"]["a"][-2:] == [1, 10]
    # The first run goes on, adding a document after the checkpoint; then it is killed.
    overlay.append([doc(1)], [np.arange(AUG + 50, AUG + 60)], step=5)
    after = [s.next_batch() for _ in range(6)]

    r, reopened = sampler_with_overlay(store, tmp_path / "ov")
    r.load_state_dict(state)
    assert reopened.n_docs == 1 and len(read_overlay_file(tmp_path / "ov")) == 1
    assert (tmp_path / "ov" / "tokens.bin").stat().st_size == 10 * store.dtype.itemsize
    reopened.append([doc(1)], [np.arange(AUG + 50, AUG + 60)], step=5)  # the round made again
    assert all(same(x, r.next_batch()) for x in after)


def read_overlay_file(path):
    return [json.loads(line) for line in (path / "meta.jsonl").read_text().splitlines()]


def test_world_sizes_split_the_same_global_rows(store, tmp_path):
    one, ov1 = sampler_with_overlay(store, tmp_path / "one")
    ranks = [sampler_with_overlay(store, tmp_path / f"r{k}", rank=k, world_size=2) for k in range(2)]
    for o in [ov1] + [o for _, o in ranks]:
        o.append([doc(0)], [np.arange(AUG, AUG + 9)], step=0)
    for _ in range(6):
        full = one.next_batch().tokens
        parts = [s.next_batch().tokens for s, _ in ranks]
        assert full[0::2].tolist() == parts[0].tolist() and full[1::2].tolist() == parts[1].tolist()


def test_a_state_with_overlays_needs_the_same_augmented_domains(store, tmp_path):
    s, overlay = sampler_with_overlay(store, tmp_path / "ov")
    state = s.state_dict()
    plain = MixtureSampler(store, s.config, seed=3)
    with pytest.raises(CurricleError, match="augmented documents in domain 'a'"):
        plain.load_state_dict(state)


def test_prioritized_domains_get_no_segments_for_overlay_rows(store, tmp_path):
    s, overlay = sampler_with_overlay(store, tmp_path / "ov", share=0.5, prioritized=["a"])
    overlay.append([doc(0)], [np.arange(AUG, AUG + 13)], step=0)
    b = s.next_batch()
    a_rows = int((b.domain_ids == 0).sum())
    store_rows = {row for row, *_ in b.segments}
    assert store_rows == set(range(a_rows - 2)) and (b.tokens[a_rows - 2 : a_rows] >= AUG).any()
