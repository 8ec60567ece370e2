"""What a quality model reads beside fastText: a reference language model's perplexity and
Gopher's repetition and shape statistics (imports datatrove: load lazily).

A bag of word unigrams and bigrams learned from a few thousand reference documents cannot see
two kinds of junk that real corpora are full of: text made of the reference's own words in no
order (its unigrams are the reference's, its bigrams are unseen, and fastText averages the
unseen ones in at nothing), and a span repeated to a document's length (its n-grams are the
reference's). The field catches those with two other signals, and these are they:

- **Perplexity under a reference language model**, as CCNet (Wenzek et al. 2020) scores web
  text against a Wikipedia KenLM model. :class:`ReferenceLM` is an interpolated Kneser-Ney
  bigram model (one discount, 0.75; Chen & Goodman 1998) of the reference documents' words,
  lowercased (:data:`~curricle.curate.words.PROSE_WORD`: words and single punctuation marks).
  Its signals are a document's mean log-probability per word under the bigram model and under
  its unigram (continuation) distribution alone: their difference is how much the previous
  word helps predict the next, large for prose and near nothing for shuffled words. Written by
  hand: KenLM's Python package only queries models (training is its ``lmplz`` binary, which no
  wheel ships) and NLTK's ``KneserNeyInterpolated`` took 1.3 s a document where a dictionary of
  precomputed log-probabilities takes 0.2 ms (the benchmark's corpus, 2-core machine).
- **Gopher's statistics** (Rae et al. 2021): its repetition statistics, as datatrove's
  ``GopherRepetitionFilter`` computes them before it thresholds them (the character share of
  the most frequent 2-, 3- and 4-gram, the character share of duplicated 5- to 10-grams as
  datatrove's ``find_all_duplicate`` counts them, and the duplicated-line share, of lines and of
  characters, with datatrove's ``find_duplicates`` on the non-blank lines, where datatrove
  splits on runs of newlines and keeps blank ones), and four shape statistics in the manner of
  its quality filter, written here: the word count (log), the mean word length, the share of
  distinct words and the share of words with a letter, over every word and punctuation mark
  (Gopher's filter counts words only, and has no distinct-word share). Words are split by
  :data:`~curricle.curate.words.PROSE_WORD`, as curate's ``quality`` step splits them for
  datatrove. Gopher's rules cut each at a threshold set for
  English web text; a quality model learns from the user's reference documents how much each
  counts (the rules dropped 79% of Python's documentation prose in
  ``benchmarks/quality_filter.py``). The top n-gram's share is written here rather than taken
  from datatrove's ``find_top_duplicate``: the same value (tested equal on the built-in prose
  and planted junk), 2.5x faster, counting tuples of words where datatrove joins each n-gram
  into a string first. So is the duplicated n-gram share (:func:`dup_ngram_chars`: datatrove's
  walk over the positions whose n-gram's hash another position shares, tested equal to
  ``find_all_duplicate``; 2.7x faster on the built-in prose, half of whose documents repeat
  some 5-gram).
"""

from __future__ import annotations

import math
import re
from collections import Counter
from typing import Any, Iterable, Sequence

import numpy as np
from datatrove.pipeline.filters.gopher_repetition_filter import find_duplicates

from curricle.curate.words import PROSE_WORD
from curricle.errors import CurricleError

#: A word with a letter, counted once (words are joined by spaces first).
LETTER = re.compile(r"[^\W\d_]\S*")
BOS, EOS = "<s>", "</s>"
DISCOUNT = 0.75
PERPLEXITY_NAMES = ("lm_bigram_logprob", "lm_unigram_logprob")
TOP_NGRAMS = (2, 3, 4)
DUP_NGRAMS = (5, 6, 7, 8, 9, 10)
GOPHER_NAMES = ("dup_line_share", "dup_line_char_share", *(f"top_{n}_gram_char_share" for n in TOP_NGRAMS),
                *(f"dup_{n}_gram_char_share" for n in DUP_NGRAMS), "log_words", "mean_word_chars",
                "distinct_word_share", "alpha_word_share")


def top_ngram_chars(words: Sequence[str], n: int) -> int:
    """Characters of the most frequent word n-gram (words joined by spaces) times its count;
    the first to reach the top count wins a tie, as datatrove's ``find_top_duplicate``."""
    grams = Counter(zip(*(words[i:] for i in range(n))))
    if not grams:
        return 0
    top, count = grams.most_common(1)[0]
    return (sum(map(len, top)) + n - 1) * count


