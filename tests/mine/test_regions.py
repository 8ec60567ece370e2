"""Hard regions on literal per-document state: the signals, the statistics, each grouping, and
a planted hard region found on top with an interval apart from the rest."""

import math

import numpy as np
import pytest

from curricle.errors import CurricleError
from curricle.mine.regions import (band_components, domain_regions, error_rate, hard_split, kmeans_grouping,
                                   metadata_groupings, minhash_grouping, quantile_labels, t_interval, wilson)
from curricle.mine.signals import classify_trend, document_signals, loss_trend

NAN = np.nan


def test_trend_is_the_least_squares_slope_over_the_visits_it_has():
    hist = np.array([[5.0, 4.0, 3.0], [3.0, 3.0, 3.0], [NAN, 4.0, 2.0], [NAN, NAN, 7.0], [NAN, NAN, NAN],
                     [1.0, 3.0, 2.0]])
    trend = loss_trend(hist)
    assert trend[:3].tolist() == [-1.0, 0.0, -2.0]  # falling, flat, two visits (left-padded)
    assert math.isnan(trend[3]) and math.isnan(trend[4])  # fewer than 2 visits
    assert trend[5] == pytest.approx(0.5)  # slope of (0,1), (1,3), (2,2)
    assert classify_trend(trend, 0.1).tolist() == ["learning", "stuck", "learning", "unknown", "unknown", "rising"]


def test_signals_read_the_controller_keys_and_fill_what_it_does_not_keep():
    arrays = {"last/a": np.array([2.0, NAN]), "seen/a": np.array([7, 0]), "served/a": np.array([3, 0], np.int32),
              "acc/a": np.array([0.25, NAN]), "hist/a": np.array([[3.0, 2.0], [NAN, NAN]])}
    s = document_signals(arrays, "a")
    assert list(s) == ["loss", "loss_ema", "trend", "margin", "confidence", "accuracy", "calibration", "served",
                       "last_step"]
    assert s["loss"][0] == 2.0 and s["accuracy"][0] == 0.25 and s["trend"][0] == -1.0
    assert s["served"].tolist() == [3.0, 0.0] and s["last_step"].tolist() == [7.0, 0.0]
    assert np.isnan(s["margin"]).all() and np.isnan(s["loss_ema"]).all()  # not kept: NaN
    with pytest.raises(CurricleError, match="no document state 'last/b'"):
        document_signals(arrays, "b")


def test_interval_arithmetic():
    # Wilson at p = 0.8, n = 10: centre (0.8 + 1.96^2/20) / (1 + 1.96^2/10), half 1.96 * 0.16 / the same.
    lo, hi = wilson(0.8, 10)
    assert lo == pytest.approx(0.4901625, abs=1e-6) and hi == pytest.approx(0.9433178, abs=1e-6)
    assert wilson(0.0, 5)[0] == 0.0 and wilson(0.5, 0) is None
    t = t_interval(np.array([5.0, 5.2, 4.8, 5.1, 4.9] * 2 + [NAN]))
    assert t["mean"] == pytest.approx(5.0) and t["n"] == 10
    assert t["ci95"] == pytest.approx([4.8933609, 5.1066391], abs=1e-6)  # t(0.975, 9) * sd / sqrt(10)
    assert t_interval(np.array([NAN])) is None and t_interval(np.array([1.0]))["ci95"] is None
    assert error_rate(np.array([0.25, 0.75, NAN])) == {"mean": 0.5, "ci95": wilson(0.5, 2), "n": 2}


