"""``doremi``: online domain reweighting by excess loss over a reference model.

Xie et al., 2023, "DoReMi: Optimizing Data Mixtures Speeds Up Language Model Pretraining".
At each update, with the per-domain excess loss ``lambda_d = max(loss_d - ref_d, 0)`` and
``alpha_prev`` the mixture in use (Algorithm 1's previous, smoothed weights)::

    alpha'  =  alpha_prev * exp(step_size * lambda)      (exponentiated gradient ascent)
    alpha   =  (1 - smoothing) * alpha' / sum(alpha') + smoothing / K

with the paper's defaults ``step_size = 1`` and ``smoothing = 1e-3``. Domains where the model
is furthest above what the reference reached gain weight. Because each step starts from the
smoothed weights (here: the weights in use, after the shared floor and cap), no domain's
log-weight can run away: one that stops lagging the reference gives its weight back as soon
as others lag more. (An earlier version kept an unbounded running sum of excess losses, which
let the weights swing from one domain to the next; the benchmark's report showed it.) The paper computes per-example
excess loss against a reference model on the same batch; here ``loss_d`` is the model's
smoothed per-domain training loss and ``ref_d`` the reference's per-domain held-out loss, from
one of:

- ``reference.run``: a finished curricle run (its last ``eval/loss/<domain>``);
- ``reference.checkpoint``: an HF checkpoint, evaluated on this run's held-out rows at start;
- ``reference.steps``: curricle first trains a uniform-mixture reference of that many steps
  into ``RUN/reference`` (same model and data), then uses it as ``reference.run``.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from curricle.controllers.base import Controller
from curricle.controllers.config import DoReMiConfig
from curricle.errors import CurricleError


def reference_from_run(run_dir: Path, domains: list[str]) -> np.ndarray:
    """The last ``eval/loss/<domain>`` of each domain in ``run_dir/metrics.jsonl``."""
    path = Path(run_dir) / "metrics.jsonl"
    if not path.is_file():
        raise CurricleError(f"controller.reference.run: no metrics.jsonl in {run_dir}")
    found: dict[str, float] = {}
    for line in path.read_text().splitlines():
        m = json.loads(line)
        for d in domains:
            if isinstance(m.get(f"eval/loss/{d}"), float):
                found[d] = m[f"eval/loss/{d}"]
    missing = [d for d in domains if d not in found]
    if missing:
        raise CurricleError(f"controller.reference.run: {run_dir} has no held-out loss for domain '{missing[0]}'")
    return np.array([found[d] for d in domains])


class DoReMi(Controller):
    name = "doremi"

    def __init__(self, config: DoReMiConfig, domains, natural_tokens):
        super().__init__(config, domains, natural_tokens)
        self.reference: np.ndarray | None = None

    def set_reference(self, losses: np.ndarray) -> None:
        self.reference = np.asarray(losses, dtype=np.float64)

    def propose(self, step, signal, current):
        if self.reference is None:
            raise CurricleError("doremi: no reference losses were set")
        excess = np.where(np.isfinite(signal), np.maximum(signal - self.reference, 0.0), 0.0)
        logits = np.log(np.clip(current, 1e-12, None)) + self.config.step_size * excess
        alpha = np.exp(logits - logits.max())
        alpha = alpha / alpha.sum()
        c = self.config.smoothing
        alpha = (1 - c) * alpha + c / len(alpha)
        top = int(np.argmax(excess))
        return alpha, f"largest excess loss over the reference: '{self.domains[top]}' ({excess[top]:.3f})"

    def extra_state(self):
        return {"reference": None if self.reference is None else self.reference.tolist()}

    def load_extra_state(self, state):
        self.reference = None if state.get("reference") is None else np.array(state["reference"])
