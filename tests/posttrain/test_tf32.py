"""Every post-training verb applies ``train.tf32`` to the device it trains on before its first
matrix product, and records it with its config."""

from __future__ import annotations

import pytest
import torch
import yaml

from curricle.dpo import command as dpo
from curricle.dpo.config import DPOConfig
from curricle.finetune import command as finetune
from curricle.finetune.config import FinetuneConfig
from curricle.rl import command as rl
from curricle.rl.config import RLConfig

TASKS = [{"name": "rev", "source": {"kind": "builtin", "skill": "reverse"}}]
VERBS = {
    "finetune": (finetune, finetune.finetune_run, FinetuneConfig, {
        "tasks": TASKS, "curriculum": {"stages": [{"name": "s", "tasks": {"rev": 1}, "max_steps": 4}]}}),
    "rl": (rl, rl.rl_run, RLConfig, {"tasks": TASKS}),
    "dpo": (dpo, dpo.dpo_run, DPOConfig, {"pairs": [{"kind": "jsonl", "path": "pairs.jsonl"}],
                                          "train": {"max_steps": 50}}),
}


class Loaded(Exception):
    """Raised where the verb loads its model: what came before it is what the test looks at."""


def loaded(config):
    raise Loaded


@pytest.mark.parametrize("verb", VERBS)
@pytest.mark.parametrize("use_cpu, cuda, tf32, applied", [
    (True, True, True, ("cpu", True)),
    (False, False, True, ("cpu", True)),
    (False, True, True, ("cuda:0", True)),
    (False, True, False, ("cuda:0", False)),
])
def test_train_tf32_is_applied_to_the_training_device_before_the_model_loads(
        tmp_path, monkeypatch, verb, use_cpu, cuda, tf32, applied):
    module, run, model, rest = VERBS[verb]
    calls = []
    monkeypatch.setattr(module, "use_tf32", lambda device, on: calls.append((str(device), on)))
    monkeypatch.setattr(module, "load_start_model", loaded)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    monkeypatch.delenv("LOCAL_RANK", raising=False)
    train = {**rest.get("train", {}), "use_cpu": use_cpu, "tf32": tf32}
    config = model.model_validate({"model": {"path": "m"}, **rest, "train": train})
    with pytest.raises(Loaded):
        run(config, tmp_path / verb)
    assert calls == [applied]
    assert yaml.safe_load((tmp_path / verb / "config.yaml").read_text())["train"]["tf32"] is tf32