def planted() -> tuple[dict, dict]:
    """50 documents: 12 'forum' ones the model gets wrong 90% of the time (loss about 5), 36
    'wiki' ones it gets wrong 30% of the time (loss about 3), 2 more 'wiki' ones never seen."""
    n = 50
    forum = np.arange(n) < 12
    wobble = np.where(np.arange(n) % 2 == 0, 0.1, -0.1)
    loss = np.where(forum, 5.0, 3.0) + wobble
    loss[48:] = NAN
    arrays = {"last/d": loss, "acc/d": np.where(forum, 0.1, 0.7), "margin/d": np.where(forum, -1.0, 2.0),
              "served/d": np.ones(n, np.int32), "seen/d": np.full(n, 9)}
    meta = {"doc_id": [f"d{i}" for i in range(n)], "source": ["forum" if f else "wiki" for f in forum],
            "n_tokens": [100 + (i * 7) % 50 for i in range(n)]}
    return arrays, meta


def test_a_planted_hard_region_is_found_on_top_with_its_interval_apart_from_the_rest():
    arrays, meta = planted()
    s = document_signals(arrays, "d")
    seen = np.isfinite(s["loss"])
    groupings = metadata_groupings(meta, seen, by=[], max_values=20, numeric_bins=4)
    assert [(g.kind, g.name) for g in groupings] == [("meta", "source"), ("meta", "n_tokens")]
    out = domain_regions(s, groupings, min_count=5)
    assert out["ranked_by"] == "error_rate" and out["seen"] == 48 and out["unseen"] == 2
    assert out["overall"]["error_rate"]["mean"] == pytest.approx(0.45)  # (12 * 0.9 + 36 * 0.3) / 48
    top = out["regions"][0]
    assert (top["kind"], top["column"], top["value"], top["count"]) == ("meta", "source", "forum", 12)
    assert top["error_rate"]["mean"] == pytest.approx(0.9)
    assert top["error_rate"]["ci95"] == pytest.approx([0.6262738, 0.9797310], abs=1e-6)
    assert top["rest"]["count"] == 36
    assert top["rest"]["error_rate"]["ci95"] == pytest.approx([0.1756879, 0.4628796], abs=1e-6)
    assert top["separated"] and top["excess"] == pytest.approx(0.45)
    assert top["loss"]["mean"] == pytest.approx(5.0) and top["margin"]["mean"] == -1.0
    # Length quartiles mix the two sources: none lies apart from the rest; wiki is last.
    assert [(r["column"], r["count"], r["separated"]) for r in out["regions"][1:5]] == [("n_tokens", 12, False)] * 4
    assert out["regions"][1]["value"] == "q2 [111.8, 123.5]" and out["regions"][1]["error_rate"]["mean"] == \
        pytest.approx(0.5)  # 4 forum documents of 12
    assert out["regions"][-1]["value"] == "wiki" and out["regions"][-1]["excess"] == pytest.approx(-0.15)


def test_without_accuracies_regions_rank_by_mean_loss():
    arrays, meta = planted()
    del arrays["acc/d"]
    s = document_signals(arrays, "d")
    out = domain_regions(s, metadata_groupings(meta, np.isfinite(s["loss"]), [], 20, 0), min_count=5)
    assert out["ranked_by"] == "loss" and out["overall"]["error_rate"] is None
    top = out["regions"][0]
    assert top["value"] == "forum" and top["excess"] == pytest.approx(5.0 - (12 * 5 + 36 * 3) / 48)
    assert top["separated"] and top["rest"]["loss"]["mean"] == pytest.approx(3.0)
    assert [r["value"] for r in out["regions"]] == ["forum", "wiki"]  # numeric_bins 0: no length bins


def test_small_regions_are_counted_not_reported():
    arrays, meta = planted()
    s = document_signals(arrays, "d")
    out = domain_regions(s, metadata_groupings(meta, np.isfinite(s["loss"]), [], 20, 0), min_count=13)
    assert [r["value"] for r in out["regions"]] == ["wiki"] and out["regions_too_small"] == 1


