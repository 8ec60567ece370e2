"""``model:``: the causal LM, a preset built from scratch or a local HF checkpoint.

Presets are small Llama configs sized for CPU (parameter counts with a 4096-token vocabulary,
embeddings tied). Nothing is downloaded: ``path`` must be a local directory.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, model_validator

#: Llama shapes: hidden size, layers, heads, MLP width.
PRESETS: dict[str, dict[str, int]] = {
    "micro": dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64),        # tests
    "tiny-1m": dict(hidden_size=128, num_hidden_layers=4, num_attention_heads=4, intermediate_size=384),   # ~1.4M
    "tiny-5m": dict(hidden_size=256, num_hidden_layers=6, num_attention_heads=8, intermediate_size=768),   # ~6M
    "tiny-20m": dict(hidden_size=384, num_hidden_layers=8, num_attention_heads=6, intermediate_size=1152), # ~17M
}


class ModelConfig(BaseModel):
    """The model: a preset built from scratch, or a local HF checkpoint directory."""

    model_config = ConfigDict(extra="forbid")

    preset: Literal["micro", "tiny-1m", "tiny-5m", "tiny-20m"] | None = "tiny-1m"
    """A Llama preset (see ``curricle.model.PRESETS``). Exclusive with ``path``."""
    path: Path | None = None
    """A local HF causal-LM checkpoint to start from (never downloaded)."""
    overrides: dict[str, Any] = {}
    """Extra ``LlamaConfig`` fields for a preset, e.g. ``{num_hidden_layers: 2}``."""
    max_position_embeddings: int = 2048
    """A preset's longest row (must cover the mixture's longest seq_len); a checkpoint's limit
    is its own config's."""
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
        if isinstance(data, dict) and data.get("path") is not None and "preset" not in data:
            data = {**data, "preset": None}
        return data

    @model_validator(mode="after")
    def _exclusive(self) -> "ModelConfig":
        if (self.preset is None) == (self.path is None):
            raise ValueError("give exactly one of 'preset' or 'path'")
        if self.path is not None and self.overrides:
            raise ValueError("'overrides' apply to a preset, not to a checkpoint 'path'")
        return self
