"""A side that is text, not a token store: documents as hashed word ids, so every section applies.

Curated outputs and task sets have no tokenizer of their own, and two versions of them may not
even share one. :func:`text_domain` splits each document into words with curation's word
regex (:data:`curricle.curate.words.WORD`, case-folded, so "The" and "the" are one word) and
maps each word to one of :data:`WORD_BINS` hash bins (CRC-32 of its UTF-8 bytes, so the same
word lands in the same bin on both sides and in every process). The bins are the side's
"tokens": the tokens section's unigram and bigram distances are word distributions, and the
mixture's shares count words. :class:`WordBins` remembers which words it saw in each bin;
:meth:`WordBins.decode` shows a bin as its most frequent word (for the words that moved most),
and both sides of a comparison share one (:func:`share_words`) so a word only NEW has still
reads as itself.

Hashing costs once per distinct word (a dict caches the bins), so building a side of ~20k
documents takes a second or two; the null splits then only re-select rows.
"""

from __future__ import annotations

import zlib
from collections import Counter
from typing import Sequence

import numpy as np

from curricle.curate.words import WORD
from curricle.drift.corpus import Corpus, DomainData, DomainDocs

#: Hash bins of the word "vocabulary" (a text side's ``vocab_size``).
WORD_BINS = 1 << 16


class WordBins:
    """Words to hash bins, and back to the most frequent word seen in a bin."""

    def __init__(self, bins: int = WORD_BINS):
        self.bins = bins
        self._bin: dict[str, int] = {}
        self.counts: dict[int, Counter] = {}
        """bin -> how often each word that hashed there was seen."""

    def encode(self, text: str) -> list[int]:
        """The bins of ``text``'s words, in order (counted for :meth:`decode`)."""
        out = []
        for w in WORD.findall(text.casefold()):
            b = self._bin.get(w)
            if b is None:
                b = self._bin[w] = zlib.crc32(w.encode("utf-8")) % self.bins
                self.counts[b] = Counter()
            self.counts[b][w] += 1
            out.append(b)
        return out

    def merge(self, other: WordBins) -> None:
        """Take ``other``'s words and counts in (both must use the same number of bins)."""
        if other.bins != self.bins:
            raise ValueError(f"word bins: {self.bins} and {other.bins}")
        for w, b in other._bin.items():
            self._bin.setdefault(w, b)
        for b, c in other.counts.items():
            self.counts.setdefault(b, Counter()).update(c)

    def word(self, b: int) -> str:
        """The most frequent word seen in bin ``b`` (ties: the first in sort order); ``#b`` for
        an empty bin."""
        c = self.counts.get(int(b))
        if not c:
            return f"#{int(b)}"
        top = max(c.values())
        return min(w for w, n in c.items() if n == top)

    def decode(self, ids: Sequence[int]) -> str:
        return " ".join(self.word(b) for b in ids)


def text_domain(domain: str, doc_ids: Sequence[str], texts: Sequence[str], words: WordBins,
                columns: dict[str, Sequence[float | None]] | None = None,
                labels: dict[str, Sequence] | None = None) -> DomainData:
    """One domain of a text side: the documents' word bins back to back, their numeric
    ``columns`` (None becomes NaN) and categorical ``labels``; ``text`` gives each text back."""
    texts = list(texts)
    encoded = [words.encode(t) for t in texts]
    lengths = np.fromiter((len(e) for e in encoded), dtype=np.int64, count=len(encoded))
    index = np.zeros(len(encoded) + 1, dtype=np.int64)
    np.cumsum(lengths, out=index[1:])
    tokens = np.fromiter((b for e in encoded for b in e), dtype=np.int64, count=int(index[-1]))
    cols = {name: np.array([np.nan if v is None else float(v) for v in values], dtype=np.float64)
            for name, values in (columns or {}).items()}
    data = DomainData(domain, np.asarray([str(i) for i in doc_ids], dtype=object), tokens, index, lengths, cols,
                      text=lambda i: texts[i])
    data.labels.update({name: np.asarray(list(values), dtype=object) for name, values in (labels or {}).items()})
    return data


def text_corpus(label: str, kind: str, domains: dict[str, DomainData], words: WordBins,
                snapshot: str | None = None, info: dict | None = None) -> Corpus:
    """A text side's :class:`~curricle.drift.corpus.Corpus` (every document of every domain)."""
    docs = {name: DomainDocs(data, np.arange(data.n_docs)) for name, data in sorted(domains.items())}
    corpus = Corpus(label, kind, docs, words.bins, snapshot, words.decode, dict(info or {}))
    corpus.info["words"] = words
    return corpus


def share_words(old: Corpus, new: Corpus) -> None:
    """Make two text sides decode bins from both sides' words (a word only NEW has reads as
    itself in OLD's list of moved words too). Sides that are not text are left alone."""
    a, b = old.info.get("words"), new.info.get("words")
    if not isinstance(a, WordBins) or not isinstance(b, WordBins) or a is b:
        return
    both = WordBins(a.bins)
    both.merge(a)
    both.merge(b)
    for side in (old, new):
        side.info["words"] = both
        side.decode = both.decode


__all__ = ["WORD_BINS", "WordBins", "text_domain", "text_corpus", "share_words"]
