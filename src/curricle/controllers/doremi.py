"""``doremi``: domain weights by Group DRO over a proxy model, in two stages, as released.

Xie et al., 2023, "DoReMi: Optimizing Data Mixtures Speeds Up Language Model Pretraining";
this follows ``DoReMiTrainer`` in the authors' release (sangmichaelxie/doremi,
``doremi/trainer.py``, ``doremiv1``), with ``scripts/run_pile_*.sh`` for the stages:

1. **Proxy run** (``controller.kind: doremi``). A reference model (``controller.reference``)
   scores every batch beside the proxy being trained. At every optimizer step, from the
   step's tokens of all micro-batches and ranks::

       lambda_d = mean over domain d's tokens of max(loss_proxy - loss_reference, 0)
                  (per token, clipped before averaging; a domain absent from the step keeps
                  its previous lambda, which starts at 0)
       alpha    = (1 - c) * softmax(log alpha_prev + eta * lambda) + c / K     (alpha_0 uniform)

   and the proxy trains on ``sum_tokens w * loss / sum_tokens w`` with ``w = alpha_d / pi_d``
   for a token of domain d: ``pi`` is the fixed mixture the run samples from (the run's own
   static ``mixture.schedule``; uniform in the paper), so the importance weight makes the loss
   the alpha-weighted mixture of per-domain losses. The weights of the step are used for the
   loss of its last micro-batch, as the release does (earlier micro-batches of the step use
   the previous weights). The product is the average of alpha over all steps, written to
   ``RUN/doremi_weights.json`` (with the last alpha and the sampling mixture); each step's
   alpha and lambda are in ``RUN/mixture_log.jsonl``.
2. **Main run**: a fresh model trained on the averaged weights
   (``mixture.schedule: {kind: static, weights_from: RUN/doremi_weights.json}``).

``rounds: n`` iterates (the paper's iterated DoReMi): round k trains its reference on round
k-1's averaged weights and a new proxy against it. The reference is ``reference.run`` (a
finished curricle run; its last checkpoint), ``reference.checkpoint`` (an HF checkpoint
directory) or ``reference.steps`` (curricle trains one first into ``RUN/reference``, on the
run's own mixture).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from curricle.controllers.base import Controller
from curricle.controllers.config import DoReMiConfig
from curricle.errors import CurricleError
from curricle.train.checkpoint import latest_complete

WEIGHTS_FILE = "doremi_weights.json"


def reference_model_dir(run_dir: Path) -> Path:
    """The last complete checkpoint of a finished curricle run (its HF model directory)."""
    found = latest_complete(Path(run_dir) / "checkpoints")
    if found is None:
        raise CurricleError(f"controller.reference.run: no complete checkpoint under {Path(run_dir) / 'checkpoints'}")
    return found[1]


class DoReMi(Controller):
    """The domain-weight state of a DoReMi proxy run (the proxy's hook feeds it)."""

    name = "doremi"

    def __init__(self, config: DoReMiConfig, domains, natural_tokens):
        self.config = config
        self.domains = list(domains)
        self.natural = np.array([float(natural_tokens[d]) for d in self.domains])
        k = len(self.domains)
        self.alpha = np.full(k, 1.0 / k)
        self.average = np.zeros(k)
        self.updates = 0
        self.scores = np.zeros(k)

    def update(self, step, stats):
        return None  # the proxy samples from a fixed mixture; its weights go into the loss

    def step(self, excess_sums: np.ndarray, token_counts: np.ndarray) -> np.ndarray:
        """One update from the step's clipped excess-loss sums and token counts per domain."""
        present = np.asarray(token_counts) > 0
        means = np.asarray(excess_sums, dtype=np.float64) / np.maximum(token_counts, 1)
        self.scores = np.where(present, means, self.scores)
        logits = np.log(self.alpha) + self.config.step_size * self.scores
        soft = np.exp(logits - logits.max())
        soft /= soft.sum()
        c = self.config.smoothing
        self.alpha = (1 - c) * soft + c / len(soft)
        self.updates += 1
        self.average = (self.average * (self.updates - 1) + self.alpha) / self.updates
        return self.alpha

    def state_dict(self):
        return {"name": self.name, "alpha": self.alpha.tolist(), "average": self.average.tolist(),
                "updates": self.updates, "scores": self.scores.tolist()}

    def load_state_dict(self, state):
        self.alpha = np.array(state["alpha"])
        self.average = np.array(state["average"])
        self.updates = int(state["updates"])
        self.scores = np.array(state["scores"])
