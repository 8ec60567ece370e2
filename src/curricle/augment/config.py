"""The augmenters' configs, their registry, and the in-run augmentation policy (``augment:``).

Adding an augmenter: an ``AugmenterConfig`` subclass here (its ``kind`` a ``Literal``, its
fields documented), ``augment/<name>.py`` with an :class:`~curricle.augment.base.Augmenter`
subclass, and one line in ``AUGMENTERS``. Imports only pydantic and the registry, so a run
config is validated without importing torch or a generator.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from curricle.registry import Registry

#: Text perturbations :class:`PerturbConfig` can apply, in the order given in ``ops``.
PERTURB_OPS = ("delete-span", "shuffle-words", "char-noise")


class AugmenterConfig(BaseModel):
    """Knobs every augmenter shares."""

    model_config = ConfigDict(extra="forbid")

    kind: str


class GeneratorAugmenterConfig(AugmenterConfig):
    """New items from a built-in skill's generator (a ``synthetic`` source's skill) at the
    parameters of the targeted level: train items only, so never a held-out probe item."""

    kind: Literal["generator"] = "generator"
    items_per_doc: int | None = Field(None, gt=0)
    """Items per augmented document (None: the source's ``items_per_doc``)."""


class PerturbConfig(AugmenterConfig):
    """A perturbed copy of the targeted document: span deletion, word shuffling within a
    sentence and character noise, each seeded."""

    kind: Literal["perturb"] = "perturb"
    ops: list[Literal["delete-span", "shuffle-words", "char-noise"]] = Field(
        default_factory=lambda: list(PERTURB_OPS), min_length=1)
    """Perturbations to apply, in this order (each at most once)."""
    spans: int = Field(1, ge=1)
    """delete-span: how many spans of words are deleted from a document."""
    span_words: int = Field(3, ge=1)
    """delete-span: a deleted span holds 1 to this many words (drawn uniformly)."""
    shuffle_share: float = Field(0.5, ge=0, le=1)
    """shuffle-words: the chance that a sentence (a line, or text ending in . ! ?) has its
    words shuffled."""
    noise_rate: float = Field(0.02, ge=0, le=1)
    """char-noise: the chance that each non-space character is replaced by another character
    of the same document."""

    @field_validator("ops")
    @classmethod
    def _distinct(cls, v: list[str]) -> list[str]:
        if len(set(v)) != len(v):
            raise ValueError("each perturbation may be named once")
        return v


class ParaphraseConfig(AugmenterConfig):
    """A rewrite of the targeted document sampled from a local HF causal LM, kept only when it
    passes the length bounds (and the loss bound, when set)."""

    kind: Literal["paraphrase"] = "paraphrase"
    checkpoint: Path
    """A local HF checkpoint directory (model and tokenizer) that writes the rewrites."""
    prompt: str = "Rewrite this text in other words.\nText: {text}\nRewrite:"
    """The prompt; ``{text}`` is replaced by the document (cut to ``max_source_chars``)."""
    max_source_chars: int = Field(2000, ge=1)
    """The document is cut to this many characters before it goes into the prompt."""
    max_new_tokens: int = Field(128, ge=1)
    """The longest rewrite, in the checkpoint's tokens."""
    temperature: float = Field(0.8, gt=0)
    """Sampling temperature."""
    top_p: float = Field(0.95, gt=0, le=1)
    """Nucleus sampling: the smallest set of tokens with this much probability."""
    tries: int = Field(2, ge=1)
    """Samples drawn per wanted document before it is given up (each failed one is counted
    under its reason)."""
    min_ratio: float = Field(0.5, ge=0)
    """A rewrite shorter than this share of the source's characters is dropped (``too-short``)."""
    max_ratio: float = Field(2.0, gt=0)
    """A rewrite longer than this share of the source's characters is dropped (``too-long``)."""
    max_loss: float | None = Field(None, gt=0)
    """Drop a rewrite whose mean token loss under the checkpoint itself is above this
    (``high-loss``: not fluent); None: no loss filter."""
    device: str = "cpu"
    """Where the checkpoint runs (``cpu``, ``cuda``)."""

    @field_validator("prompt")
    @classmethod
    def _has_text(cls, v: str) -> str:
        if "{text}" not in v:
            raise ValueError("the prompt must contain {text}")
        return v

    @model_validator(mode="after")
    def _bounds(self) -> "ParaphraseConfig":
        if self.min_ratio > self.max_ratio:
            raise ValueError(f"min_ratio ({self.min_ratio}) is above max_ratio ({self.max_ratio})")
        return self


class FunctionAugmenterConfig(AugmenterConfig):
    """A function of yours, ``module:function``, called as ``function(target, n, seed, **args)``
    and returning up to ``n`` documents: strings, or ``(text, params)`` pairs whose ``params``
    (a JSON-able dict) join the provenance. ``target`` is a :class:`~curricle.augment.base.Target`
    (its ``text`` is None for a level target)."""

    kind: Literal["function"] = "function"
    function: str = Field(pattern=r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")
    """``package.module:function``, importable where curricle runs."""
    args: dict[str, Any] = Field(default_factory=dict)
    """Keyword arguments passed to the function (JSON-able: they are recorded in provenance)."""


#: Augmenters by kind: config eagerly, implementation lazily.
AUGMENTERS = Registry("augmenter", {
    "generator": (GeneratorAugmenterConfig, "curricle.augment.generator:GeneratorAugmenter"),
    "perturb": (PerturbConfig, "curricle.augment.perturb:PerturbAugmenter"),
    "paraphrase": (ParaphraseConfig, "curricle.augment.paraphrase:ParaphraseAugmenter"),
    "function": (FunctionAugmenterConfig, "curricle.augment.function:FunctionAugmenter"),
})

#: The config of any augmenter, told apart by its ``kind`` field.
AugmenterSpec = AUGMENTERS.union()

#: Augmenters that need the targeted document's text (they cannot serve ``failing-levels``).
NEEDS_TEXT = frozenset({"perturb", "paraphrase"})


class AugmentConfig(BaseModel):
    """The in-run augmentation policy (``augment:`` in the run config; see :mod:`curricle.augment`)."""

    model_config = ConfigDict(extra="forbid")

    every: int = Field(ge=1)
    """Steps between augmentation rounds (rounds run after steps ``every``, ``2 * every``, ...)."""
    budget: int = Field(ge=1)
    """The most documents one round makes for one domain."""
    target: Literal["hardest-docs", "hardest-regions", "failing-levels"]
    """What a round augments: the documents with the highest latest loss (the hard-examples
    controller's ``last/<domain>``), the documents of the metadata region (``region_by``) with
    the highest mean latest loss, or the ladder levels of a synthetic source whose in-loop
    probe score is below ``fail_below``."""
    max_share: float = Field(gt=0, lt=1)
    """The largest share of a domain's training tokens (counted from its first augmented
    document on) that augmented documents take; the sampler draws them at this share, or less
    where the controller's group floors need it (:mod:`curricle.mixture.overlay_groups`)."""
    augmenter: AugmenterSpec
    """How documents are made (``kind``: generator, perturb, paraphrase, function)."""
    domains: list[str] | None = Field(None, min_length=1)
    """Domains to augment (None: every domain the target can read: the hard-examples
    controller's domains, or the synthetic sources with ``levels`` for ``failing-levels``)."""
    region_by: str = "source"
    """hardest-regions: the ``meta.parquet`` column whose values are the regions."""
    min_region_docs: int = Field(2, ge=1)
    """hardest-regions: a region with fewer documents seen so far is not ranked."""
    fail_below: float = Field(0.5, ge=0, le=1)
    """failing-levels: a level fails while its probe's discrete score (acc or exact_match) is
    below this."""

    @model_validator(mode="after")
    def _augmenter_fits_target(self) -> "AugmentConfig":
        if self.target == "failing-levels" and self.augmenter.kind in NEEDS_TEXT:
            raise ValueError(f"augmenter.kind: '{self.augmenter.kind}' rewrites documents, but failing-levels "
                             f"targets ladder levels; use 'generator' or 'function'")
        return self
