"""The overlay of augmented documents in the sampler: max_share at every step, exact resume."""

import hashlib
import json

import numpy as np
import pytest

from curricle.augment.base import AugmentedDoc
from curricle.augment.overlay import Overlay
from curricle.errors import CurricleError
from curricle.mixture.config import MixtureConfig, StaticConfig
from curricle.controllers.hard_examples import floor_groups
from curricle.mixture.overlay_groups import GroupFloors
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


# -- group floors -----------------------------------------------------------------------------
# Domain 'a': documents 0-9 in group 'x' (tokens 1-70), 10-19 in group 'y' (71-140), 8 tokens
# each with EOS, so with uniform draws 'y' has half of the store's drawn tokens. Four of the
# eight rows of a step (7 tokens each) are 'a''s. Augmented tokens are 5000+; those of group
# 'y' 6000+. 'y' has a floor of 0.3.

FLOORS = GroupFloors(["x", "y"], np.array([0] * 10 + [1] * 10), np.array([0.0, 0.3]))
ROW = 7


def grouped(i: int, group: str) -> AugmentedDoc:
    return AugmentedDoc(f"aug {i}", f"a-{i}", "perturb", "{}", group)


def floored_sampler(store, path, floors=FLOORS):
    s, overlay = sampler_with_overlay(store, path, share=0.5, prioritized=["a"])
    if floors is not None:
        s.attach_overlay("a", overlay, 0.5, floors)
    return s, overlay


class ExpectedShares:
    """Counts, from the batches alone, each group's expected tokens in domain 'a' since its
    overlay's first document: store rows by the draw probabilities in force, overlay rows by the
    group of the augmented document each token is from (an EOS: the document before it)."""

    def __init__(self, lengths):
        self.lengths = lengths
        self.expected = np.zeros(2)
        self.total = 0
        self.last = None  # the group of the overlay stream's last token

    def add(self, batch, p):
        rows = batch.tokens[batch.domain_ids == 0].numpy()
        ov = [r for r in rows if (r >= AUG).any() and not (r[r != 0] < AUG).any()]
        t = p * self.lengths
        q = np.array([t[:10].sum(), t[10:].sum()]) / t.sum()
        self.expected += (len(rows) - len(ov)) * ROW * q
        counted = np.zeros(2, dtype=np.int64)
        for r in ov:
            for tok in r.tolist():
                if tok:
                    self.last = int(tok >= 6000)
                counted[self.last] += 1
        self.expected += counted
        self.total += len(rows) * ROW
        return len(ov), counted


def test_floors_cap_the_overlay_so_the_other_group_stays_at_its_floor_at_every_step(store, tmp_path):
    s, overlay = floored_sampler(store, tmp_path / "ov")
    plain, plain_overlay = floored_sampler(store, tmp_path / "plain", floors=None)
    for o in (overlay, plain_overlay):  # group 'x' augmented, at max_share 0.5
        o.append([grouped(0, "x"), grouped(1, "x")], [np.arange(AUG, AUG + 9), np.arange(AUG + 9, AUG + 13)], step=0)
    assert (tmp_path / "ov" / "meta.jsonl").read_text().count('"group": "x"') == 2
    # (1 - c) * 0.5 + c * 0 >= 0.3: the overlay can take 0.4 of 'a''s tokens, limited by 'y'.
    assert s.overlay_floor_cap("a") == pytest.approx((0.4, "y"), abs=1e-12)
    assert plain.overlay_floor_cap("a") is None
    lengths = store.split("a").doc_lengths.astype(float)
    counts, plain_counts = ExpectedShares(lengths), ExpectedShares(lengths)
    rng = np.random.default_rng(0)
    p = np.ones(20)
    overlay_tokens = 0
    for step in range(60):
        if step == 30:  # 'y' augmented too (21 of the overlay's 36 tokens): 'y' no longer limits it
            overlay.append([grouped(2, "y")], [np.arange(6000, 6020)], step=step)
            assert s.overlay_floor_cap("a") == (1.0, None)
        if step % 10 == 5:  # new draw probabilities, 'y' at least at its floor (as the controller keeps them)
            p = rng.random(20) * np.r_[np.ones(10), np.full(10, 0.4 if step == 15 else 1.0)]
            p = floor_groups(p, FLOORS.ids, lengths, FLOORS.floors)
            s.set_doc_priorities("a", p)
        b = s.next_batch()
        n_ov, got = counts.add(b, p)
        overlay_tokens += n_ov * ROW
        assert b.overlay_groups == ([(0, g, int(n)) for g, n in zip("xy", got) if n] or None)
        share = counts.expected / counts.total
        assert share[1] >= 0.3 - 1e-12, step  # the floor, at every step
        assert overlay_tokens <= 0.5 * counts.total  # and max_share
        if step < 30:  # the overlay takes all it may: one more row would break the floor or max_share
            t = p * lengths
            one_row = ROW * t[10:].sum() / t.sum()  # what one more overlay row takes from 'y'
            assert counts.expected[1] - 0.3 * counts.total < one_row or overlay_tokens > 0.5 * counts.total - ROW
        plain_counts.add(plain.next_batch(), np.ones(20))
    assert plain_counts.expected[1] / plain_counts.total < 0.26  # without floors 'y' falls to about 0.25
    # The sampler's own count (its state) is the one above.
    assert s.state_dict()["overlay_floors"]["a"] == pytest.approx(counts.expected.tolist(), rel=1e-12)


