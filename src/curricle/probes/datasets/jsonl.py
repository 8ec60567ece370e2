"""Items from a JSON Lines file: one ``{id, prompt, target, distractors}`` record a line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

from curricle.errors import CurricleError
from curricle.probes.datasets.base import BuildContext, DatasetConfig
from curricle.probes.item import ProbeItem


class JsonlDatasetConfig(DatasetConfig):
    kind: Literal["jsonl"] = "jsonl"
    """Always ``jsonl``."""
    path: Path
    """The file; a relative path is relative to the task file."""

    def build(self, context: BuildContext) -> list[ProbeItem]:
        path = self.path if self.path.is_absolute() or context.base_dir is None else context.base_dir / self.path
        if not path.is_file():
            raise CurricleError(f"{path}: no such items file")
        items = []
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as err:
                raise CurricleError(f"{path}:{n}: not valid JSON ({err.msg})") from None
            record.setdefault("id", f"{n}")
            items.append(ProbeItem.from_dict(record, f"{path}:{n}"))
        if not items:
            raise CurricleError(f"{path}: no items")
        return items
