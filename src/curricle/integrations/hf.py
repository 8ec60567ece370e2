"""curricle's mixture inside a Hugging Face ``Trainer``: keep your trainer, add the mixture.

- :class:`MixtureDataset`: an ``IterableDataset`` of packed, domain-pure rows from a prepared
  token store, drawn by curricle's :class:`~curricle.mixture.sampler.MixtureSampler` under a
  :class:`~curricle.mixture.config.MixtureConfig` (schedule, pacing, sequence length). Each
  example is ``{"input_ids", "labels", "domain_ids"}``; ``mixture.batch_rows`` must be the
  trainer's rows per optimizer step (``per_device_train_batch_size`` x processes x
  ``gradient_accumulation_steps``), so one sampler step is one optimizer step.
  ``input_ids`` and ``labels`` are both the sampler's whole row, ``seq_len + 1`` tokens: an HF
  causal LM shifts its labels itself, so it predicts the row's last ``seq_len`` tokens from the
  ones before them, the very targets and contexts of ``curricle train`` (which feeds
  ``tokens[:, :-1]`` and scores ``tokens[:, 1:]``), and no token a row draws goes unused (rows
  do not overlap: cutting the row to ``seq_len`` would drop its last token as a target). The
  model reads ``seq_len + 1`` positions, one more than in ``curricle train`` (the last one's
  prediction has no label); the callback checks, when training begins, that the model takes
  that many (its ``max_position_embeddings``), a one-line error otherwise.
- :class:`CurricleCallback`: a ``TrainerCallback`` that takes each row's domain off the batch
  before the model sees it, computes the exact per-domain training loss from the model's
  logits, writes it every optimizer step to ``OUT/domain_losses.jsonl``, and, with a
  controller, feeds it the step's statistics and gives the dataset the weights it chooses,
  every change logged with its signal in ``OUT/mixture_log.jsonl`` (the schema ``curricle
  train`` writes). Its state (the sampler's position, pending weights, the controller) is saved
  in each ``checkpoint-N`` directory (``curricle_state.json``, through the seam kit
  :mod:`curricle.hf`), so ``trainer.train(resume_from_checkpoint=...)`` continues the same
  stream; a resume is a ``resume`` event in ``OUT/events.jsonl``, and on a store of another
  snapshot a ``snapshot-changed`` event (and a warning) says which domains start fresh
  streams, as ``curricle train`` logs them.

The trainer needs ``remove_unused_columns=False`` (the rows carry their domain),
``ignore_data_skip=True`` (the dataset resumes itself instead of being replayed) and
``dataloader_num_workers=0`` (the callback sets weights on the dataset in this process); the
callback checks them when the trainer starts. A controller's weights apply from the second
optimizer step after the one that chose them: the data loader has drawn the next step's rows
already.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch.utils.data import IterableDataset

from curricle.config import parse_model
from curricle.controllers.base import Controller, ControllerContext, DomainStats, refusal_in_hf_trainer
from curricle.controllers.config import CONTROLLERS, ControllerConfig, DoReMiConfig
from curricle.errors import CurricleError
from curricle.hf.callback import StatefulCallback
from curricle.hf.snapshots import StepSnapshots
from curricle.mixture.config import MixtureConfig, max_seq_len
from curricle.mixture.sampler import MixtureSampler
from curricle.model.build import max_positions
from curricle.store import TokenStore

log = logging.getLogger(__name__)

STATE_FILE = "curricle_state.json"
LOSSES_LOG = "domain_losses.jsonl"
MIXTURE_LOG = "mixture_log.jsonl"
EVENTS = "events.jsonl"
_BATCH_HINT = "is mixture.batch_rows the trainer's rows per optimizer step?"


class MixtureDataset(IterableDataset):
    """curricle's mixture of ``data_dir`` (a prepared token store) as rows, step by step."""

    def __init__(self, data_dir: Path | str, mixture: MixtureConfig | dict, seed: int = 0):
        super().__init__()
        self.store = TokenStore(data_dir)
        self.mixture = mixture if isinstance(mixture, MixtureConfig) else parse_model(mixture, MixtureConfig, "mixture")
        self.sampler = MixtureSampler(self.store, self.mixture, seed=seed)
        self.domains = self.sampler.domains
        self._pending: dict[int, list[float]] = {}  # batch index -> weights to use from it on
        self._snapshots = StepSnapshots(owner="MixtureDataset", hint=_BATCH_HINT)  # sampler state before a batch
        self._weights = StepSnapshots(owner="MixtureDataset", hint=_BATCH_HINT)  # the weights a batch was drawn with

    def __iter__(self) -> Iterator[dict[str, torch.Tensor]]:
        while True:
            k = self.sampler.step
            if k in self._pending:
                self.sampler.set_weights(np.asarray(self._pending.pop(k)))
            self._snapshots.record(k, self.sampler.state_dict())
            batch = self.sampler.next_batch()
            self._weights.record(k, [float(w) for w in batch.weights])
            for row, domain in zip(batch.tokens, batch.domain_ids):  # row: (seq_len + 1,), see the module doc
                yield {"input_ids": row, "labels": row, "domain_ids": domain}

    def set_weights_from(self, batch: int, weights) -> None:
        """Draw batches from index ``batch`` (0-based optimizer step) on with ``weights``."""
        self._pending[batch] = [float(w) for w in weights]

    def weights_of(self, batch: int) -> list[float] | None:
        return self._weights.get(batch)

    def state_at(self, batch: int) -> dict[str, Any]:
        """The state to continue from batch index ``batch`` (after ``batch`` optimizer steps)."""
        sampler = self.sampler.state_dict() if batch == self.sampler.step else self._snapshots.state_at(batch)
        return {"sampler": sampler, "pending": {str(k): w for k, w in self._pending.items() if k >= batch}}

    def load_state(self, state: dict[str, Any]) -> None:
        self.sampler.load_state_dict(state["sampler"])
        self._pending = {int(k): w for k, w in state["pending"].items()}
        self._snapshots.clear()
        self._weights.clear()