def test_metadata_groupings_choose_columns_by_their_values():
    seen = np.array([True] * 6 + [False])
    meta = {"doc_id": list("abcdefg"), "lang": ["en", "en", "de", "de", "fr", None, "xx"],
            "one": ["s"] * 7, "quality": [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7], "note": list("pqrstuv")}
    names = lambda gs: [g.name for g in gs]  # noqa: E731
    assert names(metadata_groupings(meta, seen, [], max_values=3, numeric_bins=0)) == ["lang"]
    gs = metadata_groupings(meta, seen, ["quality", "note", "doc_id"], max_values=3, numeric_bins=2)
    assert names(gs) == ["doc_id", "lang", "quality", "note"]
    lang = gs[1].labels
    assert lang == ["en", "en", "de", "de", "fr", None, "xx"]
    # Bins from the seen documents' values: median 0.35.
    assert gs[2].labels == ["q1 [0.1, 0.35]"] * 3 + ["q2 [0.35, 0.6]"] * 4
    assert quantile_labels([1, None, 3], np.array([True, True, True]), 4)[1] is None


def test_source_is_grouped_however_many_values_it_has_and_left_out_columns_are_noted():
    seen = np.ones(60, dtype=bool)
    meta = {"source": [f"s{i % 30}" for i in range(60)], "url": [f"u{i}" for i in range(60)],
            "one": ["x"] * 60, "score": [float(i) for i in range(60)], "flag": [7] * 60}
    notes: list[str] = []
    gs = metadata_groupings(meta, seen, ["flag"], max_values=20, numeric_bins=0, notes=notes)
    assert [g.name for g in gs] == ["source"] and gs[0].labels[:2] == ["s0", "s1"]
    assert notes == ["metadata column 'url' left out: 60 values, more than max_values (20); --by url groups by it "
                     "anyway",
                     "metadata column 'score' left out: numeric, and numeric_bins is 0",
                     "metadata column 'flag' left out: a single value among the seen documents"]
    one_source = metadata_groupings({"source": ["a"] * 60}, seen, [], 20, 4)
    assert one_source == []  # one source: no regions to compare


def test_minhash_bands_join_documents_that_share_one():
    sig = lambda *v: np.array(v, dtype=np.uint32)  # noqa: E731 - 2 bands of 2 rows
    comp = band_components([sig(1, 2, 3, 4), sig(1, 2, 9, 9), sig(7, 7, 9, 9), sig(5, 5, 6, 6), None], 2, 2)
    assert comp.tolist() == [0, 0, 0, 3, -1]  # 0-1 share band 0, 1-2 band 1; 3 alone; 4 has none
    base = "the quick brown fox jumps over the lazy dog near the river bank today "
    texts = {0: base * 3, 2: base * 3 + "again", 3: "completely different words in this other text here now"}
    g = minhash_grouping(texts, 5, ["a", "b", "c", "d", "e"], bands=16, rows=4, shingle_size=5)
    assert g.labels == ["like a", None, "like a", None, None]


def test_kmeans_separates_two_blobs_the_same_way_every_time():
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.normal(0, 0.1, (6, 3)), rng.normal(5, 0.1, (4, 3))])
    index = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]
    g = kmeans_grouping(x, index, 11, k=2, seed=0)
    assert g.labels[0] is None and len(set(g.labels[1:7])) == 1 and len(set(g.labels[7:])) == 1
    assert g.labels[1] != g.labels[7] and g.labels == kmeans_grouping(x, index, 11, k=2, seed=0).labels


def test_hard_split_takes_the_hardest_fraction_by_trend():
    loss = np.array([1.0, 6.0, 5.0, NAN, 4.0, 2.0, 3.0])
    classes = np.array(["stuck", "learning", "stuck", "unknown", "rising", "stuck", "learning"], dtype=object)
    out = hard_split({"loss": loss}, 0.5, classes, examples=1, describe=lambda i: {"index": i})
    assert out["hard"] == 3 and out["loss_at_least"] == 4.0  # ceil(0.5 * 6 seen)
    assert {c: (out[c]["count"], out[c]["examples"]) for c in ("learning", "stuck", "rising", "unknown")} == {
        "learning": (1, [{"index": 1}]), "stuck": (1, [{"index": 2}]), "rising": (1, [{"index": 4}]),
        "unknown": (0, [])}
