"""Models: any HF transformers causal LM, built from a preset or loaded from a local checkpoint.

Models use PyTorch SDPA attention. Nothing is downloaded: ``path`` must be a local directory.
"""

from __future__ import annotations

import difflib
import json
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file as load_safetensors
from transformers import AutoConfig, AutoModelForCausalLM, LlamaConfig, LlamaForCausalLM, PretrainedConfig

from curricle.errors import CurricleError
from curricle.model.config import PRESETS, ModelConfig
from curricle.store.tokenizer import load_tokenizer

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16}


def checkpoint_config(path: Path | str, key: str = "model.path") -> PretrainedConfig:
    """The HF config of the local checkpoint ``path`` (``model.path``, or the key ``key`` named it)."""
    if not Path(path).is_dir():
        raise CurricleError(f"{key}: no such directory: {path}")
    try:
        return AutoConfig.from_pretrained(str(path), local_files_only=True)
    except (OSError, ValueError) as err:
        raise CurricleError(f"{key}: no HF model config in {path}: {err}") from None


def max_positions(config: PretrainedConfig) -> int | None:
    """The longest input a model config allows (its position-embedding table), if it says."""
    for key in ("max_position_embeddings", "n_positions", "max_seq_len", "seq_length"):
        value = getattr(config, key, None)
        if isinstance(value, int) and value > 0:
            return value
    return None


def check_fits(config: ModelConfig, longest_row: int, tokenizer_path: Path | str | None) -> None:
    """Before any work: a checkpoint (``model.path``, or a pretrained preset's or GGUF file's
    directory, materialized by then) must take rows of ``longest_row`` tokens, and the tokenizer
    at ``tokenizer_path`` must be its own (same vocabulary and special tokens). One-line
    ``CurricleError`` naming the field otherwise."""
    path, key = config.checkpoint, config.key
    if path is None:
        return
    hf = checkpoint_config(path, key)
    limit = max_positions(hf)
    if limit is not None and longest_row > limit:
        raise CurricleError(f"{key}: {path} takes at most {limit} positions, shorter than the "
                            f"longest row ({longest_row} tokens); lower mixture.seq_len or train.eval_seq_len")
    if tokenizer_path is None:
        return
    tok = load_tokenizer(tokenizer_path)
    if len(tok) > hf.vocab_size:
        raise CurricleError(f"tokenizer.path: {tokenizer_path} has {len(tok)} tokens, more than the vocabulary "
                            f"of {key} ({hf.vocab_size}); use the checkpoint's own tokenizer")
    if Path(tokenizer_path).resolve() == Path(path).resolve():
        return
    own = _own_tokenizer(path)
    if own is None:  # no tokenizer next to the weights: at least the EOS must be the model's
        if hf.eos_token_id is not None and tok.eos_token_id != hf.eos_token_id:
            raise CurricleError(f"tokenizer.path: its eos token id ({tok.eos_token_id}) is not {key}'s "
                                f"({hf.eos_token_id})")
        return
    if own.get_vocab() != tok.get_vocab():
        differ = len(set(own.get_vocab().items()) ^ set(tok.get_vocab().items()))
        raise CurricleError(f"tokenizer.path: {tokenizer_path} is not the tokenizer of {key} ({differ} "
                            f"vocabulary entries differ); use the checkpoint's own")
    for name in ("eos_token", "bos_token", "pad_token", "unk_token"):
        if getattr(own, name) != getattr(tok, name):
            raise CurricleError(f"tokenizer.path: its {name} is {getattr(tok, name)!r}, {key}'s is "
                                f"{getattr(own, name)!r}")


def _own_tokenizer(path: Path | str):
    p = Path(path)
    if not any((p / f).is_file() for f in ("tokenizer.json", "tokenizer_config.json", "vocab.json")):
        return None
    try:
        return load_tokenizer(p)
    except CurricleError:
        return None


