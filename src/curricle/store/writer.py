"""Writing one domain split of the token store (see :mod:`curricle.store.token_store`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq


class DomainSplitWriter:
    """Appends documents to ``tokens.bin`` and keeps the index; ``close`` writes the rest.

    The caller writes into a temporary directory and renames it when every split is done
    (:func:`curricle.atomic.directory`), so a reader never sees a partial split.
    """

    def __init__(self, path: Path, dtype: np.dtype, eos_id: int, types: dict[str, pa.DataType] | None = None):
        self.path = Path(path)
        self.types = dict(types or {})
        """Arrow types of metadata columns (the rest are inferred from their values)."""
        self.path.mkdir(parents=True, exist_ok=True)
        self.dtype = np.dtype(dtype)
        self.eos = np.array([eos_id], dtype=self.dtype)
        self._f = open(self.path / "tokens.bin", "wb")
        self._offsets = [0]
        self._meta: dict[str, list[Any]] = {}

    def add(self, ids: np.ndarray, meta: dict[str, Any]) -> None:
        """Append one document (its tokens, without EOS) and its metadata row."""
        ids = np.asarray(ids, dtype=self.dtype)
        self._f.write(ids.tobytes())
        self._f.write(self.eos.tobytes())
        self._offsets.append(self._offsets[-1] + len(ids) + 1)
        for k, v in meta.items():
            self._meta.setdefault(k, []).append(v)

    @property
    def n_docs(self) -> int:
        return len(self._offsets) - 1

    @property
    def n_tokens(self) -> int:
        return self._offsets[-1]

    def close(self) -> dict[str, int]:
        self._f.close()
        np.save(self.path / "index.npy", np.asarray(self._offsets, dtype=np.int64))
        columns = {k: pa.array(v, type=self.types.get(k)) for k, v in self._meta.items()}
        pq.write_table(pa.table(columns) if columns else pa.table({}), self.path / "meta.parquet")
        return {"docs": self.n_docs, "tokens": self.n_tokens}
