"""Token distributions per domain, read from the store's memmaps.

Measures: ``unigram_js`` (Jensen-Shannon distance between the two sides' token frequencies)
and ``bigram_js`` (the same over adjacent token pairs within a document, hashed into
``bigram_buckets`` bins); the detail lists the tokens whose share moved most, decoded where
the side has its tokenizer.
"""

from __future__ import annotations

from curricle.drift.corpus import Corpus
from curricle.drift.sections.base import Section
from curricle.drift.stats import js_distance, top_moved


class TokensSection(Section):
    name = "tokens"

    def measure(self, old: Corpus, new: Corpus, detail: bool):
        out = []
        vocab = max(old.vocab_size, new.vocab_size)
        buckets = self.config.bigram_buckets
        for domain, od, nd in self.shared(old, new):
            u_old, u_new = od.unigram(vocab), nd.unigram(vocab)
            if u_old.sum() == 0 or u_new.sum() == 0:
                continue
            info = {}
            if detail:
                moved = top_moved(u_old, u_new, self.config.top_tokens)
                info = {"moved": [{"token": i, "text": _text(old, i), "old": round(p, 6), "new": round(q, 6)}
                                  for i, p, q in moved]}
            out.append(self.make("unigram_js", js_distance(u_old, u_new), domain, od.n_docs, nd.n_docs, **info))
            b_old, b_new = od.bigram(buckets), nd.bigram(buckets)
            if b_old.sum() and b_new.sum():
                out.append(self.make("bigram_js", js_distance(b_old, b_new), domain, od.n_docs, nd.n_docs))
        return out


def _text(corpus: Corpus, token: int) -> str | None:
    if corpus.decode is None:
        return None
    try:
        return corpus.decode([token])
    except Exception:  # noqa: BLE001 - an id outside the tokenizer's vocabulary: show the id only
        return None
