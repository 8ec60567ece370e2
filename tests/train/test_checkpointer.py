"""The checkpointer's RNG part: every process's own generators, saved and restored per rank."""

from __future__ import annotations

import json
import os
import random
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch
from transformers import LlamaConfig, LlamaForCausalLM

from curricle.train.checkpointer import Checkpointer, RNGState
from curricle.train.config import CheckpointConfig
from curricle.train.distributed import DistInfo
from tests.train.conftest import PYTHON, finish
from tests.train.rank_rng import draw

ROOT = Path(__file__).resolve().parents[2]
CPU = torch.device("cpu")


def checkpointer(root: Path, rank: int = 0, world_size: int = 1) -> Checkpointer:
    torch.manual_seed(0)
    model = LlamaForCausalLM(LlamaConfig(vocab_size=16, hidden_size=8, num_hidden_layers=1, num_attention_heads=2,
                                         intermediate_size=16, max_position_embeddings=16))
    c = Checkpointer(root, CheckpointConfig(), model, dist=DistInfo(rank, world_size, rank, CPU))
    c.register("rng", RNGState(), binary=True)
    return c


def seed(n: int) -> None:
    torch.manual_seed(n)
    random.seed(n)
    np.random.seed(n)


@pytest.mark.slow
def test_each_rank_resumes_its_own_random_streams(tmp_path):
    """2 processes under torchrun, seeded by rank: after a restore each draws again exactly what
    it drew after the save, not rank 0's numbers."""
    cmd = [PYTHON, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", "-m", "tests.train.rank_rng",
           str(tmp_path)]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
    finish(proc)
    ranks = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1)]
    for r in ranks:
        assert r["again"] == r["after"]
    assert all(ranks[0]["after"][k] != ranks[1]["after"][k] for k in ("torch", "python", "numpy"))
    step = tmp_path / "checkpoints" / "step_1"
    assert sorted(p.name for p in step.glob("rng*.pt")) == ["rng.pt", "rng_rank0.pt", "rng_rank1.pt"]
    assert {"rng_rank0.pt", "rng_rank1.pt"} <= set(json.loads((step / "trainer_state.json").read_text())["files"])


def test_one_process_resumes_its_streams_numpy_too(tmp_path):
    c = checkpointer(tmp_path)
    seed(5)
    path = c.save(1, {})
    after = draw()
    seed(6)
    c.restore(path)
    assert draw() == after
    assert sorted(p.name for p in path.glob("rng*.pt")) == ["rng.pt", "rng_rank0.pt"]


def test_without_its_own_file_a_rank_resumes_with_rank_0s_generators(tmp_path):
    """A checkpoint written before the per-rank files (or by fewer processes) has none for this
    rank: it takes rng.pt, rank 0's torch and Python generators (numpy's stays as it is)."""
    c = checkpointer(tmp_path)
    seed(5)
    path = c.save(1, {})
    after = draw()
    (path / "rng_rank0.pt").unlink()  # as an older checkpoint
    for rank in (0, 1):
        seed(6)
        np.random.seed(7)
        numpy_before = np.random.get_state()[1].copy()
        checkpointer(tmp_path, rank, world_size=2).restore(path)
        again = draw()
        assert (again["torch"], again["python"]) == (after["torch"], after["python"])
        np.random.seed(7)
        assert np.array_equal(np.random.get_state()[1], numpy_before) and again["numpy"] == np.random.rand(3).tolist()


def test_a_rank_with_its_own_file_resumes_its_own_generators(tmp_path):
    """Rank 1 of a 2-process run, simulated: the file written for it is the one it restores."""
    c = checkpointer(tmp_path)
    seed(5)
    path = c.save(1, {})
    seed(11)
    c.parts.save_ranks(path, [{}, c.parts.rank_states()])  # what rank 1's gathered state gives
    rank1 = draw()
    seed(5)
    checkpointer(tmp_path, 1, world_size=2).restore(path)
    assert draw() == rank1
