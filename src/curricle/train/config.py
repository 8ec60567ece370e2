"""``train:``: the optimizer, the loop's intervals, checkpoints, the learning-rate schedule,
the stability guard, telemetry and in-loop probing."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from curricle.probes.config import ProbeHookConfig
from curricle.telemetry.config import TelemetryConfig


#: ``train.lr``'s default when the model starts trained (continued pretraining): transformers'
#: ``TrainingArguments`` default, the rate HF trains a pretrained model at unless told. The
#: from-scratch default (3e-3, reached after 10 warm-up steps) had SmolLM2-135M-Instruct at a
#: gradient norm of 30 by step 3 (issue 25's trial).
PRETRAINED_LR = 5e-5


class LRConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: Literal["constant", "cosine", "wsd"] = "cosine"
    """Schedule shape (see module doc)."""
    warmup_steps: int = Field(10, ge=0)
    """Steps of linear warm-up from 0 to the peak."""
    min_lr_ratio: float = Field(0.1, ge=0, le=1)
    """cosine and wsd: floor of the decay, as a fraction of the peak."""
    decay_fraction: float = Field(0.2, gt=0, le=1)
    """wsd: share of the run spent decaying (when ``decay_phase`` is not set; with it, only the
    default is accepted)."""
    decay_phase: str | None = None
    """wsd: start the decay at this curriculum phase's first step (e.g. consolidation)."""
    decay_shape: Literal["linear", "sqrt", "cosine"] = "sqrt"
    """wsd: shape of the decay (``sqrt`` is 1 - sqrt(progress), as in MiniCPM / WSD papers)."""

    @model_validator(mode="after")
    def _check(self) -> "LRConfig":
        """A field the kind does not read is refused when set to anything but its default (a
        run's config.yaml lists every field, so defaults must pass)."""
        if self.decay_phase is not None and self.kind != "wsd":
            raise ValueError("decay_phase applies to kind 'wsd' only")
        for name in ("decay_fraction", "decay_shape"):
            if self.kind != "wsd" and self._changed(name):
                raise ValueError(f"{name} applies to kind 'wsd' only")
        if self.decay_phase is not None and self._changed("decay_fraction"):
            raise ValueError("decay_fraction does not apply with decay_phase (the decay starts at that phase)")
        if self.kind == "constant" and self._changed("min_lr_ratio"):
            raise ValueError("min_lr_ratio applies to kinds 'cosine' and 'wsd' only (constant does not decay)")
        return self

    def _changed(self, name: str) -> bool:
        return getattr(self, name) != type(self).model_fields[name].default


class CheckpointConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    every: int = Field(20, ge=1)
    """Save every this many optimizer steps (and always at the end)."""
    keep_last: int = Field(3, ge=1)
    """Keep the newest this many checkpoints..."""
    keep_every: int | None = Field(None, ge=1)
    """...and also every checkpoint whose step is a multiple of this (for probing a series)."""
    max_shard_size: str = "5GB"
    """The model's HF export is split into safetensors shards of at most this size, with an
    index (``model.safetensors.index.json``), when it is larger."""


class GuardConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    """Turn the guard off entirely (bad steps are then applied)."""
    z_threshold: float = Field(6.0, gt=0)
    """A loss this many standard deviations above the recent mean is a spike."""
    window: int = Field(50, ge=2)
    """How many recent good steps the mean and deviation are taken over."""
    min_history: int = Field(10, ge=2)
    """No spike detection before this many good steps (early loss falls fast)."""
    min_std: float = Field(0.01, ge=0)
    """Floor on the deviation, so a flat loss curve does not flag tiny wiggles."""
    max_spikes: int = Field(3, ge=1)
    """Consecutive skipped steps that trigger a rollback to the last checkpoint."""
    inject: dict[int, Literal["nan", "spike"]] = {}
    """Testing aid: make the loss of these steps NaN, or 100x larger, to exercise the guard."""
    inject_rank: int | None = Field(None, ge=0)
    """Testing aid: inject into this rank's rows only (None: every rank's). The guard judges the
    global step, so every rank still skips it."""


