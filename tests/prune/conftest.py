"""Stores the prune tests share."""

import json

import numpy as np
import pytest

from curricle.config import parse_config
from curricle.prepare.command import prepare_run

WORDS = ("river stone garden window paper market silver orange violin castle pencil bridge forest candle "
         "rocket harbor meadow lantern puzzle thunder").split()


def prose(seed, n=30):
    rng = np.random.default_rng(seed)
    return " ".join(rng.choice(WORDS, n))


@pytest.fixture
def dup_store(tmp_path):
    """Eight documents: A, A+1 word, A+2 words, B, B+1 word, and three unrelated ones."""
    a, b = prose(1), prose(2)
    texts = [a, a + " tail", b, prose(3), a + " tail end", b + " more", prose(4), prose(5)]
    path = tmp_path / "d.jsonl"
    path.write_text("".join(json.dumps({"id": f"t{i}", "text": t}) + "\n" for i, t in enumerate(texts)))
    prepare_run(parse_config({"data_dir": str(tmp_path / "data"), "tokenizer": {"vocab_size": 300},
                              "prepare": {"heldout_fraction": 0.0, "min_heldout_docs": 0},
                              "sources": [{"kind": "jsonl", "path": str(path), "domain": "web"}]}), progress=False)
    return tmp_path / "data"
