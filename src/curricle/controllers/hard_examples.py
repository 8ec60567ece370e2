"""``hard-examples``: within a domain, draw documents by how hard they were last time.

Loss-prioritized sampling at the document level, after Loshchilov & Hutter, 2015, "Online
Batch Selection for Faster Training of Neural Networks" (rank-based selection), in the spirit
of Jiang et al., 2019, "Accelerating Deep Learning by Focusing on the Biggest Losers". For each
document of the chosen domains the controller keeps its most recent mean loss, when it was
seen, and how often it was served. At each update the sampler gets, per domain, draw
probabilities from the estimates::

    stale_i  = mean + (last_i - mean) * staleness ** (step - seen_i)   an old estimate fades to the mean
    rank:    p_i ~ exp(-ln(s_e) * r_i / N)    r_i: rank of stale_i, hardest 0 (ties share their mean rank)
    loss:    p_i ~ stale_i ** (1 / temperature)
    p_i      = 0 where served_i >= max_serves                         (all capped: the cap is lifted)

Unseen documents count as hard as the hardest. With ``priority: rank`` (the default, as in the
paper) the hardest document is drawn about ``selection_pressure`` (s_e, 100) times as often as
the easiest, whatever the losses' scale: with losses of 6-7 nats, ``loss`` draws are nearly
uniform. Hard documents come back more often, easy ones are not starved (their estimates fade
back toward the mean), and none repeats without bound. The mixture weights across domains are
left to the schedule.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from curricle.controllers.base import DOCUMENTS, Controller
from curricle.controllers.config import HardExamplesConfig


def mean_ranks(x: np.ndarray) -> np.ndarray:
    """0-based ranks of ``x`` in ascending order, equal values sharing the mean of their ranks."""
    _, inverse, counts = np.unique(x, return_inverse=True, return_counts=True)
    first = np.cumsum(counts) - counts
    return (first + (counts - 1) / 2.0)[inverse]


class HardExamples(Controller):
    name = "hard-examples"
    role = DOCUMENTS
    needs = frozenset({"doc_counts"})
    in_hf_trainer = False
    hf_refusal = ("hard-examples ranks documents, which needs curricle's own sampler state per document; "
                  "use `curricle train` for it")

    def __init__(self, config: HardExamplesConfig, context):
        super().__init__(config, context)
        self.targets = list(config.domains or self.domains)
        counts = context.doc_counts
        self.last = {d: np.full(counts[d], np.nan, dtype=np.float64) for d in self.targets}
        self.seen = {d: np.zeros(counts[d], dtype=np.int64) for d in self.targets}
        self.served = {d: np.zeros(counts[d], dtype=np.int32) for d in self.targets}

    @property
    def doc_domains(self) -> list[str]:
        return list(self.targets)

    def observe_docs(self, step: int, doc_losses: list[tuple[str, int, float]]) -> None:
        """Record (domain, document, mean loss) of the documents in this step's rows."""
        for domain, doc, loss in doc_losses:
            if domain in self.last:
                self.last[domain][doc] = loss
                self.seen[domain][doc] = step
                self.served[domain][doc] += 1

    def doc_priorities(self, step: int) -> dict[str, np.ndarray] | None:
        if step < self.config.warmup_steps or step % self.config.update_every:
            return None
        out = {}
        for d in self.targets:
            last, seen, served = self.last[d], self.seen[d], self.served[d]
            known = np.isfinite(last)
            if not known.any():
                continue
            mean = float(last[known].mean())
            stale = np.where(known, mean + (last - mean) * self.config.staleness ** (step - seen), np.nan)
            stale = np.where(known, stale, np.nanmax(stale))  # unseen: as hard as the hardest
            if self.config.priority == "rank":
                p = np.exp(-np.log(self.config.selection_pressure) * mean_ranks(-stale) / len(stale))
            else:
                p = np.clip(stale, 1e-6, None) ** (1.0 / self.config.temperature)
            capped = served >= self.config.max_serves
            if not capped.all():
                p = np.where(capped, 0.0, p)
            out[d] = p / p.sum()
        return out or None

    def propose(self, step, signal, current):
        return None  # the mixture across domains stays with the schedule

    def summary(self, priorities: dict[str, np.ndarray]) -> dict[str, Any]:
        """What changed, for the audit log: per domain the most favoured documents and how
        concentrated the distribution is (effective number of documents)."""
        out = {}
        for d, p in priorities.items():
            top = np.argsort(-p, kind="stable")[:5]
            out[d] = {"top_docs": top.tolist(), "top_probs": [round(float(x), 6) for x in p[top]],
                      "effective_docs": float(1.0 / np.sum(p * p)), "capped": int((self.served[d] >= self.config.max_serves).sum())}
        return out

    def array_state(self) -> dict[str, np.ndarray]:
        out = {}
        for d in self.targets:
            out[f"last/{d}"], out[f"seen/{d}"], out[f"served/{d}"] = self.last[d], self.seen[d], self.served[d]
        return out

    def load_array_state(self, arrays: dict[str, np.ndarray]) -> None:
        for d in self.targets:
            self.last[d] = np.asarray(arrays[f"last/{d}"], dtype=np.float64).copy()
            self.seen[d] = np.asarray(arrays[f"seen/{d}"], dtype=np.int64).copy()
            self.served[d] = np.asarray(arrays[f"served/{d}"], dtype=np.int32).copy()


def doc_losses(batch, token_loss, domains: list[str]) -> list[tuple[str, int, float]]:
    """Mean loss of each document piece in ``batch.segments``. A label at column ``c`` of a
    row (token ``c``, predicted from ``c - 1``) belongs to the document owning token ``c``."""
    out = []
    tl = token_loss.detach().float().cpu()  # (b, L): loss of predicting token c + 1
    for row, a, b, d, doc in batch.segments or []:
        lo, hi = max(a, 1) - 1, b - 1
        if hi > lo:
            out.append((domains[d], doc, float(tl[row, lo:hi].mean())))
    return out