class ParallelismConfig(BaseModel):
    """How the ranks of a torchrun job share the model (one process: neither applies)."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["ddp", "fsdp"] = "ddp"
    """``ddp``: every rank holds the whole model and optimizer state, gradients are all-reduced.
    ``fsdp``: FSDP2 (``fully_shard``): each transformer layer and the rest of the model are
    sharded over the ranks, gathered for their forward and backward; the optimizer state is
    sharded too, and checkpoints are sharded (``torch.distributed.checkpoint``) with a
    consolidated HF export next to them."""
    reshard_after_forward: bool = True
    """fsdp: free each layer's gathered weights after its forward (gathering them again for the
    backward): less memory, more communication."""


class TrainConfig(BaseModel):
    """The optimizer, the loop's intervals, and what it writes."""

    model_config = ConfigDict(extra="forbid")

    steps: int = Field(40, ge=1)
    """Optimizer steps in the run."""
    lr: float = Field(3e-3, gt=0)
    """Peak learning rate (AdamW). The default is for a model built from scratch; a model that
    starts trained (``model.path``, ``model.gguf``, a pretrained ``model.preset``) defaults to
    :data:`PRETRAINED_LR` instead."""
    weight_decay: float = Field(0.1, ge=0)
    """AdamW weight decay (not applied to norms and biases)."""
    betas: tuple[float, float] = (0.9, 0.95)
    """AdamW betas."""
    grad_clip: float | None = Field(1.0, gt=0)
    """Clip the global gradient norm to this (None: no clipping)."""
    grad_accum: int = Field(1, ge=1)
    """Gradient accumulation: a step's rows (this rank's) go through in micro-batches of
    ``rows // grad_accum`` rows (at least 1), the last one holding what is left: ``grad_accum``
    micro-batches when it divides the rows, more when not (7 rows with 2: 3, 3 and 1 rows; 10
    rows with 4: five of 2). Each step's global batch is one mixture draw."""
    lr_schedule: LRConfig = Field(default_factory=LRConfig)
    """Warm-up and decay shape."""
    eval_every: int = Field(20, ge=1)
    """Held-out loss, perplexity and calibration every this many steps, and at the end (the run's
    last step, or the step a hook stopped it at)."""
    eval_rows_per_domain: int = Field(16, ge=1)
    """Held-out rows scored per domain."""
    eval_seq_len: int | None = Field(None, ge=2)
    """Row length for evaluation (default: the mixture's longest seq_len)."""
    eval_batch_rows: int = Field(16, ge=1)
    """Rows per forward pass during evaluation."""
    parallelism: ParallelismConfig = Field(default_factory=ParallelismConfig)
    """DDP or FSDP2 under torchrun."""
    checkpoint: CheckpointConfig = Field(default_factory=CheckpointConfig)
    """Interval and retention of checkpoints."""
    guard: GuardConfig = Field(default_factory=GuardConfig)
    """NaN / spike detection and rollback."""
    telemetry: TelemetryConfig = Field(default_factory=TelemetryConfig)
    """Where metrics go besides RUN/metrics.jsonl."""
    trace: bool = False
    """Debugging aid: every rank writes a hash of each row it trained on to
    RUN/trace/rows.rank<R>.jsonl (to check what each rank saw)."""
    probe: ProbeHookConfig | None = None
    """Probe the model every ``probe.every`` steps into RUN/probes.jsonl (under DDP every rank
    scores, rank 0 writes); None: no probing."""
    loss_chunk_tokens: int | None = Field(1024, ge=1)
    """Positions whose logits the loss computes at once (training and evaluation): the logits of
    a whole micro-batch are never held, only a chunk's, whose gradients are computed as soon as
    its logits exist (nothing is recomputed in the backward pass). None: one chunk (the plain
    full-logits loss)."""
    compile: bool = False
    """Compile the model and its loss with ``torch.compile`` (the first steps are slower while it
    compiles)."""
    tf32: bool = True
    """On CUDA, let fp32 matrix products use TF32 tensor cores (``torch.backends.*.allow_tf32``,
    :mod:`curricle.train.tf32`; the post-training verbs' ``train.tf32`` is the same key)."""
    precision: Literal["auto", "fp32", "bf16"] = "auto"
    """auto: bf16 autocast on GPU, fp32 on CPU."""
    device: Literal["auto", "cpu", "cuda"] = "auto"
    """Where to train (auto: CUDA if available)."""
    threads: int | None = Field(None, ge=1)
    """On CPU, the threads torch computes with (``torch.set_num_threads``); None: torch's own
    choice (``OMP_NUM_THREADS``, else one per core). Floating-point sums, so the losses, depend
    on it. Beside other CPU-bound work, fewer threads than cores is much faster: see
    :mod:`curricle.train.cpu` (a run that starts on a busy CPU says so in a warning and a
    ``cpu-contention`` event)."""

    @model_validator(mode="after")
    def _probes_need_whole_models(self) -> "TrainConfig":
        if self.probe is not None and self.parallelism.kind == "fsdp":
            raise ValueError("'probe' scores the whole model on every rank; with parallelism.kind fsdp, probe "
                             "the checkpoints afterwards (curricle probe)")
        return self
