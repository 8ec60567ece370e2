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
   alpha and lambda are in ``RUN/mixture_log.jsonl``. A step the stability guard skips
   (NaN or a spike; its gradients are dropped) makes no update: computed before the guard
   judges the step, it is dropped then, and the step has no line and no part in the average.
2. **Main run**: a fresh model trained on the averaged weights
   (``mixture.schedule: {kind: static, weights_from: RUN/doremi_weights.json}``).

``rounds: n`` iterates (the paper's iterated DoReMi): round k trains its reference on round
k-1's averaged weights and a new proxy against it. The reference is ``reference.run`` (a
finished curricle run; its last checkpoint), ``reference.checkpoint`` (an HF checkpoint
directory) or ``reference.steps`` (curricle trains one first into ``RUN/reference``, on the
run's own mixture).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

import numpy as np

from curricle import atomic
from curricle.controllers.base import LOSS_WEIGHTING, Controller
from curricle.controllers.config import DoReMiConfig, ReferenceConfig, ScheduleControllerConfig
from curricle.errors import CurricleError
from curricle.mixture.config import StaticConfig
from curricle.train.checkpoint import latest_complete

if TYPE_CHECKING:
    from curricle.config import RunConfig

WEIGHTS_FILE = "doremi_weights.json"

#: Trains one run: ``(config, run_dir, resume, reference=False) -> {"metrics", "trainer"}``
#: (curricle train's; ``reference=True``: a reference run, at its own length, without the
#: run's extra hooks).
TrainOne = Callable[..., dict[str, Any]]


def reference_model_dir(run_dir: Path) -> Path:
    """The last complete checkpoint of a finished curricle run (its HF model directory)."""
    found = latest_complete(Path(run_dir) / "checkpoints")
    if found is None:
        raise CurricleError(f"controller.reference.run: no complete checkpoint under {Path(run_dir) / 'checkpoints'}")
    return found[1]


def reference_dir(reference: ReferenceConfig) -> Path:
    """The reference model's HF directory: ``reference.checkpoint``, or a finished run's last
    checkpoint (``reference.run``); ``reference.steps`` must have been trained first
    (:meth:`DoReMi.train` does it)."""
    if reference.steps is not None:
        raise CurricleError("controller.reference.steps: the reference run must be trained first "
                            "(curricle train does this; build_trainer alone takes reference.run)")
    return reference_model_dir(reference.run) if reference.run is not None else Path(reference.checkpoint)


class DoReMi(Controller):
    """The domain-weight state of a DoReMi proxy run (the proxy's hook feeds it)."""

    name = "doremi"
    role = LOSS_WEIGHTING
    needs = frozenset({"reference", "build_model"})
    in_hf_trainer = False
    hf_refusal = ("doremi's proxy weighs its loss by domain with a reference model beside it, which needs "
                  "curricle's own loop: train the proxy with `curricle train`, then give the HF run its "
                  "doremi_weights.json as a static mixture")

    def __init__(self, config: DoReMiConfig, context):
        if context.fixed_mixture is None:
            raise CurricleError("controller.kind: doremi's proxy samples from a fixed mixture; "
                                "mixture.schedule must be kind 'static'")
        super().__init__(config, context)
        k = len(self.domains)
        self.alpha = np.full(k, 1.0 / k)
        self.average = np.zeros(k)
        self.updates = 0
        self.scores = np.zeros(k)

    def update(self, step, stats):
        return None  # the proxy samples from a fixed mixture; its weights go into the loss

    @classmethod
    def train(cls, config: "RunConfig", run_dir: Path, resume: bool, train_one: TrainOne) -> dict[str, Any]:
        """The proxy run, after its reference run when ``reference.steps`` asks for one; with
        ``rounds: n``, rounds 2..n under ``RUN/round-<k>``, each with a reference trained on the
        previous round's averaged weights, and the last round's weights (with every round's)
        in ``RUN/doremi_weights.json``."""
        rounds = config.controller.rounds
        result = train_one(_with_reference_run(config, run_dir, train_one), run_dir, resume)
        for k in range(2, rounds + 1):
            previous = run_dir / (WEIGHTS_FILE if k == 2 else f"round-{k - 1}/{WEIGHTS_FILE}")
            mixture = config.mixture.model_copy(update={"schedule": StaticConfig(weights_from=previous)})
            round_dir = run_dir / f"round-{k}"
            ref_config = _with_reference_run(config.model_copy(update={"mixture": mixture}), round_dir, train_one)
            proxy = config.model_copy(update={"controller": ref_config.controller})
            result = train_one(proxy, round_dir, resume and latest_complete(round_dir / "checkpoints") is not None)
        if rounds > 1 and result["trainer"].dist.is_main:
            final = json.loads((run_dir / f"round-{rounds}" / WEIGHTS_FILE).read_text())
            final["rounds"] = [json.loads((run_dir / (WEIGHTS_FILE if k == 1 else f"round-{k}/{WEIGHTS_FILE}"))
                                          .read_text())["weights"] for k in range(1, rounds + 1)]
            atomic.write_text(run_dir / WEIGHTS_FILE, json.dumps(final, indent=1))
        return result

    def step(self, excess_sums: np.ndarray, token_counts: np.ndarray) -> np.ndarray:
        """One update from the step's clipped excess-loss sums and token counts per domain
        (:meth:`next_update`, then :meth:`apply`); the new alpha."""
        self.apply(*self.next_update(excess_sums, token_counts))
        return self.alpha

    def next_update(self, excess_sums: np.ndarray, token_counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(scores, alpha)`` after one update from the step's clipped excess-loss sums and
        token counts per domain, without applying it (the hook applies it once the guard let
        the step through)."""
        means = np.asarray(excess_sums, dtype=np.float64) / np.maximum(token_counts, 1)
        # a domain without tokens, or whose excess loss is not finite (a bad proxy step), keeps
        # its score: one NaN would otherwise make every later weight NaN
        present = (np.asarray(token_counts) > 0) & np.isfinite(means)
        scores = np.where(present, means, self.scores)
        logits = np.log(self.alpha) + self.config.step_size * scores
        soft = np.exp(logits - logits.max())
        soft /= soft.sum()
        c = self.config.smoothing
        return scores, (1 - c) * soft + c / len(soft)

    def apply(self, scores: np.ndarray, alpha: np.ndarray) -> None:
        """Take an update of :meth:`next_update`: the new scores and alpha, counted in the average."""
        self.scores, self.alpha = scores, alpha
        self.updates += 1
        self.average = (self.average * (self.updates - 1) + self.alpha) / self.updates

    def state_dict(self):
        return {"name": self.name, "alpha": self.alpha.tolist(), "average": self.average.tolist(),
                "updates": self.updates, "scores": self.scores.tolist()}

    def load_state_dict(self, state):
        self.alpha = np.array(state["alpha"])
        self.average = np.array(state["average"])
        self.updates = int(state["updates"])
        self.scores = np.array(state["scores"])


def _with_reference_run(config: "RunConfig", run_dir: Path, train_one: TrainOne) -> "RunConfig":
    """``controller.reference.steps``: train a reference on the run's own mixture into
    RUN/reference (once; a finished one is reused) and point the controller at it."""
    ref = config.controller.reference
    if ref.steps is None:
        return config
    ref_dir = run_dir / "reference"
    found = latest_complete(ref_dir / "checkpoints")
    if found is None or found[0] < ref.steps:
        ref_train = config.train.model_copy(update={"steps": ref.steps, "eval_every": ref.steps,
                                                    "checkpoint": config.train.checkpoint.model_copy(
                                                        update={"every": ref.steps})})
        ref_config = config.model_copy(update={"train": ref_train, "controller": ScheduleControllerConfig()})
        train_one(ref_config, ref_dir, found is not None, reference=True)
    controller = config.controller.model_copy(update={"reference": ref.model_copy(update={"run": ref_dir, "steps": None})})
    return config.model_copy(update={"controller": controller})
