"""Sharding the model over the ranks with FSDP2 (``torch.distributed.fsdp.fully_shard``).

Each transformer layer (the classes the HF model names in ``_no_split_modules``) becomes an
FSDP unit, and the :class:`~curricle.train.loss.TokenLoss` around the model the root unit,
which holds the rest (embeddings, final norm, the output layer: tied embeddings stay in one
unit). The root's forward is the one entry point for training and evaluation, so its
parameters are gathered whenever the model runs. On CUDA with bf16, parameters are gathered
and computed in bf16 and gradients reduced in fp32 over fp32 shards (FSDP's mixed precision);
on CPU everything stays fp32.

The optimizer must be built after sharding, over the sharded parameters:
:func:`curricle.train.command.build_trainer` does this in that order.
"""

from __future__ import annotations

import torch
from torch.distributed.fsdp import FSDPModule, MixedPrecisionPolicy, fully_shard

from curricle.errors import CurricleError
from curricle.train.config import ParallelismConfig
from curricle.train.loss import TokenLoss


def transformer_layers(model: torch.nn.Module) -> list[torch.nn.Module]:
    """The model's repeated blocks, by the class names it declares as not to be split."""
    names = set(getattr(model, "_no_split_modules", None) or ())
    layers = [m for m in model.modules() if type(m).__name__ in names]
    if not layers:
        raise CurricleError(f"train.parallelism.kind: fsdp found no transformer layers in {type(model).__name__} "
                            f"(it names none in _no_split_modules)")
    return layers


def shard(loss_model: TokenLoss, config: ParallelismConfig, bf16: bool) -> TokenLoss:
    """Shard ``loss_model`` in place over the default process group (see the module doc)."""
    policy = (MixedPrecisionPolicy(param_dtype=torch.bfloat16, reduce_dtype=torch.float32) if bf16
              else MixedPrecisionPolicy())
    for layer in transformer_layers(loss_model.model):
        fully_shard(layer, mp_policy=policy, reshard_after_forward=config.reshard_after_forward)
    fully_shard(loss_model, mp_policy=policy)
    return loss_model


def is_sharded(module: torch.nn.Module) -> bool:
    return isinstance(module, FSDPModule)
