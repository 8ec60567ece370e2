"""Shared fixtures: a token store built directly from literal token lists."""

from __future__ import annotations

import os

# Under pytest-xdist (`make test` runs a worker a core) each worker, and every process it starts,
# computes on one thread: workers that each spin up a core's worth of OpenMP threads on the
# same cores slow each other down, the contention the demo's CPU check warns about. Set before
# anything imports torch.
if os.environ.get("PYTEST_XDIST_WORKER"):
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    os.environ.setdefault("MKL_NUM_THREADS", "1")

from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from curricle.store.manifest import DomainEntry, Manifest, SplitCounts, TokenizerEntry, write_manifest
from curricle.store.writer import DomainSplitWriter

EOS = 0

# Training runs in tests (and the processes they start) skip the look for other work on the
# CPU (curricle.train.cpu): on a busy test machine it would add cpu-contention events to logs
# whose exact contents the tests check. tests/train/test_cpu.py tests the check itself.
os.environ["CURRICLE_CPU_CHECK"] = "off"


def write_store(root: Path, domains: dict[str, list[list[int]]], heldout: dict[str, list[list[int]]] | None = None,
                vocab_size: int = 1000, extra_meta: dict[str, list] | None = None) -> Path:
    """A prepared data dir whose domains hold exactly these documents (token ids, no EOS).

    ``extra_meta`` adds per-document metadata columns to train splits (``domain/column``).
    """
    dtype = np.dtype(np.uint16)
    manifest = Manifest(dtype=dtype.name, eos_id=EOS, vocab_size=vocab_size, tokenizer=TokenizerEntry(dir="tokenizer-none"))
    for name, docs in domains.items():
        counts = {}
        for split, split_docs in (("train", docs), ("heldout", (heldout or {}).get(name, docs[:1]))):
            w = DomainSplitWriter(root / "store" / name / split, dtype, EOS)
            for i, ids in enumerate(split_docs):
                meta = {"doc_id": f"{name}-{i}", "n_tokens": len(ids)}
                for key, values in (extra_meta or {}).items():
                    dom, col = key.split("/")
                    if dom == name and split == "train":
                        meta[col] = values[i]
                w.add(np.asarray(ids), meta)
            counts[split] = SplitCounts(**w.close())
        manifest.domains[name] = DomainEntry(dir=f"store/{name}", group=name, **counts)
    write_manifest(root, manifest)
    return root


@pytest.fixture
def make_store(tmp_path):
    def _make(domains, **kw):
        return write_store(tmp_path / "data", domains, **kw)

    return _make


# A prepared store and micro-model run configs (tests/train/conftest.py), for every package's tests.
from tests.train.conftest import make_config, prepared_dir, write_config  # noqa: E402,F401
