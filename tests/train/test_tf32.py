"""``train.tf32``'s flags: set on a CUDA device exactly as asked, never touched on another."""

from __future__ import annotations

import pytest
import torch

from curricle.train.tf32 import use_tf32


def flags() -> tuple[bool, bool]:
    return torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32


@pytest.fixture
def restored():
    """The process's TF32 flags as they were before the test, whatever it sets."""
    before = flags()
    yield
    torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = before


@pytest.mark.parametrize("on", [True, False])
def test_a_cuda_device_gets_both_flags_as_asked(restored, on):
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = not on
    use_tf32(torch.device("cuda", 1), on)  # setting the flags needs no GPU
    assert flags() == (on, on)
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = not on
    use_tf32("cuda", on)
    assert flags() == (on, on)


@pytest.mark.parametrize("device", [torch.device("cpu"), "cpu", torch.device("mps"), "meta"])
@pytest.mark.parametrize("on", [True, False])
def test_any_other_device_changes_nothing(restored, device, on):
    for before in [(False, True), (True, False)]:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = before
        use_tf32(device, on)
        assert flags() == before


@pytest.mark.parametrize("on", [True, False])
def test_the_pretraining_loop_applies_train_tf32_to_its_device(tmp_path, make_config, monkeypatch, on):
    from curricle.train import loop
    from curricle.train.command import build_trainer

    calls = []
    monkeypatch.setattr(loop, "use_tf32", lambda device, tf32: calls.append((device, tf32)))
    build_trainer(make_config(steps=1, tf32=on, device="cpu"), tmp_path / "run", progress=False)
    assert calls == [(torch.device("cpu"), on)]
