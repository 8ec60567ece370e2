"""A tiny prepared store and a micro-model run with a few checkpoints, shared by the probe tests."""

from __future__ import annotations

import pytest
import torch

from curricle.config import parse_config
from curricle.prepare.command import prepare_run


def run_config_dict(data_dir, steps: int = 12) -> dict:
    return {
        "name": "probe-test",
        "data_dir": str(data_dir),
        "sources": [
            {"kind": "synthetic", "skill": "arithmetic", "domain": "arithmetic", "n_docs": 40},
            {"kind": "synthetic", "skill": "copy", "domain": "copy", "n_docs": 40},
            {"kind": "python-prose", "domain": "prose", "max_docs": 60, "parts": ["topics"]},
        ],
        "tokenizer": {"vocab_size": 400, "sample_docs_per_source": 40},
        "prepare": {"heldout_fraction": 0.2},
        "mixture": {"batch_rows": 8, "seq_len": 32, "max_epochs": 1000, "schedule": {"kind": "phases", "phases": [
            {"name": "warmup", "steps": 4, "weights": {"copy": 1}},
            {"name": "main", "weights": {"arithmetic": 1, "copy": 1, "prose": 1}},
        ]}},
        "model": {"preset": "micro", "max_position_embeddings": 64},
        "train": {"steps": steps, "eval_every": steps, "eval_rows_per_domain": 2,
                  "checkpoint": {"every": 4, "keep_last": 10}, "telemetry": {"tensorboard": False}},
    }


@pytest.fixture(autouse=True, scope="package")
def one_torch_thread():
    """Tiny models on a shared 2-core machine: a second intra-op thread mostly waits (and
    can make these tests 10x slower). Restored afterwards for other test packages."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def probe_run(tmp_path_factory):
    """``(run_dir, data_dir)``: a trained micro run with checkpoints at steps 4, 8, 12."""
    from curricle.train.command import train_run

    root = tmp_path_factory.mktemp("probe-run")
    config = parse_config(run_config_dict(root / "data"))
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        prepare_run(config, progress=False)
        train_run(config, root / "run", progress=False)
    finally:
        torch.set_num_threads(before)
    return root / "run", root / "data"


@pytest.fixture(scope="session")
def checkpoint(probe_run):
    return probe_run[0] / "checkpoints" / "step_12"


@pytest.fixture(scope="session")
def lm(checkpoint):
    from curricle.probes.lm import ProbeLM

    return ProbeLM.load(checkpoint, batch_size=5)
