"""``train.tf32``: whether float32 matrix products on CUDA may use TF32 tensor cores.

Every verb that trains reads the same key with the same default (on): ``curricle train``'s
:class:`~curricle.train.config.TrainConfig` and the post-training verbs' ``train:``
(:class:`~curricle.posttrain.config.TrainSettings`), and each calls :func:`use_tf32` with the
device it trains on before its first matrix product. TF32 keeps float32's range with a 10-bit
mantissa in the products' inputs (the sums stay float32): several times faster on Ampere and
newer GPUs, for a model whose weights, gradients and optimizer state stay float32.

The post-training verbs leave HF ``TrainingArguments.tf32`` unset (None: the Trainer leaves
torch's flags alone): its ``True`` raises wherever there is no Ampere or newer GPU, a CPU run
included, and sets torch's process-wide ``fp32_precision`` rather than the two CUDA flags below.
"""

from __future__ import annotations

import torch


def use_tf32(device: torch.device | str, on: bool) -> None:
    """On a CUDA ``device``, let float32 matrix products (cuBLAS) and convolutions (cuDNN) use
    TF32 tensor cores, or forbid them (``torch.backends.cuda.matmul.allow_tf32``,
    ``torch.backends.cudnn.allow_tf32``: flags of the whole process). Any other device: nothing
    changes (a CPU run computes as before, and never fails on the setting)."""
    if torch.device(device).type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = on
        torch.backends.cudnn.allow_tf32 = on
