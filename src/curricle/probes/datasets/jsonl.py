"""Items from a JSON Lines file: one ``{id, prompt, target, distractors}`` record a line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

from curricle.errors import CurricleError
from curricle.probes.datasets.base import BuildContext, DatasetConfig
from curricle.probes.item import ProbeItem
from curricle.tasks.files import BAD_UTF8, jsonl_lines


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
        # Lines split at "\n" only (str.splitlines also splits at U+2028 inside a JSON string).
        for where, line in jsonl_lines(path):
            if line is BAD_UTF8:
                raise CurricleError(f"{where}: not valid UTF-8")
            try:
                record = json.loads(line)
            except json.JSONDecodeError as err:
                raise CurricleError(f"{where}: not valid JSON ({err.msg})") from None
            if isinstance(record, dict):  # (anything else is refused by from_dict, naming where)
                record.setdefault("id", where.rpartition(":")[2])  # the line number
            items.append(ProbeItem.from_dict(record, where))
        if not items:
            raise CurricleError(f"{path}: no items")
        return items