#: The polynomial hash of :func:`dup_ngram_chars` (mod 2**64): an odd base and its inverse.
HASH_BASE = 0x9E3779B97F4A7C15
HASH_INV = pow(HASH_BASE, -1, 2 ** 64)
_powers: list[np.ndarray] = []  # [INV^(j+1), BASE^(j+1)] for j < a length that grows as needed
#: The longest text whose powers are kept between calls (16 bytes a character); a longer one's
#: are computed for it alone.
MAX_KEPT_POWERS = 1 << 20


def _hash_powers(n: int) -> tuple[np.ndarray, np.ndarray]:
    if _powers and len(_powers[0]) >= n:
        return _powers[0], _powers[1]
    size = max(n, min(2 * len(_powers[0]) if _powers else 4096, MAX_KEPT_POWERS))
    with np.errstate(over="ignore"):
        powers = [np.cumprod(np.full(size, h, dtype=np.uint64)) for h in (HASH_INV, HASH_BASE)]
    if size <= MAX_KEPT_POWERS:
        _powers[:] = powers
    return powers[0], powers[1]


def dup_ngram_chars(words: Sequence[str], ns: Sequence[int]) -> list[int]:
    """datatrove's ``find_all_duplicate(words, n)`` for each ``n`` in ``ns``, the same numbers
    (tested equal), faster: the characters of the n-grams (words joined with no separator, as
    datatrove joins them) that repeat one seen earlier in its walk (a repeat jumps ``n`` words
    ahead).

    Each joined n-gram gets a polynomial hash of its characters (mod 2**64, every position at
    once with numpy). Equal strings have equal hashes, so an n-gram whose hash no other
    position shares is never a repeat and never repeated: the walk compares exact strings at
    the other positions only, and a document where no hash is shared (most prose) has nothing
    to walk. A hash collision only sends a position to the exact comparison."""
    k = len(words)
    if k == 0:
        return [0] * len(ns)
    text = "".join(words)
    starts = np.zeros(k + 1, dtype=np.int64)
    np.cumsum(np.fromiter(map(len, words), dtype=np.int64, count=k), out=starts[1:])
    # one code unit a code point, as len() counts them (a lone surrogate included)
    codes = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32).astype(np.uint64)
    inv, base = _hash_powers(len(codes) + 1)
    prefix = np.zeros(len(codes) + 1, dtype=np.uint64)
    with np.errstate(over="ignore"):
        np.cumsum(codes * inv[:len(codes)], out=prefix[1:])  # prefix[t]: the sum of c_j INV^(j+1) over j < t
    out = []
    for n in ns:
        m = k - n + 1
        if m <= 1:
            out.append(0)
            continue
        a = starts[:m]
        with np.errstate(over="ignore"):
            h = (prefix[starts[n:]] - prefix[a]) * base[a]  # sum of c_j INV^(j - a)
        order = np.argsort(h, kind="stable")
        same = h[order[1:]] == h[order[:-1]]  # sorted neighbours with equal hashes
        if not same.any():
            out.append(0)
            continue
        shared = np.zeros(m, dtype=bool)
        shared[order[1:][same]] = shared[order[:-1][same]] = True
        seen: set[str] = set()
        repeated, idx = 0, 0
        for i in np.flatnonzero(shared).tolist():
            if i < idx:  # inside a repeat the walk jumped over
                continue
            gram = text[starts[i]:starts[i + n]]
            if gram in seen:
                repeated += len(gram)
                idx = i + n
            else:
                seen.add(gram)
        out.append(repeated)
    return out


def gopher_signals(text: str) -> list[float]:
    """Gopher's repetition and shape statistics of ``text``, in :data:`GOPHER_NAMES`' order."""
    chars = max(1, len(text))
    lines = [line for line in text.split("\n") if line.strip()]
    dup_lines, dup_line_chars = find_duplicates(lines)
    words = PROSE_WORD.findall(text)
    out = [dup_lines / max(1, len(lines)), dup_line_chars / chars]
    out.extend(top_ngram_chars(words, n) / chars for n in TOP_NGRAMS)
    out.extend(c / chars for c in dup_ngram_chars(words, DUP_NGRAMS))
    n_words = len(words)
    out += [math.log1p(n_words),
            sum(map(len, words)) / n_words if n_words else 0.0,
            len(set(words)) / n_words if n_words else 0.0,
            len(LETTER.findall(" ".join(words))) / n_words if n_words else 0.0]
    return out


def lm_words(text: str) -> list[str]:
    """A document as the reference model reads it: lowercased words and punctuation marks."""
    return PROSE_WORD.findall(text.lower())


