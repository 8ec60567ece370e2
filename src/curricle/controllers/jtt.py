"""``jtt``: Just Train Twice (Liu et al., 2021, "Just Train Twice: Improving Group Robustness
without Training Group Information").

JTT trains twice: a first, plain run identifies the training examples it gets wrong (the
*error set*), and a second run trains on the data with the error set upsampled ``lambda_up``
times. Group labels are used only to report (and, in the paper, to choose hyperparameters on a
validation set), never to train. Here the first run is any curricle run that kept document
state (``hard-examples`` or ``jtt``, read with
:func:`~curricle.controllers.hard_examples.load_document_state`), and this run draws, within
each of its domains, every document of the error set ``factor`` times as often as the rest::

    error set = the top ``top`` fraction (rounded, at least one) of the documents the first
                run saw, by their latest mean loss, hardest first (ties: lower index first)
    p_i      ~ factor if i is in the error set, else 1     fixed for the whole run

The table goes to the sampler before the first batch, or with ``warmup_steps`` after that step
(plain draws until then); a step the stability guard skips moves no controller, so a table due
at one goes after the next step the guard lets through.

What follows the paper: two runs, an error set from the first run's own mistakes, a fixed
upweighting factor (``factor`` is lambda_up), and groups only for reporting (``groups`` with
no floors: ``group/share/...`` and ``eval/group_loss/...``, ``eval/worst_group_loss``). Where
it deviates, because a language-model document has no single label to get wrong: the error set
is the ``top`` fraction by the document's latest mean loss rather than the misclassified
examples (a loss from the document's last visit, so one seen early is judged by an older
model); the first run is its latest complete checkpoint, not an early-stopped ERM model chosen
on worst-group validation accuracy; and upsampling is a draw probability (documents are drawn
with replacement in proportion to it) rather than copies of the dataset, so the mixture
across domains stays with the schedule. The run keeps its own document state (the same arrays
as ``hard-examples``), so it can in turn be mined or be the first run of another.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from curricle.controllers.config import JTTConfig
from curricle.controllers.hard_examples import DocumentPrioritizer, DocumentState, load_document_state
from curricle.errors import CurricleError


def error_set(loss: np.ndarray, top: float) -> np.ndarray:
    """Indices of the ``top`` fraction (rounded, at least one) of the documents with a known
    ``loss`` (NaN: unseen), the highest first; ties go to the lower index."""
    loss = np.asarray(loss, dtype=np.float64)
    seen = np.flatnonzero(np.isfinite(loss))
    if len(seen) == 0:
        return seen
    k = max(1, int(round(top * len(seen))))
    order = np.lexsort((seen, -loss[seen]))  # by loss descending, then by index
    return seen[order[:k]]


class JTT(DocumentPrioritizer):
    name = "jtt"
    hf_refusal = "jtt draws documents by a first run's losses, which needs curricle's own sampler; use `curricle train`"
    priority_reason = "JTT: the first run's error set drawn `factor` times as often"

    def __init__(self, config: JTTConfig, context):
        super().__init__(config, context)
        self.first_step, arrays = load_document_state(config.run)
        kept = [d for d in self.domains if f"last/{d}" in arrays]
        self.targets = list(config.domains or kept)
        self.table: dict[str, np.ndarray] = {}
        self.errors: dict[str, np.ndarray] = {}
        for d in self.targets:
            if d not in kept:  # (only a domain the user named can be missing)
                raise CurricleError(f"controller.domains: {config.run} kept no document state of domain '{d}' "
                                    f"(it has: {', '.join(kept) or 'none'})")
            last = np.asarray(arrays[f"last/{d}"], dtype=np.float64)
            if len(last) != context.doc_counts[d]:
                raise CurricleError(f"controller.run: domain '{d}' has {len(last)} documents in {config.run} and "
                                    f"{context.doc_counts[d]} here (another store?)")
            self.errors[d] = error_set(last, config.top)
            p = np.ones(len(last))
            p[self.errors[d]] = config.factor
            self.table[d] = p / p.sum()
        self.docs = DocumentState(config, context, self.targets)
        #: Whether the table has gone to the sampler (None: resumed from a checkpoint from
        #: before this was kept; settled at the first step asked, see :meth:`doc_priorities`).
        self.table_set: bool | None = False

    def doc_priorities(self, step: int) -> dict[str, np.ndarray] | None:
        """The fixed table, once: at the first step at or after ``warmup_steps`` (default 0:
        before the first batch) that its hook asks for priorities, which is none the stability
        guard skipped (a skipped step moves no controller: the table waits for the next one)."""
        if self.table_set is None:  # it was set at warmup_steps exactly, if the run had got there
            self.table_set = step > self.config.warmup_steps
        if self.table_set or step < self.config.warmup_steps:
            return None
        self.table_set = True
        return dict(self.table)

    def extra_state(self) -> dict[str, Any]:
        return {**super().extra_state(), "table_set": self.table_set}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        super().load_extra_state(state)
        self.table_set = state.get("table_set")

    def summary(self, priorities: dict[str, np.ndarray]) -> dict[str, Any]:
        return {d: {"error_set": len(self.errors[d]), "documents": len(p), "factor": self.config.factor,
                    "first_run": str(self.config.run), "first_run_step": self.first_step,
                    "error_share": round(float(p[self.errors[d]].sum()), 6)} for d, p in priorities.items()}
