"""``--by loss``: an EL2N-style score from a short proxy run (Paul et al. 2021 score each
example by its error early in training): each document's latest mean loss in the
``hard-examples`` controller's state (``last/<domain>``) of the run's newest complete
checkpoint. The run must have trained on this store with the pruned domains prioritized;
documents it never saw have no score and are kept (counted as ``unscored``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from curricle.controllers.hard_examples import load_document_state
from curricle.errors import CurricleError
from curricle.prune.base import PruneMetric
from curricle.store import DomainSplit

class LossMetric(PruneMetric):
    name = "loss"

    def __init__(self, config, store, progress=None):
        super().__init__(config, store, progress)
        self.step, self.arrays = load_document_state(config.run)

    def scores(self, domain: str, split: DomainSplit) -> np.ndarray:
        last = self.arrays.get(f"last/{domain}")
        if last is None:
            raise CurricleError(f"--run {self.config.run}: its checkpoint (step {self.step}) has no hard-examples "
                                f"losses for domain '{domain}'; train the proxy with controller.kind: hard-examples "
                                f"on it")
        if len(last) != split.n_docs:
            raise CurricleError(f"--run {self.config.run}: its losses of domain '{domain}' cover {len(last)} documents, "
                                f"the store's training split has {split.n_docs}; prune the store the run trained on")
        return np.asarray(last, dtype=np.float64)
