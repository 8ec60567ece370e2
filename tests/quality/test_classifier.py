"""The quality classifier on a literal planted split, and its model file."""

from __future__ import annotations

import json
import zipfile

import numpy as np
import pytest

from curricle.errors import CurricleError
from curricle.quality.classifier import (FORMAT, QualityClassifier, auc, binary_metrics, file_sha256, load_cached,
                                         normalize, train)
from curricle.quality.config import QualityTrainConfig

from tests.quality.corpus import planted

#: Small and fast: a 20,000-bucket table of 16 dimensions (1.3 MB), the default 25 epochs.
SMALL = QualityTrainConfig(dim=16, bucket=20_000)


@pytest.fixture(scope="module")
def trained():
    pos, neg = planted(range(0, 200))
    return train(pos, neg, SMALL)


def test_it_separates_planted_reference_from_junk_it_never_saw(trained):
    """Trained on 200 + 200 documents, scored on 100 + 100 others (disjoint seeds): AUC >= 0.95
    (it measured 0.97; training is exact, so this is a fixed number, not a flaky one)."""
    pos, neg = planted(range(1000, 1100))
    scores = trained.classifier.scores(pos + neg)
    labels = np.r_[np.ones(100, bool), np.zeros(100, bool)]
    m = binary_metrics(labels, scores, 0.5)
    assert m["auc"] >= 0.95
    assert m["recall"] == 1.0  # every reference document scores at least 0.5
    assert ((0 <= scores) & (scores <= 1)).all()
    # The held-out metrics of training itself: 10% of each class, 20 + 20 documents.
    h = trained.metrics["heldout"]
    assert (h["positives"], h["negatives"]) == (20, 20)
    assert trained.metrics["train"]["positives"] == trained.metrics["train"]["negatives"] == 180
    assert h["auc"] >= 0.9


def test_the_model_file_round_trips_exactly(trained, tmp_path):
    path = tmp_path / "m.zip"
    sha = trained.classifier.save(path)
    assert sha == file_sha256(path)
    loaded = QualityClassifier.load(path)
    texts = planted(range(500, 520))[0] + planted(range(500, 520))[1]
    assert loaded.scores(texts).tolist() == trained.classifier.scores(texts).tolist()
    assert loaded.sha256 == sha
    assert loaded.info["fasttext"] == {**{k: getattr(SMALL, k) for k in ("dim", "word_ngrams", "bucket", "minn", "maxn",
                                                                          "min_count", "epoch", "lr", "threads", "seed")},
                                       "loss": "softmax"}
    assert loaded.info["format"] == FORMAT and loaded.info["heldout"] == trained.metrics["heldout"]
    assert loaded.features == ["fasttext", "perplexity", "gopher"]
    with zipfile.ZipFile(path) as z:
        assert z.namelist() == ["model.json", "model.bin", "reference-lm.json"]
        assert json.loads(z.read("model.json"))["labels"] == {"positive": "__label__reference",
                                                             "negative": "__label__other"}
    assert load_cached(path) is load_cached(path)  # once per process


def test_training_is_exact(tmp_path):
    """The same inputs give the same model file, byte for byte (one training thread)."""
    pos, neg = planted(range(0, 40))
    a = train(pos, neg, SMALL).classifier.save(tmp_path / "a.zip")
    b = train(pos, neg, SMALL).classifier.save(tmp_path / "b.zip")
    assert a == b


def test_a_bad_model_file_is_one_line(tmp_path):
    with pytest.raises(CurricleError, match=r"^quality model .*nope.zip: no such file$"):
        QualityClassifier.load(tmp_path / "nope.zip")
    (tmp_path / "junk.zip").write_text("not a zip")
    with pytest.raises(CurricleError, match=r"junk.zip: not a curricle quality model"):
        QualityClassifier.load(tmp_path / "junk.zip")


@pytest.mark.parametrize("entry", ["model.bin", "reference-lm.json"])
def test_a_damaged_entry_is_refused(trained, tmp_path, entry):
    path = tmp_path / "m.zip"
    trained.classifier.save(path)
    with zipfile.ZipFile(path) as z:
        entries = {name: z.read(name) for name in z.namelist()}
    entries[entry] = entries[entry][:-10] + b"0" * 10
    with zipfile.ZipFile(tmp_path / "bad.zip", "w") as z:
        for name, data in entries.items():
            z.writestr(name, data)
    with pytest.raises(CurricleError, match=rf"bad.zip: {entry} does not match its recorded SHA-256 \(damaged file\)$"):
        QualityClassifier.load(tmp_path / "bad.zip")
    # Damaged inside the zip's compressed stream: still one line.
    with zipfile.ZipFile(path) as z:
        info = z.getinfo(entry)
        raw = bytearray(path.read_bytes())
    start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra)
    raw[start + 10 : start + 30] = bytes(20)
    (tmp_path / "torn.zip").write_bytes(bytes(raw))
    with pytest.raises(CurricleError, match=r"^quality model .*torn.zip: "):
        QualityClassifier.load(tmp_path / "torn.zip")
    del entries[entry]
    with zipfile.ZipFile(tmp_path / "short.zip", "w") as z:
        for name, data in entries.items():
            z.writestr(name, data)
    with pytest.raises(CurricleError, match=rf"short.zip: not a curricle quality model .*{entry}"):
        QualityClassifier.load(tmp_path / "short.zip")


def test_auc_counts_ties_half_and_metrics_are_exact():
    assert auc(np.array([1, 0, 1, 0]), np.array([0.9, 0.1, 0.5, 0.5])) == 0.875
    assert auc(np.array([0, 1]), np.array([0.9, 0.1])) == 0.0
    m = binary_metrics(np.array([1, 1, 0, 0]), np.array([0.9, 0.4, 0.6, 0.1]), 0.5)
    assert (m["precision"], m["recall"], m["accuracy"]) == (0.5, 0.5, 0.5)
    assert normalize("A  b\n\nC", lowercase=True, max_chars=4) == "a b"
