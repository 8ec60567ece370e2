import math

import pytest
import torch

from curricle.telemetry.tracker import DomainLossTracker
from curricle.train.config import GuardConfig, LRConfig
from curricle.train.guard import StabilityGuard
from curricle.train.lr import lr_at


def test_cosine_schedule():
    cfg = LRConfig(kind="cosine", warmup_steps=10, min_lr_ratio=0.1)
    assert lr_at(0, 1.0, 110, cfg) == pytest.approx(0.1)
    assert lr_at(9, 1.0, 110, cfg) == pytest.approx(1.0)
    assert lr_at(10, 1.0, 110, cfg) == pytest.approx(1.0)
    assert lr_at(109, 1.0, 110, cfg) == pytest.approx(0.1)
    assert lr_at(59, 1.0, 109, cfg) == pytest.approx(0.55, abs=0.01)


def test_wsd_schedule_with_decay_aligned_to_a_phase():
    cfg = LRConfig(kind="wsd", warmup_steps=0, min_lr_ratio=0.0, decay_phase="consolidation", decay_shape="linear")
    assert lr_at(79, 1.0, 100, cfg, decay_start=80) == 1.0
    assert lr_at(80, 1.0, 100, cfg, decay_start=80) == pytest.approx(0.95)
    assert lr_at(99, 1.0, 100, cfg, decay_start=80) == pytest.approx(0.0)
    plain = LRConfig(kind="wsd", warmup_steps=0, decay_fraction=0.5, min_lr_ratio=0.0, decay_shape="sqrt")
    assert lr_at(49, 1.0, 100, plain) == 1.0 and lr_at(99, 1.0, 100, plain) == 0.0
    assert lr_at(74, 1.0, 100, plain) == pytest.approx(1 - math.sqrt(0.5))


def test_decay_phase_needs_wsd():
    with pytest.raises(ValueError, match="decay_phase applies to kind 'wsd' only"):
        LRConfig(kind="cosine", decay_phase="x")


@pytest.mark.parametrize("fields, error", [
    ({"kind": "cosine", "decay_shape": "linear"}, "decay_shape applies to kind 'wsd' only"),
    ({"kind": "constant", "decay_fraction": 0.5}, "decay_fraction applies to kind 'wsd' only"),
    ({"kind": "constant", "min_lr_ratio": 0.0},
     "min_lr_ratio applies to kinds 'cosine' and 'wsd' only (constant does not decay)"),
    ({"kind": "wsd", "decay_phase": "main", "decay_fraction": 0.3},
     "decay_fraction does not apply with decay_phase (the decay starts at that phase)"),
])
def test_a_field_the_kind_does_not_read_is_refused(fields, error):
    with pytest.raises(ValueError) as err:
        LRConfig(**fields)
    assert err.value.errors()[0]["msg"] == f"Value error, {error}"


def test_the_defaults_of_fields_a_kind_does_not_read_still_load():
    """A run's config.yaml lists every field at its value, the defaults included."""
    for kind in ("constant", "cosine", "wsd"):
        dumped = LRConfig(kind=kind).model_dump(mode="json")
        assert dumped["decay_fraction"] == 0.2 and dumped["decay_shape"] == "sqrt" and dumped["min_lr_ratio"] == 0.1
        assert LRConfig(**dumped) == LRConfig(kind=kind)
    assert LRConfig(kind="wsd", decay_phase="main", decay_fraction=0.2).decay_phase == "main"


def test_guard_flags_nan_and_spikes_and_asks_for_rollback():
    g = StabilityGuard(GuardConfig(min_history=3, z_threshold=3, max_spikes=2), ["a", "b"])
    assert g.check(float("nan"), {})[0] == "nan"
    for x in (2.0, 2.1, 1.9, 2.0):
        assert g.check(x, {"a": x})[0] == "ok"
        assert g.record({"a": x}) is False
    verdict, info = g.check(5.0, {"a": 5.0})
    assert verdict == "spike" and info["z"] > 3 and info["domain"] == "a"
    assert g.record(None) is False and g.record(None) is True
    assert g.consecutive == 0
    restored = StabilityGuard(GuardConfig(min_history=3, z_threshold=3, max_spikes=2), ["a", "b"])
    restored.load_state_dict(g.state_dict())
    assert restored.check(5.0, {"a": 5.0}) == g.check(5.0, {"a": 5.0})


def test_a_new_domain_with_a_high_loss_is_not_a_spike():
    """A phase bringing in a harder domain raises the overall loss; no domain spiked."""
    g = StabilityGuard(GuardConfig(min_history=3, z_threshold=3), ["easy", "hard"])
    for x in (1.0, 1.01, 0.99, 1.0, 1.0):
        g.record({"easy": x})
    assert g.check(4.0, {"easy": 1.0, "hard": 7.0})[0] == "ok"
    assert g.check(4.0, {"easy": 1.5, "hard": 7.0})[0] == "spike"


def test_domain_loss_tracker():
    t = DomainLossTracker(3, torch.device("cpu"))
    t.add(torch.tensor([[1.0, 3.0], [2.0, 2.0], [5.0, 5.0]]), torch.tensor([0, 2, 0]))
    r = t.results(["a", "b", "c"])
    assert r == {"loss": 3.0, "loss/a": 3.5, "loss/c": 2.0}
