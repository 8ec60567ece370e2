"""``curricle dpo``'s config: the model, the pairs, the evaluation tasks and the pair curriculum.

::

    model: {path: runs/sft/final}            # as finetune's (a path, a preset or a GGUF file)
    tasks:                                   # scored on their held-out items at every evaluation
      - {name: reverse, source: {kind: builtin, skill: reverse}}
    pairs:
      - {kind: jsonl, path: pairs.jsonl}     # {prompt, chosen, rejected[, task, margin]} per line
      - {kind: from_samples, tasks: [reverse], samples: 4, temperature: 1.0}
      - kind: from_samples                   # no verifier: a judge checkpoint scores the samples
        tasks: [chat]
        score: judge
        judge: {model: {path: runs/judge/final}, principle: "The response is polite."}
    curriculum:
      order: margin                          # margin: clear pairs first | random: the control | none
      bands: [clear, subtle]                 # equal-count margin bands, largest margin first
      stages:
        - {name: clear, tasks: {clear: 1}, advance_when: {task: clear, metric: pref_acc, at_least: 0.8},
           max_steps: 100}
        - {name: subtle, tasks: {subtle: 1}, max_steps: 100}
      review: {kind: replay, fraction: 0.2}
    train: {batch_size: 8, lr: 5.0e-6, beta: 0.1}

The pair curriculum is fine-tuning's (:mod:`curricle.finetune.curriculum`) with the margin
*bands* as its tasks: a stage's ``tasks`` weights name bands, a milestone names a band (its
``pref_acc`` or ``margin`` on the band's held-out pairs) or an evaluation task (its metrics),
and review, revisits and plateaus work as there. **Weights count pairs.** Imports only pydantic
and other config modules.
"""

from __future__ import annotations

import re
import string
from pathlib import Path
from typing import Annotated, ClassVar, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, model_validator

from curricle.config import load_model_file
from curricle.finetune.config import CurriculumConfig, FinetuneTrainConfig, StageConfig
from curricle.posttrain.config import RENAMED_KEYS, HFModelConfig, ProbeTasksConfig
from curricle.tasks.config import NAME_PATTERN, TaskConfig

#: The metrics a band's held-out pairs are scored by (each also with ``_se``): the share of
#: pairs whose chosen answer the model prefers (per-token mean log-probability), and the mean
#: difference of those log-probabilities.
BAND_METRICS = ("pref_acc", "margin")
#: The band of a run without bands (``order: none``).
ALL_PAIRS = "pairs"


