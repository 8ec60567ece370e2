"""Each rank's own random streams through a checkpoint, under torchrun (gloo on CPU).

``python -m torch.distributed.run --nproc_per_node=2 -m tests.train.rank_rng OUT``: every rank
seeds its generators by its rank, saves checkpoint 1 with a :class:`Checkpointer` (as the
training loop does), draws, restores the checkpoint and draws again; ``OUT/rank<R>.json`` holds
both draws. A rank restored with another rank's generators draws another rank's numbers.
"""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
from transformers import LlamaConfig, LlamaForCausalLM

from curricle.train.checkpointer import Checkpointer, RNGState
from curricle.train.config import CheckpointConfig
from curricle.train.distributed import barrier, init_distributed


def draw() -> dict[str, list[float]]:
    return {"torch": torch.rand(3).tolist(), "python": [random.random() for _ in range(3)],
            "numpy": np.random.rand(3).tolist()}


def main(out: Path) -> None:
    info = init_distributed("cpu")
    torch.manual_seed(0)
    model = LlamaForCausalLM(LlamaConfig(vocab_size=16, hidden_size=8, num_hidden_layers=1, num_attention_heads=2,
                                         intermediate_size=16, max_position_embeddings=16))
    checkpointer = Checkpointer(out / "checkpoints", CheckpointConfig(), model, dist=info)
    checkpointer.register("rng", RNGState(), binary=True)
    seed = 100 + info.rank
    torch.manual_seed(seed)
    random.seed(seed)
    np.random.seed(seed)
    draw()  # the streams move on before the checkpoint
    checkpointer.save(1, {})
    barrier(info)
    after = draw()
    checkpointer.restore(checkpointer.latest()[1])
    again = draw()
    (out / f"rank{info.rank}.json").write_text(json.dumps({"after": after, "again": again}))
    barrier(info)
    dist.destroy_process_group()


if __name__ == "__main__":
    main(Path(sys.argv[1]))
