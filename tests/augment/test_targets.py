"""Targets of a round, on literal per-document losses and metadata."""

import numpy as np
import pytest

from curricle.augment.config import AugmentConfig
from curricle.augment.targets import TargetFinder, spread
from curricle.sources.config import SyntheticConfig
from curricle.store import TokenStore

NAN = float("nan")


class Words:
    """A stand-in tokenizer: token ids are written out."""

    def decode(self, ids):
        return " ".join(map(str, ids))


@pytest.fixture
def store(make_store):
    docs = [[10 + i, 20 + i] for i in range(6)]
    return TokenStore(make_store({"a": docs, "b": docs[:2]},
                                 extra_meta={"a/region": ["x", "x", "y", "y", "y", "z"]}))


def finder(store, target, last, **kw):
    cfg = AugmentConfig(every=1, budget=kw.pop("budget", 3), target=target, max_share=0.2,
                        augmenter={"kind": "perturb"}, **kw)
    return TargetFinder(cfg, store, [], lambda: {"last/a": np.array(last)}, Words())


def test_hardest_docs_are_the_highest_latest_losses_ties_by_index(store):
    f = finder(store, "hardest-docs", [1.0, 3.0, NAN, 2.0, 3.0, 0.5])
    targets, info = f.find("a", {})
    assert [(t.augmented_from, t.text, n) for t, n in targets] == [("a-1", "11 21", 1), ("a-4", "14 24", 1),
                                                                   ("a-3", "13 23", 1)]
    assert info == {}
    assert finder(store, "hardest-docs", [NAN] * 6).find("a", {}) == ([], {"reason": "no document seen yet"})


def test_hardest_region_is_the_highest_mean_loss_among_regions_seen_enough(store):
    # x: 1.0, 2.0 (mean 1.5); y: 2.5, NAN, 1.0 (2 seen, mean 1.75); z: 9.0 (one document: not ranked)
    f = finder(store, "hardest-regions", [1.0, 2.0, 2.5, NAN, 1.0, 9.0], region_by="region", budget=5)
    targets, info = f.find("a", {})
    assert [(t.augmented_from, n) for t, n in targets] == [("a-2", 3), ("a-4", 2)]
    assert info == {"region": "region=y", "region_loss": 1.75}


def test_failing_levels_split_the_budget_easier_levels_first(store):
    src = SyntheticConfig(skill="copy", domain="a", levels=["2", "4", "8"], n_docs=9, items_per_doc=5, seed=7)
    cfg = AugmentConfig(every=1, budget=5, target="failing-levels", max_share=0.2, augmenter={"kind": "generator"},
                        fail_below=0.5)
    f = TargetFinder(cfg, store, [src], None, Words())
    assert f.default_domains() == ["a"]
    assert f.find("a", {}) == ([], {"reason": "no probe scores yet"})
    targets, info = f.find("a", {"copy@2": 0.9, "copy@4": 0.2, "copy@8": 0.0})
    assert [(t.augmented_from, t.level, t.source_seed, t.items_per_doc, n) for t, n in targets] == [
        ("copy@4", "4", 7, 5, 3), ("copy@8", "8", 7, 5, 2)]
    assert info == {"scores": {"copy@4": 0.2, "copy@8": 0.0}}
    assert f.find("a", {"copy@2": 0.9, "copy@4": 0.6, "copy@8": 0.5}) == ([], {"reason": "no level scores below 0.5"})


def test_spread():
    assert spread(5, 2) == [3, 2] and spread(2, 3) == [1, 1, 0]


# -- groups --------------------------------------------------------------------------------


def test_document_targets_are_in_their_documents_group(store):
    cfg = AugmentConfig(every=1, budget=3, target="hardest-docs", max_share=0.2, augmenter={"kind": "perturb"})
    f = TargetFinder(cfg, store, [], lambda: {"last/a": np.array([1.0, 3.0, NAN, 2.0, 0.0, 0.5])}, Words(),
                     group_column="region")
    assert [(t.augmented_from, t.group) for t, _ in f.find("a", {})[0]] == [("a-1", "x"), ("a-3", "y"), ("a-0", "x")]
    # Without groups in the run, no group.
    assert {t.group for t, _ in finder(store, "hardest-docs", [1.0] * 6).find("a", {})[0]} == {None}


def test_a_level_target_is_in_the_group_of_the_levels_documents_else_its_own(make_store):
    # Level 2's documents are in 'easy' (5 + 1 tokens) and 'odd' (2 + 1 tokens): 'easy' has the most
    # tokens; level 4's are all 'hard'; level 8 has no document in the store.
    ids = ["copy@2-0-0", "copy@2-0-1", "copy@4-0-2", "copy@4-0-3"]
    store = TokenStore(make_store({"a": [[1, 2, 3, 4, 5], [6, 7], [8], [9]]},
                                  extra_meta={"a/doc_id": ids, "a/tier": ["easy", "odd", "hard", "hard"]}))
    src = SyntheticConfig(skill="copy", domain="a", levels=["2", "4", "8"], n_docs=4)
    cfg = AugmentConfig(every=1, budget=3, target="failing-levels", max_share=0.2, augmenter={"kind": "generator"})
    scores = {"copy@2": 0.0, "copy@4": 0.0, "copy@8": 0.0}

    def groups(column):
        targets, _ = TargetFinder(cfg, store, [src], None, Words(), group_column=column).find("a", scores)
        return [t.group for t, _ in targets]

    assert groups("tier") == ["easy", "hard", "copy@8"]
    assert groups("nope") == ["copy@2", "copy@4", "copy@8"]  # the domain has no such column
    assert groups(None) == [None, None, None]