def test_resume_with_floors_continues_the_same_rows_and_counts(store, tmp_path):
    s, overlay = floored_sampler(store, tmp_path / "ov")
    overlay.append([grouped(0, "x")], [np.arange(AUG, AUG + 9)], step=0)
    s.set_doc_priorities("a", np.arange(1.0, 21.0))
    for _ in range(7):
        s.next_batch()
    state, arrays = s.state_dict(), s.array_state()
    assert len(state["overlay_floors"]["a"]) == 2
    overlay.append([grouped(1, "y"), grouped(2, "x")], [np.arange(6000, 6005), np.arange(AUG + 50, AUG + 60)], step=7)
    after = [s.next_batch() for _ in range(12)]

    r, reopened = floored_sampler(store, tmp_path / "ov")
    r.load_state_dict(state)
    r.load_array_state(arrays)
    assert reopened.n_docs == 1
    reopened.append([grouped(1, "y"), grouped(2, "x")], [np.arange(6000, 6005), np.arange(AUG + 50, AUG + 60)], step=7)
    again = [r.next_batch() for _ in range(12)]
    assert all(same(x, y) and x.overlay_groups == y.overlay_groups for x, y in zip(after, again))
    assert any(b.overlay_groups for b in after) and r.state_dict() == s.state_dict()
    # A run saved without floors cannot go on with them: their count of the past is not there.
    plain, _ = floored_sampler(store, tmp_path / "ov", floors=None)
    plain.load_state_dict(state)
    with_floors, _ = floored_sampler(store, tmp_path / "ov")
    with pytest.raises(CurricleError, match="^sampler state: it was saved without group floors on the augmented "
                                            "documents of 'a', which this config has$"):
        with_floors.load_state_dict(plain.state_dict())


def test_without_floors_the_rows_are_those_of_before_floors_existed(store, tmp_path):
    """The same sampler and overlay as before group floors were added (the digest of its rows
    then); attaching floors that never bind changes nothing either."""

    def digest(floors):
        s, ov = sampler_with_overlay(store, tmp_path / f"ov-{floors is None}", share=0.5, prioritized=["a"])
        if floors is not None:
            s.attach_overlay("a", ov, 0.5, floors)
        s.set_doc_priorities("a", np.arange(1, 21, dtype=float))
        h = hashlib.sha256()
        for step in range(30):
            if step == 2:
                ov.append([AugmentedDoc("x", "d-0", "perturb", "{}")] * 2, [np.arange(5000, 5009), np.arange(5009, 5013)],
                          step)
            if step == 9:
                ov.append([AugmentedDoc("x", "d-1", "perturb", "{}")], [np.arange(5100, 5111)], step)
            b = s.next_batch()
            assert b.overlay_groups is None  # no document has a group
            h.update(b.tokens.numpy().tobytes())
            h.update(b.domain_ids.numpy().tobytes())
            h.update(repr(b.segments).encode())
        return h.hexdigest()

    before = "adcb2a07f752580cb8845b11144fa589e735f0db311e744c79b57aa5931d7a6e"
    assert digest(None) == before
    # A floor of 0.05 on 'x' (drawn at 55/210 of the store's tokens): the overlay at 0.5 leaves it 0.13.
    assert digest(GroupFloors(["x", "y"], FLOORS.ids, np.array([0.05, 0.0]))) == before


def test_ranks_overlay_group_tokens_add_up_to_the_single_process_ones(store, tmp_path):
    def make(path, **kw):
        s, overlay = sampler_with_overlay(store, path, share=0.5, prioritized=["a"], **kw)
        s.attach_overlay("a", overlay, 0.5, FLOORS)
        overlay.append([grouped(0, "x"), grouped(1, "y")], [np.arange(AUG, AUG + 9), np.arange(6000, 6004)], step=0)
        return s

    one = make(tmp_path / "one")
    ranks = [make(tmp_path / f"r{k}", rank=k, world_size=2) for k in range(2)]
    for _ in range(8):
        full = one.next_batch()
        counts: dict = {}
        for b in [s.next_batch() for s in ranks]:
            for d, g, n in b.overlay_groups or ():
                counts[(d, g)] = counts.get((d, g), 0) + n
        assert counts == {(d, g): n for d, g, n in full.overlay_groups or ()}
    assert counts and all(s.state_dict()["overlay_floors"] == one.state_dict()["overlay_floors"] for s in ranks)
