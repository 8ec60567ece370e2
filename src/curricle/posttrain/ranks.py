"""Which process this is under torchrun / accelerate, read from the environment (so it can be
asked before any process group exists)."""

from __future__ import annotations

import os

import torch


def is_main() -> bool:
    """Whether this is the main process (rank 0, or no torchrun at all)."""
    return int(os.environ.get("RANK", "0")) == 0


def train_device(use_cpu: bool = False) -> torch.device:
    """The device this process will train on: its GPU (``LOCAL_RANK`` under torchrun) when
    there is one and ``use_cpu`` is false, Apple's MPS when that is all there is, else the CPU;
    what HF's Trainer picks, known before the trainer exists (so work done before it, like
    sampling pairs, runs there too)."""
    if use_cpu:
        return torch.device("cpu")
    if torch.cuda.is_available():
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
    if torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")
