"""Models: any HF transformers causal LM, built from a preset or loaded from a local checkpoint.

Models use PyTorch SDPA attention. Nothing is downloaded: ``path`` must be a local directory.
"""

from __future__ import annotations

from pathlib import Path

from transformers import AutoModelForCausalLM, LlamaConfig, LlamaForCausalLM

from curricle.errors import CurricleError
from curricle.model.config import PRESETS, ModelConfig


def build_model(config: ModelConfig, vocab_size: int, eos_id: int, pad_id: int | None = None):
    """A ``transformers`` causal LM on the CPU, in float32."""
    if config.path is not None:
        if not Path(config.path).is_dir():
            raise CurricleError(f"model.path: no such directory: {config.path}")
        try:
            model = AutoModelForCausalLM.from_pretrained(str(config.path), local_files_only=True,
                                                         attn_implementation="sdpa")
        except (OSError, ValueError) as err:
            raise CurricleError(f"model.path: cannot load a causal LM from {config.path}: {err}") from None
        if model.config.vocab_size < vocab_size:
            raise CurricleError(
                f"model.path: the checkpoint's vocabulary ({model.config.vocab_size}) is smaller than "
                f"the tokenizer's ({vocab_size}); use the checkpoint's own tokenizer"
            )
        return model
    shape = {**PRESETS[config.preset], **config.overrides}
    shape.setdefault("num_key_value_heads", shape.get("num_attention_heads"))
    shape.setdefault("tie_word_embeddings", True)
    try:
        llama = LlamaConfig(
            vocab_size=vocab_size,
            max_position_embeddings=config.max_position_embeddings,
            bos_token_id=eos_id,
            eos_token_id=eos_id,
            pad_token_id=pad_id,
            **shape,
        )
    except (TypeError, ValueError) as err:
        raise CurricleError(f"model.overrides: {err}") from None
    llama._attn_implementation = "sdpa"
    return LlamaForCausalLM(llama)


def count_parameters(model) -> int:
    return sum(p.numel() for p in model.parameters())
