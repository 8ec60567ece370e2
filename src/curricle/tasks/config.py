"""Fine-tuning and RL tasks, as configured: where the items come from, how they are split and
how they are scored.

A task is a named set of items ``{prompt, completion | messages, meta}`` with a skill and a
difficulty per item. Sources:

- ``jsonl``: one record per line, prompt/completion or chat ``messages`` (field names yours);
- ``hf-disk``: an HF ``datasets`` dataset saved with ``save_to_disk`` (same fields);
- ``builtin``: instruction-format items of a synthetic skill generator, at one or more
  difficulty levels (each level the generator's parameters), the item difficulty measured
  per skill (:func:`curricle.tasks.builtin.difficulty`).

Files are split into train / held-out / test by a hash of each item's id (or by a column
you name); built-in tasks take their held-out and test items from the generator's held-out
split. Imports only pydantic and other config modules.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from curricle.graders.config import BUILTIN_GRADERS, GraderSpec
from curricle.registry import Registry
from curricle.synthetic.config import known_skill

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.+-]*$"


class TaskSourceConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: str


class FileFields(TaskSourceConfig):
    """What the file sources share: field names, the split shares, difficulty."""

    prompt_field: str = "prompt"
    """The record's prompt (a string)."""
    completion_field: str = "completion"
    """The record's completion: what is trained on and what scoring compares with."""
    messages_field: str | None = None
    """Chat records: a list of ``{role, content}`` whose last message is the assistant's answer
    (the completion); the rest is rendered with the model's chat template as the prompt.
    Replaces ``prompt_field`` / ``completion_field``."""
    id_field: str | None = "id"
    """The record's id (any JSON value, as a string); records without it get ``<file>:<line>``."""
    difficulty_field: str | None = "difficulty"
    """A number, or a level named in ``levels`` (records without it: difficulty 0)."""
    levels: list[str] | None = None
    """Level names, easiest first, for a ``difficulty_field`` holding names."""
    distractors_field: str | None = "distractors"
    """Wrong completions (a list of strings), for ``scoring.metric: loglikelihood``."""
    split_field: str | None = None
    """A field holding ``train`` / ``heldout`` / ``test``; default: by hash of the id."""
    heldout_share: float = Field(0.1, ge=0, lt=1)
    """Share of items held out for evaluation during training (by id hash)."""
    test_share: float = Field(0.1, ge=0, lt=1)
    """Share of items kept for the final test (by id hash), never used in training."""

    @model_validator(mode="after")
    def _shares(self) -> "FileFields":
        if self.heldout_share + self.test_share >= 1:
            raise ValueError("heldout_share + test_share must be < 1")
        return self


class JsonlTaskConfig(FileFields):
    kind: Literal["jsonl"] = "jsonl"
    path: Path
    """A ``.jsonl`` / ``.jsonl.gz`` / ``.jsonl.zst`` file."""


class HFDiskTaskConfig(FileFields):
    kind: Literal["hf-disk"] = "hf-disk"
    path: Path
    """A dataset directory written by ``save_to_disk`` (a ``Dataset`` or a ``DatasetDict``)."""
    split: str | None = None
    """For a ``DatasetDict``: which of its splits (required when it has more than one)."""


class BuiltinTaskConfig(TaskSourceConfig):
    kind: Literal["builtin"] = "builtin"
    skill: str
    """A registered synthetic skill (``curricle.synthetic.GENERATORS``)."""
    params: dict[str, Any] = Field(default_factory=dict)
    """The generator's parameters (e.g. ``digits: 3`` for arithmetic)."""
    levels: list[dict[str, Any]] | None = None
    """Difficulty levels, easiest first: each the generator's parameters over ``params``
    (e.g. ``[{digits: 1}, {digits: 2}, {digits: 3}]``); train items are split evenly
    between them. An item's difficulty is its level, then the skill's own measure."""
    n_train: int = Field(2000, ge=1)
    """Training items (distinct; fewer when the item space is small)."""
    train_offset: int = Field(0, ge=0)
    """Skip the first this many items of each level's train stream: e.g. RL prompts disjoint
    from a fine-tuning run's ``n_train`` items of the same generator, seed and levels."""
    n_heldout: int = Field(64, ge=1)
    """Held-out items, from the generator's held-out split."""
    n_test: int = Field(64, ge=0)
    """Test items, from the generator's held-out split, disjoint from the held-out ones."""
    seed: int = 0
    """Generator seed."""
    instruction: str = ""
    """Text put before every prompt (e.g. ``"Answer with the result only.\\n"``)."""
    written: Literal["answer", "steps"] = "answer"
    """``steps``: completions written step by step, ``" 7+5=12 ; 4+8+1=13 ; 132"`` (a sum column
    by column with its carries, a composite transform one transform at a time), the steps in
    the item's ``meta["steps"]`` for the process grader."""

    @field_validator("skill")
    @classmethod
    def _known(cls, v: str) -> str:
        return known_skill(v)


