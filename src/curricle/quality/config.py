"""``curricle quality train --config``: how the quality classifier is trained.

Defaults follow DCLM's fastText classifier (Li et al. 2024: reference documents against a
random sample of the corpus, word unigrams and bigrams) with three changes for a user's smaller
reference sets: fastText's small-data epochs and learning rate (25, 1.0; see ``epoch``), a
smaller embedding table (fastText's default 2M hash buckets x 100 dimensions make an 800 MB
file, curricle's 2^18 x 32 one of about 35 MB), and two more signals beside fastText's score,
a reference language model's perplexity and Gopher's statistics, combined by a logistic
regression (``features``; ``features: [fasttext]`` with ``bucket``, ``dim``, ``epoch`` and
``lr`` at fastText's defaults is DCLM's classifier as it was trained).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

Feature = Literal["fasttext", "perplexity", "gopher"]


class QualityTrainConfig(BaseModel):
    """Settings of ``curricle quality train`` (every field optional)."""

    model_config = ConfigDict(extra="forbid")

    text_field: str = Field("text", min_length=1)
    """The JSON Lines key (or Parquet column) holding a document's text."""
    max_docs_per_class: int | None = Field(100_000, ge=1)
    """At most this many documents of each class. Classes are balanced: both get
    ``min(positives, negatives, max_docs_per_class)`` documents, a seeded sample of the larger."""
    holdout_fraction: float = Field(0.1, gt=0, lt=1)
    """Share of each class held out of training and scored for the metrics."""
    seed: int = 0
    """Seed of the samples, the held-out split and fastText's initialisation."""
    threshold: float = Field(0.5, ge=0, le=1)
    """Score at or above which a held-out document counts as predicted reference-like, for
    precision and recall (AUC needs none)."""
    lowercase: bool = False
    """Lowercase texts for fastText, training and scoring (the model remembers it). The
    reference model always reads lowercased words; Gopher's statistics read the text as it is."""
    max_chars: int | None = Field(None, ge=1)
    """Train and score on the first this many characters of a document (None: all), for every
    feature."""
    features: list[Feature] = Field(default_factory=lambda: ["fasttext", "perplexity", "gopher"], min_length=1)
    """What the model reads: ``fasttext`` (the classifier's log-odds), ``perplexity`` (a
    reference bigram model's mean log-probabilities, as CCNet scores with KenLM) and ``gopher``
    (Gopher's repetition and shape statistics); see :mod:`curricle.quality.signals`.
    ``[fasttext]`` is fastText's probability as it is. Anything else: each is computed for
    every training document by a model fitted without its fold (``folds``), and a logistic
    regression on the standardized signals (scikit-learn's, C = 1) learns how much each counts;
    the score is its probability. Why all three by default: trained on 455 reference documents,
    fastText alone ranked a reference document above shuffled reference words 66% of the time
    and above a repeated reference span 57% (AUC 0.74 overall, ``benchmarks/quality_filter.py``):
    a bag of n-grams this small cannot see word order or repetition, which the other two
    measure."""
    folds: int = Field(5, ge=2)
    """Folds of the cross-fitting that gives the combiner its training signals (when
    ``features`` is not ``[fasttext]``): fastText and the reference model are fitted
    ``folds`` more times, each without one fold, so a document's signals never come from a
    model that saw it. Training takes about ``folds + 1`` times fastText's own time (2 halves
    it, for large reference sets)."""
    perplexity_max_docs: int = Field(10_000, ge=1)
    """The reference model is fitted on at most this many reference documents (a seeded
    sample of the training positives, in each fold too): its size grows with the distinct
    bigrams it has seen (about 3 million in 10,000 documents of 1,000 words, some 300 MB in
    memory and a model file of tens of MB)."""

    @field_validator("features")
    @classmethod
    def _distinct(cls, v: list[str]) -> list[str]:
        if len(set(v)) != len(v):
            raise ValueError(f"each feature at most once (got {v})")
        return v

    # fastText's train_supervised arguments
    dim: int = Field(32, ge=1)
    """Embedding dimensions (fastText ``dim``)."""
    word_ngrams: int = Field(2, ge=1)
    """Longest word n-gram used as a feature (fastText ``wordNgrams``; 2: DCLM's bigrams)."""
    bucket: int = Field(262_144, ge=1)
    """Hash buckets of the n-gram features (fastText ``bucket``). Very few (100) made fastText's
    training diverge here: a one-line error says so."""
    minn: int = Field(0, ge=0)
    """Shortest character n-gram (fastText ``minn``; 0: none, as DCLM)."""
    maxn: int = Field(0, ge=0)
    """Longest character n-gram (fastText ``maxn``)."""
    min_count: int = Field(1, ge=1)
    """A word occurring fewer times is left out of the vocabulary (fastText ``minCount``)."""
    epoch: int = Field(25, ge=1)
    """Passes over the training documents (fastText ``epoch``). 25 and ``lr`` 1.0: fastText's
    own advice for small training sets (its supervised tutorial); a reference set is typically
    thousands of documents, not the hundreds of thousands DCLM trained on with fastText's
    defaults (5 epochs, 0.1), which left every score near 0.5 on 900 documents here."""
    lr: float = Field(1.0, gt=0)
    """Learning rate (fastText ``lr``)."""
    threads: int = Field(1, ge=1)
    """fastText's training threads. 1 makes training exact (the same model file from the same
    inputs); more threads train faster but, as fastText's Hogwild updates race, not exactly
    reproducibly."""