def build_model(config: ModelConfig, vocab_size: int, eos_id: int, pad_id: int | None = None):
    """A ``transformers`` causal LM on the CPU, in ``config.dtype``: a preset built from
    scratch (its weights from torch's RNG), or the checkpoint ``config.checkpoint`` (a pretrained
    preset's or GGUF file's materialized first by :func:`curricle.model.pretrained.checkpoint_dir`)."""
    dtype = DTYPES[config.dtype]
    path, key = config.checkpoint, config.key
    if path is not None:
        checkpoint_config(path, key)  # one line for a missing directory or config
        try:
            model = AutoModelForCausalLM.from_pretrained(str(path), local_files_only=True,
                                                         attn_implementation="sdpa", dtype=dtype)
        except (OSError, ValueError, SafetensorError) as err:  # SafetensorError: a corrupt weights file
            raise CurricleError(f"{key}: cannot load a causal LM from {path}: {err}") from None
        if model.config.vocab_size < vocab_size:
            raise CurricleError(
                f"{key}: the checkpoint's vocabulary ({model.config.vocab_size}) is smaller than "
                f"the tokenizer's ({vocab_size}); use the checkpoint's own tokenizer"
            )
    else:
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
        _check_overrides(config.overrides, llama)
        llama._attn_implementation = "sdpa"
        model = LlamaForCausalLM(llama).to(dtype)
    if config.activation_checkpointing:
        if not model.supports_gradient_checkpointing:
            raise CurricleError(f"model.activation_checkpointing: {type(model).__name__} does not support it")
        model.activation_checkpointing_enable(activation_checkpointing_kwargs={"use_reentrant": False})
    return model


def _check_overrides(overrides: dict, llama: LlamaConfig) -> None:
    """LlamaConfig keeps any keyword it does not know as an attribute that nothing reads: an
    override that became one (not a field of a default LlamaConfig) is a misspelling, refused in
    one line. Keywords LlamaConfig takes and converts (``rope_theta`` into ``rope_parameters``)
    leave no such attribute and pass."""
    fields = LlamaConfig()
    for name in overrides:
        if hasattr(llama, name) and not hasattr(fields, name):
            close = difflib.get_close_matches(name, sorted(fields.to_dict()), n=1)
            hint = f" (did you mean {close[0]}?)" if close else ""
            raise CurricleError(f"model.overrides.{name}: LlamaConfig has no such field{hint}")


def _read_safetensors(file: Path) -> dict[str, torch.Tensor]:
    try:
        return load_safetensors(str(file))
    except (OSError, SafetensorError) as err:
        raise CurricleError(f"{file}: cannot read the weights ({err})") from None


def checkpoint_weights(path: Path | str) -> dict[str, torch.Tensor]:
    """The tensors of an HF checkpoint directory: ``model.safetensors``, or the shards an
    ``model.safetensors.index.json`` lists."""
    path = Path(path)
    index = path / "model.safetensors.index.json"
    if index.is_file():
        weights: dict[str, torch.Tensor] = {}
        for shard in sorted(set(json.loads(index.read_text())["weight_map"].values())):
            weights.update(_read_safetensors(path / shard))
        return weights
    if not (path / "model.safetensors").is_file():
        raise CurricleError(f"{path}: no model.safetensors (or its index) in the checkpoint")
    return _read_safetensors(path / "model.safetensors")


def load_weights(model: torch.nn.Module, path: Path | str) -> None:
    """Load the HF checkpoint ``path`` into ``model`` (in place). Tied weights are stored once;
    a checkpoint whose names transformers maps on loading (e.g. GPT-NeoX's ``embed_out``) is
    read through ``from_pretrained``. A checkpoint of another shape, or a weights file that cannot
    be read (truncated, corrupt), is a one-line error."""
    weights = checkpoint_weights(path)
    missing, unexpected = model.load_state_dict(weights, strict=False)
    tied: set[str] = set()
    if getattr(model.config, "tie_word_embeddings", False):
        tied = set(getattr(model, "_tied_weights_keys", None) or ()) | {"lm_head.weight"}
    missing = [k for k in missing if k not in tied]
    if missing or unexpected:
        try:
            source = AutoModelForCausalLM.from_pretrained(str(path), local_files_only=True, dtype=model.dtype)
            missing, unexpected = model.load_state_dict(source.state_dict(), strict=False)
        except (OSError, ValueError, SafetensorError):
            pass
        if missing or unexpected:
            raise CurricleError(f"{path}: checkpoint does not fit the model (missing {missing[:3]}, "
                                f"unexpected {unexpected[:3]})")
    if tied:
        model.tie_weights()


def count_parameters(model) -> int:
    return sum(p.numel() for p in model.parameters())
