"""``--by loss``: an EL2N-style score from a short proxy run (Paul et al. 2021 score each
example by its error early in training): each document's latest mean loss in the
``hard-examples`` controller's state (``last/<domain>``) of the run's newest complete
checkpoint. The run must have trained on this store with the pruned domains prioritized;
documents it never saw have no score and are kept (counted as ``unscored``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from safetensors.numpy import load_file

from curricle.errors import CurricleError
from curricle.prune.base import PruneMetric
from curricle.store import DomainSplit
from curricle.train.checkpoint import latest_complete
from curricle.train.parts import ARRAYS_FILE

try:  # the signals part's reader of the controller state, where it exists
    from curricle.controllers.hard_examples import load_document_state
except ImportError:  # pragma: no cover - depends on which parts are merged
    load_document_state = None


def _document_state(run_dir: Path) -> tuple[int, dict[str, np.ndarray]]:
    """Step and controller arrays of ``run_dir``'s newest complete checkpoint (a stand-in for
    ``curricle.controllers.hard_examples.load_document_state``: the same keys, read from
    ``arrays.safetensors`` under ``controller/``)."""
    found = latest_complete(Path(run_dir) / "checkpoints")
    if found is None:
        raise CurricleError(f"--run: no complete checkpoint under {Path(run_dir) / 'checkpoints'}")
    step, path = found
    arrays = load_file(str(path / ARRAYS_FILE)) if (path / ARRAYS_FILE).is_file() else {}
    return step, {k[len("controller/"):]: v for k, v in arrays.items() if k.startswith("controller/")}


class LossMetric(PruneMetric):
    name = "loss"

    def __init__(self, config, store, progress=None):
        super().__init__(config, store, progress)
        reader = load_document_state or _document_state
        self.step, self.arrays = reader(config.run)

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