TASK_SOURCES = Registry("task source", {
    "jsonl": (JsonlTaskConfig, "curricle.tasks.files:load_jsonl"),
    "hf-disk": (HFDiskTaskConfig, "curricle.tasks.files:load_hf_disk"),
    "builtin": (BuiltinTaskConfig, "curricle.tasks.builtin:load_builtin"),
})

TaskSourceSpec = TASK_SOURCES.union()


class ScoringConfig(BaseModel):
    """How a task's held-out items are scored (the probes' scorers, or a grader).

    - ``exact_match``: greedy generation, cut at ``until`` or EOS, equals the completion;
      continuous: with distractors, the completion's share of probability among the choices
      (``prob``), else its log-probability (``logprob``);
    - ``grader``: the greedy generation graded by ``grader`` (``score``: mean grade over the
      graded items; ungraded ones counted by reason); continuous: ``logprob``;
    - ``loglikelihood``: the completion against the item's distractors (``acc``, ``prob``).
    """

    model_config = ConfigDict(extra="forbid")

    metric: Literal["exact_match", "grader", "loglikelihood"] = "exact_match"
    grader: GraderSpec | None = None
    """For ``metric: grader``: exact, numeric, regex or python."""
    until: list[str] = Field(default_factory=lambda: ["\n"])
    """Generation stops at the first of these strings (and at EOS)."""
    max_new_tokens: int | None = Field(None, ge=1)
    """Most tokens generated (default: the longest completion's UTF-8 bytes + 2, its characters
    + 2 for ASCII: a byte-level tokenizer fits it)."""

    @model_validator(mode="after")
    def _grader_iff_metric(self) -> "ScoringConfig":
        if (self.metric == "grader") != (self.grader is not None):
            raise ValueError("give 'grader' exactly when metric is 'grader'")
        return self

    @property
    def discrete(self) -> str:
        """The discrete metric's name: what milestones and the forgetting matrix read."""
        return {"exact_match": "exact_match", "grader": "score", "loglikelihood": "acc"}[self.metric]

    @property
    def metrics(self) -> tuple[str, ...]:
        """Every metric a task scored this way reports (each also with ``_se``)."""
        return {"exact_match": ("exact_match", "prob", "margin", "logprob"),
                "grader": ("score", "logprob"),
                "loglikelihood": ("acc", "prob", "margin", "logprob")}[self.metric]


class TaskConfig(BaseModel):
    """One task."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=NAME_PATTERN)
    """The task's name (letters, digits, ``_ . + -``): what stages, milestones and logs use."""
    skill: str | None = None
    """The skill it trains (default: the name)."""
    source: TaskSourceSpec
    """Where the items come from."""
    scoring: ScoringConfig = Field(default_factory=ScoringConfig)
    """How held-out and test items are scored."""
    eval_items: int | None = Field(64, ge=2)
    """Held-out items scored at each evaluation (the first of them by id hash); None: all."""
    grader: GraderSpec | None = None
    """What grades sampled completions (the RL reward, RFT's filter). Default: the built-in
    skill's grader (numeric for sums, the process grader for ``written: steps``), else exact."""

    def grader_config(self) -> dict:
        """The grader, or the default one (see ``grader``)."""
        if self.grader is not None:
            return self.grader.model_dump()
        src = self.source
        if getattr(src, "kind", None) == "builtin":
            if src.written == "steps":
                return {"kind": "process"}
            return dict(BUILTIN_GRADERS.get(src.skill, {"kind": "exact"}))
        return {"kind": "exact"}