class ReferenceLM:
    """An interpolated Kneser-Ney bigram model of reference documents.

    With ``c(a, b)`` the bigram counts (each document between ``<s>`` and ``</s>``), ``c(a)``
    their sum over ``b``, ``T(a)`` the number of distinct words after ``a``, ``N(b)`` the number
    of distinct words before ``b`` and ``N`` the number of distinct bigrams::

        p(b | a) = max(c(a, b) - d, 0) / c(a) + d T(a) / c(a) * pc(b)
        pc(b)    = (N(b) + 1) / (N + V + 1)        (V words seen after something, one unknown)

    and ``p(b | a) = pc(b)`` after a word never seen as a context. Log-probabilities of the seen
    bigrams, of the backoff weights and of ``pc`` are computed once, so scoring is a dictionary
    lookup per word.
    """

    def __init__(self, unigram: dict[str, float], unknown: float, backoff: dict[str, float],
                 bigram: dict[tuple[str, str], float], discount: float = DISCOUNT):
        self.discount = discount
        self.unigram = unigram
        self.unknown = unknown
        self.backoff = backoff
        self.bigram = bigram

    @classmethod
    def fit(cls, texts: Iterable[str], discount: float = DISCOUNT) -> "ReferenceLM":
        if not 0 < discount < 1:
            raise ValueError(f"discount must be in (0, 1), got {discount}")
        counts: Counter[tuple[str, str]] = Counter()
        for text in texts:
            w = [BOS, *lm_words(text), EOS]
            counts.update(zip(w, w[1:]))
        if not counts:
            raise CurricleError("quality train: the reference documents have no words for the reference model")
        context: Counter[str] = Counter()
        after: Counter[str] = Counter()
        before: Counter[str] = Counter()
        for (a, b), c in counts.items():
            context[a] += c
            after[a] += 1
            before[b] += 1
        denom = len(counts) + len(before) + 1
        unigram = {b: math.log((n + 1) / denom) for b, n in before.items()}
        backoff = {a: math.log(discount * after[a] / c) for a, c in context.items()}
        bigram = {(a, b): math.log((c - discount) / context[a] + discount * after[a] / context[a]
                                   * math.exp(unigram[b]))
                  for (a, b), c in counts.items()}
        return cls(unigram, math.log(1 / denom), backoff, bigram, discount)

    def signals(self, text: str) -> list[float]:
        """Mean log-probability per predicted word (``</s>`` included) under the bigram model
        and under the unigram distribution ``pc`` alone, in :data:`PERPLEXITY_NAMES`' order."""
        uni, bi, unknown, backoff = self.unigram, self.bigram, self.unknown, self.backoff
        prev = BOS
        total_bi = total_uni = 0.0
        words = lm_words(text)
        words.append(EOS)
        for w in words:
            u = uni.get(w, unknown)
            b = bi.get((prev, w))
            total_bi += b if b is not None else backoff.get(prev, 0.0) + u
            total_uni += u
            prev = w
        return [total_bi / len(words), total_uni / len(words)]

    def to_json(self) -> dict[str, Any]:
        vocab = sorted(set(self.unigram) | set(self.backoff) | {w for pair in self.bigram for w in pair})
        index = {w: i for i, w in enumerate(vocab)}
        pairs = sorted(self.bigram)
        return {"format": "interpolated-kneser-ney-bigram", "discount": self.discount, "vocab": vocab,
                "unigram": [self.unigram.get(w) for w in vocab], "unknown": self.unknown,
                "backoff": [self.backoff.get(w) for w in vocab],
                "bigram": [[index[a], index[b], self.bigram[(a, b)]] for a, b in pairs]}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "ReferenceLM":
        vocab = data["vocab"]
        return cls({w: p for w, p in zip(vocab, data["unigram"]) if p is not None}, data["unknown"],
                   {w: p for w, p in zip(vocab, data["backoff"]) if p is not None},
                   {(vocab[a], vocab[b]): p for a, b, p in data["bigram"]}, data.get("discount", DISCOUNT))


def signal_matrix(texts: Sequence[str], lm: ReferenceLM | None, gopher: bool) -> np.ndarray:
    """Rows of the reference model's signals (when ``lm``) then Gopher's (when ``gopher``)."""
    rows = []
    for t in texts:
        row = lm.signals(t) if lm is not None else []
        if gopher:
            row = row + gopher_signals(t)
        rows.append(row)
    return np.array(rows, dtype=np.float64).reshape(len(texts), -1)