class CurricleCallback(StatefulCallback):
    """Exact per-domain loss and (optionally) a curricle controller for an HF ``Trainer``
    training on ``dataset`` (see the module doc). ``controller``: a controller, or its
    config or config dict (built over the dataset's domains); DoReMi is refused in any form
    (its proxy needs curricle's own loop). ``out``: where the logs go (default: the
    trainer's ``output_dir``)."""

    state_file = STATE_FILE
    logs = (LOSSES_LOG, MIXTURE_LOG, EVENTS)

    def __init__(self, dataset: MixtureDataset,
                 controller: Controller | ControllerConfig | DoReMiConfig | dict | None = None,
                 out: Path | str | None = None):
        self.dataset = dataset
        # A controller that cannot run here (DoReMi, hard examples) is refused as a dict, a
        # config or a built controller alike, before its config is validated or built.
        if controller is not None and (refusal := refusal_in_hf_trainer(controller)):
            raise CurricleError(refusal)
        if isinstance(controller, dict):
            kind = controller.get("kind")
            if kind not in CONTROLLERS.configs:
                kinds = ", ".join(k for k in CONTROLLERS.configs if k != "doremi")
                raise CurricleError(f"controller.kind: expected one of {kinds}, got {kind!r}")
            controller = parse_model(controller, CONTROLLERS.configs[kind], "controller")
        if isinstance(controller, ControllerConfig):
            controller = CONTROLLERS.build(controller, ControllerContext(dataset.domains, dataset.store.natural_tokens()))
        super().__init__(out)
        self.controller = controller
        self.register("dataset", dataset, at_step=True)
        if controller is not None:
            self.register("controller", controller)
        self._sums: torch.Tensor | None = None  # (2, D): loss sum and tokens per domain, this step
        self._domain_ids: torch.Tensor | None = None
        self._handles: list = []

    # -- checks and set-up ---------------------------------------------------------------

    def on_init_end(self, args, state, control, **kwargs):
        wrong = [f"{k}={v}" for k, v, want in (("remove_unused_columns", args.remove_unused_columns, False),
                                                ("ignore_data_skip", args.ignore_data_skip, True),
                                                ("dataloader_num_workers", args.dataloader_num_workers, 0))
                 if v != want]
        if wrong:
            raise CurricleError(f"TrainingArguments: MixtureDataset needs remove_unused_columns=False, "
                                f"ignore_data_skip=True and dataloader_num_workers=0 (got {', '.join(wrong)})")
        rows = args.per_device_train_batch_size * args.world_size * args.gradient_accumulation_steps
        if rows != self.dataset.mixture.batch_rows:
            raise CurricleError(f"mixture.batch_rows: {self.dataset.mixture.batch_rows}, but the trainer takes {rows} "
                                f"rows per optimizer step (per_device_train_batch_size x processes x "
                                f"gradient_accumulation_steps)")

    def on_train_begin(self, args, state, control, model=None, **kwargs):
        row = max_seq_len(self.dataset.mixture.seq_len) + 1  # input_ids are whole rows (module doc)
        limit = max_positions(model.config) if getattr(model, "config", None) is not None else None
        if limit is not None and row > limit:
            raise CurricleError(f"mixture.seq_len: {row - 1} gives rows of {row} tokens (input_ids and labels alike: "
                                f"the model shifts the labels), but the model takes at most {limit} positions "
                                f"(max_position_embeddings); use a seq_len of at most {limit - 1}")
        if self.controller is not None:  # known only now (ADO leaves it out of its fits; a resume restores it)
            self.controller.set_lr_warmup(args.get_warmup_steps(state.max_steps))
        super().on_train_begin(args, state, control, **kwargs)  # the logs, and the state on resume
        step = state.global_step
        if step > 0:  # resumed: on record, as curricle's own loop records it
            self._append(EVENTS, {"step": step, "event": "resume", "checkpoint": f"checkpoint-{step}"})
            change = self.dataset.sampler.snapshot_change  # the store is another snapshot than the checkpoint's
            if change is not None:
                self._append(EVENTS, {"step": step, "event": "snapshot-changed", **change})
                log.warning("the data changed since checkpoint-%d (snapshot %s -> %s): %s start fresh streams, the "
                            "other domains continue theirs", step, change["old"][:12], change["new"][:12],
                            ", ".join(change["domains_changed"]) or "no domain")
        self._handles = [model.register_forward_pre_hook(self._take_domains, with_kwargs=True),
                         model.register_forward_hook(self._add_losses, with_kwargs=True)]

    def on_train_end(self, args, state, control, **kwargs):
        for h in self._handles:
            h.remove()
        self._handles = []
        super().on_train_end(args, state, control, **kwargs)

    # -- per micro-batch: the domains off the batch, the losses from the logits ----------------

    def _take_domains(self, module, args, kwargs):
        self._domain_ids = kwargs.pop("domain_ids", None)
        return args, kwargs

    def _add_losses(self, module, args, kwargs, output):
        if not module.training or self._domain_ids is None:
            return None
        labels = kwargs.get("labels")
        logits = output.logits.detach()[:, :-1]  # (b, T - 1, V): the model shifts its labels the same way
        targets = labels[:, 1:]
        loss = F.cross_entropy(logits.float().flatten(0, 1), targets.flatten(), reduction="none",
                               ignore_index=-100).view(targets.shape)
        counted = (targets != -100).double()
        if self._sums is None:
            self._sums = torch.zeros(2, len(self.dataset.domains), dtype=torch.float64, device=loss.device)
        d = self._domain_ids.to(loss.device)
        self._sums[0].index_add_(0, d, (loss.double() * counted).sum(1))
        self._sums[1].index_add_(0, d, counted.sum(1))
        self._domain_ids = None
        return None

    # -- per optimizer step -----------------------------------------------------------------

    def on_step_end(self, args, state, control, **kwargs):
        step = state.global_step  # optimizer steps done; this one's rows were batch step - 1
        sums = self._sums
        self._sums = None
        if sums is None:
            return
        if dist.is_available() and dist.is_initialized():
            dist.all_reduce(sums)
        sums = sums.cpu()
        domains = self.dataset.domains
        loss = {d: float(sums[0, i] / sums[1, i]) for i, d in enumerate(domains) if sums[1, i] > 0}
        weights = self.dataset.weights_of(step - 1)
        line: dict[str, Any] = {"step": step, "loss": float(sums[0].sum() / sums[1].sum()),
                                **{f"loss/{d}": v for d, v in loss.items()}}
        if weights is not None:
            line.update({f"weight/{d}": w for d, w in zip(domains, weights)})
        self._append(LOSSES_LOG, line)
        if self.controller is None or weights is None:
            return
        stats = DomainStats(step=step, train_loss=np.array([loss.get(d, np.nan) for d in domains]),
                            tokens=self.dataset.sampler.served_tokens.astype(np.float64),
                            weights=np.asarray(weights, dtype=np.float64))
        result = self.controller.update(step, stats)
        if result is None:
            return
        new, entry = result
        self.dataset.set_weights_from(step + 1, new)  # the loader has drawn batch `step` already
        record = {"controller": self.controller.name, **entry.to_json(domains), "effective_from_step": step + 2}
        self._append(MIXTURE_LOG, record)

    def load_own_state(self, saved: dict[str, Any]) -> None:
        # A checkpoint from before the seam kit wrote "controller": null for a run without one.
        if saved.get("controller", {}) is None:
            del saved["controller"]
