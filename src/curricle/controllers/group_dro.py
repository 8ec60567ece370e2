"""``group-dro``: online Group DRO (Sagawa et al., 2020) on held-out loss, as a sampling mixture.

Sagawa, Koh, Hashimoto & Liang, 2020, "Distributionally Robust Neural Networks for Group
Shifts". This follows ``LossComputer.compute_robust_loss`` of the authors' release
(``kohpangwei/group_DRO``, ``loss.py``): the adversary's distribution ``q`` over groups (here
domains) starts uniform and takes an exponentiated-gradient step on each group's loss::

    q_d <- q_d * exp(eta * l_d)
    q   <- q / sum(q)

with ``eta = step_size`` (the release's ``robust_step_size``, default 0.01, kept here), and
``l_d`` the domain's held-out loss (``eval/loss/<d>``, nats per token), or with ``reference:
RUN`` its excess over that finished run's held-out loss (from its ``metrics.jsonl``): at its
last evaluation (``reference_at: final``, the default: what the reference reached, as DoReMi
measures a proxy's excess against a trained reference model and Oren et al. 2019 baseline
each topic's loss), or at this run's step (``same-step``; the config is refused when the
reference did not evaluate every domain there). ``reference: train`` trains that reference first
(:meth:`GroupDRO.train`): this run without the controller, at seed + 1, into ``RUN/reference``. With ``adjustment: C``, ``l_d + C / sqrt(n_d)`` (the release's
generalization adjustment, ``n_d`` its group's training count: here the domain's training
documents). The mixture is ``q``: sampling tokens in proportion to ``q`` gives, in expectation,
the gradient of the ``q``-weighted loss the release trains on. As released, there is no EMA,
floor or cap (``ema: 0``, ``min_weight: 0``, ``max_change: 1``); set them and they apply to the
weights in use, while ``q`` keeps its own course.

Where it departs from the release, and why:

- **when**: the release steps every minibatch on that minibatch's training loss; here ``q``
  steps at each evaluation (``train.eval_every``), on the held-out loss the issue asks to
  protect. With far fewer steps, ``eta = 0.01`` moves slowly: two domains 1 nat apart change
  their weight ratio by ``exp(0.01) ~ 1%`` per evaluation. To move as the release would have
  had the loss held between evaluations, use ``step_size`` = 0.01 x ``train.eval_every``;
  the default stays the release's, as curricle keeps released defaults;
- **the loss**: per-token nats per domain, not per-example loss per group (a scale the
  release's step size was not tuned for);
- **the excess** over a reference is not clipped at 0 (the release has no reference; DoReMi
  clips per token): a domain ahead of its reference gets a negative ``l_d`` and gives up
  weight, which clipping would hide;
- **a domain without held-out rows** at an evaluation (no ``eval/loss/<d>``) is not updated:
  it keeps its share of ``q``, and the step moves the rest among the domains measured then
  (:func:`group_dro_step`). Its loss of an earlier evaluation is not reused (it would be stale),
  and its signal in the audit line is null. (In the release every group of a batch has a
  loss or none of its weight moves by it.)

At each evaluation it adds the worst domain by ``l_d`` to the step's metrics
(``dro/worst_domain``, its held-out loss ``dro/worst_loss``, and with a reference
``dro/worst_excess``), and each update's audit reason names it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import numpy as np

from curricle.controllers.base import Controller, DomainStats
from curricle.controllers.config import GroupDROConfig, ScheduleControllerConfig, reference_eval_losses
from curricle.errors import CurricleError
from curricle.train.checkpoint import latest_complete

#: ``reference: train``: the reference run's seed is the run's plus this.
REFERENCE_SEED_OFFSET = 1
REFERENCE_DIR = "reference"


def group_dro_step(q: np.ndarray, losses: np.ndarray, step_size: float) -> np.ndarray:
    """One exponentiated-gradient step of the adversary: ``q * exp(step_size * l) / Z``. A
    domain without a loss (NaN) is not updated: it keeps its share of ``q``, and the domains
    with one share the rest by the step (``Z`` normalizes over them); with none, ``q`` stays."""
    seen = np.isfinite(losses)
    stepped = q * np.exp(step_size * np.where(seen, losses, 0.0))
    if seen.all():
        return stepped / stepped.sum()
    share = q / q.sum()
    if not seen.any():
        return share
    return np.where(seen, stepped / stepped[seen].sum() * share[seen].sum(), share)


class GroupDRO(Controller):
    name = "group-dro"
    updates_on = "eval"
    in_hf_trainer = False
    hf_refusal = ("group-dro reads the held-out losses of curricle's own evaluations, which an HF Trainer does not "
                  "give its controller; train with `curricle train`")

    @classmethod
    def train(cls, config: Any, run_dir: Path, resume: bool, train_one: Callable[..., dict[str, Any]]) -> dict[str, Any]:
        """With ``reference: train``, the reference run first (into ``RUN/reference``; a finished
        one is reused, a killed one resumed), then this run against it."""
        dro = config.controller
        if dro.reference != "train":
            return train_one(config, run_dir, resume)
        ref_dir = Path(run_dir) / REFERENCE_DIR
        found = latest_complete(ref_dir / "checkpoints")
        if found is None or found[0] < config.train.steps:
            ref = config.model_copy(update={"controller": ScheduleControllerConfig(),
                                            "seed": config.seed + REFERENCE_SEED_OFFSET})
            train_one(ref, ref_dir, found is not None, reference=True)
        run = config.model_copy(update={"controller": dro.model_copy(update={"reference": ref_dir})})
        return train_one(run, run_dir, resume)

    def __init__(self, config: GroupDROConfig, context):
        super().__init__(config, context)
        k = len(self.domains)
        self.q = np.full(k, 1.0 / k)
        self.reference: dict[int, dict[str, float]] | None = None
        if config.reference == "train":
            raise CurricleError("controller.reference: train: the reference run is trained by curricle train "
                                "(GroupDRO.train) before this controller is built; give a finished run's directory "
                                "here")
        if config.reference is not None:
            try:
                self.reference = reference_eval_losses(config.reference)
            except ValueError as err:
                raise CurricleError(str(err)) from None
        #: ``reference_at: final``: the reference's last evaluation, whatever this run's step
        self.final_step: int | None = None
        if self.reference is not None and config.reference_at == "final":
            if not self.reference:
                raise CurricleError(f"controller.reference: {config.reference} has no held-out evaluation to "
                                    f"measure against")
            self.final_step = max(self.reference)
        self.adjust = np.zeros(k)
        if config.adjustment > 0:
            if context.doc_counts is None:
                raise CurricleError("controller.adjustment: needs the domains' document counts, which this trainer "
                                    "does not give; use `curricle train`")
            self.adjust = config.adjustment / np.sqrt([float(context.doc_counts[d]) for d in self.domains])
        self.worst: tuple[str, float, float | None] | None = None  # (domain, loss, excess) of this evaluation

    def signal(self, stats: DomainStats) -> np.ndarray:
        """``l_d`` at an evaluation (NaN between them); notes the worst domain."""
        if stats.eval_loss is None:
            return np.full(len(self.domains), np.nan)
        loss = np.asarray(stats.eval_loss, dtype=np.float64)
        excess = None
        if self.reference is not None:
            at = stats.step if self.final_step is None else self.final_step
            ref = self.reference.get(at, {})
            missing = [d for d in self.domains if d not in ref]
            if missing:
                raise CurricleError(f"controller.reference: {self.config.reference} has no held-out loss of "
                                    f"'{missing[0]}' at step {at}")
            excess = loss - np.array([ref[d] for d in self.domains])
        objective = (loss if excess is None else excess) + self.adjust
        self.worst = None
        if not np.isfinite(objective).any():
            return objective
        w = int(np.nanargmax(objective))
        self.worst = (self.domains[w], float(loss[w]), None if excess is None else float(excess[w]))
        self.notes.metrics.update({"dro/worst_domain": self.domains[w], "dro/worst_loss": float(loss[w])})
        if excess is not None:
            self.notes.metrics["dro/worst_excess"] = float(excess[w])
        return objective

    def propose(self, step, signal, current):
        if self.worst is None:  # no domain has a held-out loss
            return None
        # A domain without held-out rows at this evaluation has no loss now; the one the shared
        # smoothing kept from an earlier evaluation is stale: dropped, so it is neither stepped
        # on nor logged as this update's signal.
        self.smoothed = np.where(np.isfinite(self.step_signal), signal, np.nan)
        self.q = group_dro_step(self.q, self.smoothed, self.config.step_size)
        domain, loss, excess = self.worst
        over = "" if excess is None else f", {excess:+.4f} over the reference"
        return self.q.copy(), (f"group DRO: worst domain '{domain}' (held-out loss {loss:.4f}{over}); "
                               f"q *= exp({self.config.step_size:g} l)")

    def extra_state(self) -> dict[str, Any]:
        return {"q": self.q.tolist()}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        self.q = np.array(state["q"], dtype=np.float64)
