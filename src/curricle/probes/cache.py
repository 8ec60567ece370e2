"""The probe cache: scores per (weights, tokenizer, model config, task, scorer settings).

One small JSON file per entry under ``CACHE/scores/``, written atomically, so concurrent
probe runs (one per checkpoint) can share a cache directory. A rerun over a grown series
scores only the new checkpoints and tasks.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from curricle import atomic

#: Bump when a change to scoring changes numbers, so old entries are not reused.
SCORER_VERSION = 1


def cache_key(model_id: str, task_hash: str, settings: dict[str, Any]) -> str:
    blob = json.dumps({"model": model_id, "task": task_hash, "settings": settings,
                       "version": SCORER_VERSION}, sort_keys=True)
    return hashlib.blake2b(blob.encode(), digest_size=16).hexdigest()


class ProbeCache:
    def __init__(self, root: Path | str):
        self.root = Path(root)

    def _path(self, key: str) -> Path:
        return self.root / "scores" / key[:2] / f"{key}.json"

    def get(self, key: str) -> dict[str, Any] | None:
        p = self._path(key)
        if not p.is_file():
            return None
        try:
            return json.loads(p.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError):
            return None  # a damaged entry is rescored

    def put(self, key: str, entry: dict[str, Any]) -> None:
        atomic.write_text(self._path(key), json.dumps(entry))

    @property
    def hash_memo_path(self) -> Path:
        return self.root / "file-hashes.json"
