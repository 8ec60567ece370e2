"""A reference model's loss: did the documents get harder (or easier) for a fixed checkpoint?

Runs only with ``ref_model`` (``curricle drift --ref-model CHECKPOINT``): an HF checkpoint, or
a curricle run (its newest complete checkpoint), that reads the stores' tokens. Each document's
mean token loss (nats) is computed as ``prepare.reference_model`` computes its
``reference_loss`` column (:class:`~curricle.prepare.reference.CheckpointScorer`: the
document after an EOS, windows of ``ref_max_tokens``, on the CPU), for a sample of at most
``ref_max_docs`` documents per domain and side drawn by a seeded hash of their content, as
the content section draws its sample (:func:`~curricle.drift.hashing.content_sample`: two
sides holding the same documents, in any order, score the same ones), once (cached on the
domain's data); a split-half of OLD reads the sample's documents that fall in it.

Statistics per domain: ``mean_loss`` (|NEW's mean loss - OLD's|) and ``wasserstein/ref_loss``
(W1 in units of OLD's standard deviation, as the metadata section's). The detail has both
means, the quantile shifts and the documents that got harder: NEW's documents with the
highest loss, with their text.
"""

from __future__ import annotations

import math

import numpy as np

from curricle.drift.corpus import Corpus, DomainDocs
from curricle.drift.hashing import content_sample
from curricle.drift.sections.base import Section
from curricle.drift.stats import quantile_shift, scaled_wasserstein
from curricle.prepare.reference import CheckpointScorer

#: Sides whose tokens are hashed words (:mod:`curricle.drift.text`): nothing a model reads.
TEXT_KINDS = ("tasks", "curated")
#: NEW documents listed as the ones that got hardest.
EXAMPLES = 5
#: Characters of a document's text shown (token ids where there is no text: 50).
SNIPPET = 200


class ReferenceSection(Section):
    name = "reference"

    def __init__(self, config):
        super().__init__(config)
        self._scorer: CheckpointScorer | None = None

    def scorer(self, corpus: Corpus) -> CheckpointScorer:
        """The checkpoint, loaded once (checked against OLD's tokenizer where it has one)."""
        if self._scorer is None:
            cfg = self.config
            self._scorer = CheckpointScorer(cfg.ref_model, corpus.vocab_size, corpus.info.get("tokenizer_dir"),
                                            batch_docs=cfg.ref_batch_docs, max_tokens=cfg.ref_max_tokens,
                                            key="--ref-model")
        return self._scorer

    def losses(self, corpus: Corpus, docs: DomainDocs) -> tuple[np.ndarray, np.ndarray]:
        """The domain's sampled rows (ascending; drawn by content, as the content section draws
        its sample) and their mean token losses, scored once."""
        data, cfg = docs.data, self.config

        def make():
            rows = content_sample(data.content_hashes, cfg.ref_max_docs, cfg.seed)
            return rows, self.scorer(corpus).mean_losses(docs.documents(rows))

        return data.cached(("reference", str(cfg.ref_model), cfg.ref_max_docs, cfg.ref_max_tokens, cfg.seed), make)

    def measure(self, old: Corpus, new: Corpus, detail: bool):
        if old.kind in TEXT_KINDS or new.kind in TEXT_KINDS:
            return []  # their "tokens" are hashed words, not the checkpoint's (task sets: pass_rate)
        out = []
        for domain, od, nd in self.shared(old, new):
            (rows_o, loss_o), (rows_n, loss_n) = self.losses(old, od), self.losses(new, nd)
            in_o, in_n = np.isin(rows_o, od.rows), np.isin(rows_n, nd.rows)
            a, b = loss_o[in_o], loss_n[in_n]
            a, b = a[np.isfinite(a)], b[np.isfinite(b)]
            if not len(a) or not len(b):
                continue
            info = {}
            if detail:
                info = {"old_mean": _r(a.mean()), "new_mean": _r(b.mean()),
                        "quantile_shift": {q: _r(v) for q, v in quantile_shift(a, b).items()},
                        "harder": self._hardest(nd, rows_n[in_n], loss_n[in_n])}
            out.append(self.make("mean_loss", abs(b.mean() - a.mean()), domain, len(a), len(b), **info))
            out.append(self.make("wasserstein/ref_loss", scaled_wasserstein(a, b), domain, len(a), len(b)))
        return out

    @staticmethod
    def _hardest(docs: DomainDocs, rows: np.ndarray, loss: np.ndarray) -> list[dict]:
        data = docs.data
        order = [i for i in np.argsort(-np.nan_to_num(loss, nan=-np.inf), kind="stable") if np.isfinite(loss[i])]
        got = []
        for i in order[:EXAMPLES]:
            row = int(rows[i])
            text = data.text(row)[:SNIPPET] if data.text is not None else None
            got.append({"doc_id": str(data.doc_ids[row]), "loss": _r(loss[i]),
                        **({"text": text} if text is not None
                           else {"tokens": [int(t) for t in docs.documents(np.array([row]))[0][:50]]})})
        return got


def _r(x: float) -> float | None:
    x = float(x)
    return None if math.isnan(x) else round(x, 6)


__all__ = ["ReferenceSection"]