class _Config(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PairFile(_Config):
    """Pairs from a JSON Lines file or an HF dataset saved with ``save_to_disk``: every record
    has ``prompt``, ``chosen`` and ``rejected`` (strings), optionally ``task`` (a name) and
    ``margin`` (how much better chosen is: a number >= 0; ``order: margin`` needs it)."""

    kind: Literal["jsonl", "hf-disk"]
    path: Path


#: The judge's prompt: the principle, the prompt and the sampled completion, then the question
#: its verdict answers (``judge.yes`` / ``judge.no`` continue it).
JUDGE_TEMPLATE = ("{principle}\nPrompt: {prompt}\nResponse: {completion}\n"
                  "Does the response satisfy the principle? Answer:")
JUDGE_FIELDS = ("principle", "prompt", "completion")


class JudgeConfig(_Config):
    """A judge checkpoint scoring completions against a stated principle, for tasks without a
    verifier. A completion's score is the judge's log-odds of affirming the principle:

        score = log P(yes | T) - log P(no | T),  T = template.format(principle, prompt, completion)

    where ``log P(v | T)`` is the sum of the log-probabilities the judge gives the tokens of the
    verdict ``v`` after ``T`` (split from ``T`` as lm-evaluation-harness splits a continuation).
    The contrast, rather than ``log P(yes | T)`` alone, cancels what both answers share: how
    likely the judge is to answer at all after this text (long or odd completions lower every
    answer's probability) and its prior for the format, so completions are compared on the
    principle. The judge reads text with its own tokenizer (it may differ from the policy's)."""

    model: HFModelConfig
    """The judge checkpoint (a path, a pretrained preset or a GGUF file, as ``model:``), run on
    the policy's device."""
    principle: str = Field(min_length=1)
    """What a good completion does, in a sentence (``The response is polite and answers the
    question.``)."""
    template: str = JUDGE_TEMPLATE
    """The judge's prompt, with ``{principle}``, ``{prompt}`` and ``{completion}`` (braces meant
    literally doubled: ``{{``)."""
    yes: str = " Yes"
    """The verdict affirming the principle (a continuation of the template)."""
    no: str = " No"
    """The verdict denying it."""
    batch_size: int = Field(16, ge=1)
    """Rows per forward pass of the judge (rows of the scoring prefix tree: one completion's
    text is read once for both verdicts)."""

    @model_validator(mode="after")
    def _template(self) -> "JudgeConfig":
        try:
            fields = [f for _, f, _, _ in string.Formatter().parse(self.template) if f is not None]
        except ValueError as err:
            raise ValueError(f"template: not a format string ({err}; write a literal brace as {{{{ or }}}})") from None
        unknown = [f for f in fields if f not in JUDGE_FIELDS]
        if unknown:
            raise ValueError(f"template: unknown field {{{unknown[0]}}} (fields: "
                             f"{', '.join('{' + f + '}' for f in JUDGE_FIELDS)})")
        if "completion" not in fields:
            raise ValueError("template: no {completion} field (the judge must read the completion)")
        if not self.yes or not self.no or self.yes == self.no:
            raise ValueError("yes, no: two different, non-empty verdicts")
        return self


class PairsFromSamples(_Config):
    """Pairs built from the starting checkpoint's own samples: ``samples`` completions of each
    train prompt of ``tasks``, scored by each task's grader (``score: grader``) or by a judge
    checkpoint (``score: judge``, see :class:`JudgeConfig`); chosen = the best-scored,
    rejected = the worst-scored (the first sampled on ties), margin = their difference; with
    ``rejected: each``, one pair per distinct worse-scored completion. A prompt with no
    completion scored below the best by more than 0 and at least ``min_margin``
    (``no_margin``), or with fewer than 2
    scored samples (``ungraded``), gives no pair: counted by reason in ``RUN/pairs.json``, as
    are the samples without a score (a grader's timeout, a text too long for the judge)."""

    kind: Literal["from_samples"] = "from_samples"
    tasks: list[str] = Field(min_length=1)
    """Names of ``tasks`` entries whose train prompts are sampled."""
    samples: int = Field(4, ge=2)
    temperature: float = Field(1.0, gt=0)
    max_new_tokens: int = Field(32, ge=1)
    max_prompts: int | None = Field(None, ge=1)
    """At most this many train prompts per task (the first by id hash)."""
    batch_size: int = Field(32, ge=1)
    """Prompts per generation call."""
    grader_timeout_s: float | None = Field(10.0, gt=0)
    score: Literal["grader", "judge"] = "grader"
    """What scores the samples: each task's grader (scores in [0, 1]), or ``judge`` (log-odds,
    unbounded: a margin in nats)."""
    judge: JudgeConfig | None = None
    """The judge of ``score: judge`` (given exactly then)."""
    min_margin: float = Field(0.0, ge=0)
    """A prompt whose best and worst scores differ by less gives no pair (``no_margin``); 0:
    only equal scores. With ``rejected: each``, the least margin of every pair."""
    rejected: Literal["worst", "each"] = "worst"
    """``worst``: one pair a prompt, its best against its worst completion. ``each``: the best
    against every distinct completion text scored below it (at most ``samples - 1`` pairs a
    prompt, the worst first): Curri-DPO's ranked pairs (Pattnaik et al. 2024), which give
    ``order: margin`` the same prompt's clear pairs (against its worst answers) before its
    subtle ones (against its near misses)."""

    @model_validator(mode="after")
    def _judge_iff_scored_by_it(self) -> "PairsFromSamples":
        if self.score == "judge" and self.judge is None:
            raise ValueError("judge: needed with score: judge (judge: {model: ..., principle: ...})")
        if self.score == "grader" and self.judge is not None:
            raise ValueError("judge: given, but score is grader (set score: judge to score by the judge)")
        return self


PairSource = Annotated[Union[PairFile, PairsFromSamples], Field(discriminator="kind")]


class DPOCurriculumConfig(CurriculumConfig):
    """Fine-tuning's curriculum over margin bands (see the module doc).

    ``order``: ``margin`` puts the pairs, largest margin first (ties by a hash of the pair),
    into ``bands`` of equal counts (the first band the clearest); ``random`` fills the same
    bands in a seeded random order (the control: the same stages and steps, no margin order);
    ``none``: one band of every pair, named ``pairs`` (plain DPO). Within a band, pairs are
    ranked by margin, largest first, for a stage's ``pacing``. ``stages`` default to one stage
    per band, in order, sharing ``train.max_steps`` as equally as the evaluations allow
    (:func:`band_stages`)."""

    order: Literal["margin", "random", "none"] = "margin"
    bands: list[str] = Field(default_factory=lambda: ["clear", "subtle"], min_length=1)
    stages: list[StageConfig] = Field(default_factory=list)

    @model_validator(mode="after")
    def _bands(self) -> "DPOCurriculumConfig":
        bad = [b for b in self.bands if not _named(b)]
        if bad:
            raise ValueError(f"bands: '{bad[0]}' is not a name (letters, digits, - _ . +)")
        if len(set(self.bands)) != len(self.bands):
            raise ValueError("bands: a band is named twice")
        if self.order == "none":
            if "bands" in self.model_fields_set and self.bands != [ALL_PAIRS]:
                raise ValueError(f"bands: order none has one band, '{ALL_PAIRS}' (leave bands out)")
            self.bands = [ALL_PAIRS]  # so a written config.yaml reads back
        return self

    @property
    def band_names(self) -> list[str]:
        return list(self.bands)


def band_stages(bands: list[str], max_steps: int, eval_every: int) -> list[StageConfig]:
    """The default stages: one a band, in order, band ``k`` of ``n`` ending at the evaluation
    (every ``eval_every`` steps) nearest to step ``k * max_steps / n``; the last runs to
    ``max_steps``. A stage ends only at an evaluation, so its planned end is one; a later
    stage's steps count from the evaluation that ended the previous one, so its ``max_steps`` is
    its span. Every band needs an evaluation of its own: ``max_steps >= n * eval_every`` (and at
    least 2 steps a band)."""
    n = len(bands)
    if n == 1:
        return [StageConfig(name=bands[0], tasks={bands[0]: 1}, max_steps=max_steps)]
    per = max(eval_every, 2)
    if max_steps < n * per:
        raise ValueError(f"train.max_steps: {max_steps} steps cannot end {n} band stages (curriculum.bands) each "
                         f"at an evaluation every {eval_every} steps (curriculum.eval_every): give at least "
                         f"{n * per}, a smaller eval_every, or curriculum.stages")
    # the evaluation nearest k/n of the steps (halves round up)
    ends = [0, *[eval_every * ((2 * k * max_steps + n * eval_every) // (2 * n * eval_every)) for k in range(1, n)],
            max_steps]
    return [StageConfig(name=b, tasks={b: 1}, max_steps=ends[k + 1] - ends[k]) for k, b in enumerate(bands)]


def _named(name: str) -> bool:
    return re.fullmatch(NAME_PATTERN, name) is not None


class DPOTrainConfig(FinetuneTrainConfig):
    """The trainer's settings (TRL ``DPOConfig`` underneath): fine-tuning's, with DPO's own
    defaults and fields."""

    batch_size: int = Field(8, ge=1)
    """Pairs per device per micro-batch."""
    lr: float = Field(5e-6, gt=0)
    beta: float = Field(0.1, gt=0)
    """DPO's temperature: how far the policy may move from the reference (the start)."""
    loss_type: Literal["sigmoid", "ipo", "hinge", "robust", "sft"] = "sigmoid"
    """The preference loss (TRL's names); ``sft``: no preference term, only the chosen answers'
    NLL (fine-tuning on the chosen answers: the control that says what the pairs' rejected side
    adds); ``robust`` needs ``label_smoothing``."""
    label_smoothing: float = Field(0.0, ge=0, lt=0.5)
    """``loss_type: robust``'s flip rate: the share of pairs taken to be mislabelled (chosen and
    rejected swapped), in (0, 0.5), which Robust DPO (Chowdhury et al. 2024) debiases the loss
    for (its paper suggests 0.1; at 0 the loss is sigmoid DPO's). TRL's ``label_smoothing``;
    only ``robust`` reads it (TRL's sigmoid loss has no conservative-DPO smoothing), so any
    other loss refuses a value above 0."""
    nll_weight: float = Field(0.0, ge=0)
    """Weight of a negative log-likelihood term on the chosen answers added to the preference
    loss (TRL's ``sft`` loss beside ``loss_type``; 0: plain DPO). Iterative RPO (Pang et al.
    2024) adds it with weight 1 for pairs graded by a verifier: without it, DPO on such pairs
    lowers the chosen answers' likelihood along with the rejected ones' and accuracy falls."""
    eval_pairs: int = Field(64, ge=1)
    """Held-out pairs per band scored at each evaluation (the first by hash)."""
    reference: Literal["start", "stage"] = "start"
    """DPO's frozen reference model: ``start``, the starting checkpoint throughout; ``stage``:
    at every stage change the reference becomes a copy of the policy as it is then, so each
    stage is anchored to where the previous one left the model (Curri-DPO's iterative
    training, Pattnaik et al. 2024). Each copy is saved under ``RUN/reference/`` so a resumed run
    uses the reference the interrupted one had."""

    @model_validator(mode="after")
    def _nll_beside_a_preference_loss(self):
        if self.nll_weight and self.loss_type == "sft":
            raise ValueError("nll_weight: loss_type sft is the NLL alone; nll_weight adds it beside a preference loss")
        if self.reference == "stage" and self.loss_type == "sft":
            raise ValueError("reference: loss_type sft reads no reference model; leave reference at start")
        if self.loss_type == "robust" and not self.label_smoothing:
            raise ValueError("label_smoothing: loss_type robust needs the share of mislabelled pairs, in (0, 0.5) "
                             "(e.g. 0.1; at 0 it is sigmoid DPO)")
        if self.loss_type != "robust" and self.label_smoothing:
            raise ValueError(f"label_smoothing: only loss_type robust reads it (TRL's {self.loss_type} loss has none)")
        return self


class DPOConfig(_Config):
    RENAMED_KEYS: ClassVar[dict[str, str]] = RENAMED_KEYS

    name: str = "dpo"
    seed: int = 0
    """Pair order, band assignment under ``order: random``, sampling and the trainer's seed."""
    model: HFModelConfig
    tasks: list[TaskConfig] = Field(default_factory=list)
    """Scored on their held-out items at every evaluation (the forgetting matrix's tasks); the
    tasks ``from_samples`` samples."""
    pairs: list[PairSource] = Field(min_length=1)
    heldout_pairs: float = Field(0.1, gt=0, lt=1)
    """Share of pairs held out (by a hash of the prompt) to score each band on, never trained."""
    curriculum: DPOCurriculumConfig = Field(default_factory=DPOCurriculumConfig)
    train: DPOTrainConfig = Field(default_factory=DPOTrainConfig)
    probes: ProbeTasksConfig | None = None
    """Pretraining probes scored beside the tasks (none: only the tasks)."""

    @model_validator(mode="after")
    def _check(self) -> "DPOConfig":
        c = self.curriculum
        bands = c.band_names
        scoring = {t.name: t.scoring for t in self.tasks}
        clash = sorted(set(bands) & set(scoring))
        if clash:
            raise ValueError(f"curriculum.bands: '{clash[0]}' is also a task's name")
        for i, src in enumerate(self.pairs):
            if isinstance(src, PairsFromSamples):
                unknown = [t for t in src.tasks if t not in scoring]
                if unknown:
                    raise ValueError(f"pairs.{i}.tasks: unknown task '{unknown[0]}' (tasks: "
                                     f"{', '.join(scoring) or 'none'})")
        scored = {src.score: i for i, src in reversed(list(enumerate(self.pairs))) if isinstance(src, PairsFromSamples)}
        if c.order == "margin" and len(scored) > 1:
            raise ValueError(f"curriculum.order: margin cannot order pairs.{scored['grader']} (grader scores, 0 to 1) "
                             f"together with pairs.{scored['judge']} (judge log-odds, in nats): one kind of score, "
                             f"or order: random")
        if not c.stages:
            if self.train.max_steps is None:
                raise ValueError("train.max_steps: needed when curriculum.stages is left out (the bands share it)")
            c.stages = band_stages(bands, self.train.max_steps, c.eval_every)
        for i, stage in enumerate(c.stages):
            where = f"curriculum.stages.{i}"
            unknown = [t for t in stage.tasks if t not in bands]
            if unknown:
                raise ValueError(f"{where}.tasks: unknown band '{unknown[0]}' (bands: {', '.join(bands)})")
            m = stage.advance_when
            if m is None:
                continue
            names = [m.task] if m.task is not None else list(stage.tasks)
            for t in names:
                metrics = BAND_METRICS if t in bands else scoring[t].metrics if t in scoring else None
                if metrics is None:
                    raise ValueError(f"{where}.advance_when.task: unknown band or task '{t}'")
                if m.metric not in metrics:
                    raise ValueError(f"{where}.advance_when.metric: {t} reports {', '.join(metrics)}, "
                                     f"not '{m.metric}'")
        return self

    @property
    def steps(self) -> int:
        return self.train.max_steps or self.curriculum.steps


def load_dpo_config(path: Path | str) -> DPOConfig:
    """A DPO config file, validated (errors: one line naming the file and field)."""
    return load_model_file(path, DPOConfig)
