"""Which device a post-training process works on before its trainer exists."""

from __future__ import annotations

import torch

from curricle.posttrain.ranks import train_device


def test_the_cpu_when_asked_or_when_there_is_no_accelerator(monkeypatch):
    monkeypatch.setenv("LOCAL_RANK", "1")
    assert train_device(use_cpu=True) == torch.device("cpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    assert train_device() == torch.device("cpu")
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    assert train_device() == torch.device("mps") and train_device(use_cpu=True) == torch.device("cpu")


def test_this_processs_gpu_under_torchrun(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setenv("LOCAL_RANK", "1")
    assert train_device() == torch.device("cuda", 1)
    monkeypatch.delenv("LOCAL_RANK")
    assert train_device() == torch.device("cuda", 0)
