"""``RUN/metrics.jsonl``: one JSON object per optimizer step (always on)."""

from __future__ import annotations

import json
from pathlib import Path

from curricle.telemetry.sinks.base import MetricsSink


def append_jsonl(path: Path, record: dict) -> None:
    """Append ``record`` to ``path`` as one JSON line (the run logs: curriculum, mixture, events)."""
    with open(path, "a", encoding="utf-8") as f:
        f.write(json.dumps(record, default=str) + "\n")


def truncate_jsonl(path: Path, keep_lines: int) -> None:
    """Keep the first ``keep_lines`` lines of ``path`` (what a resumed run had written)."""
    if not path.exists():
        return
    with open(path, "rb") as f:
        lines = f.readlines()
    if len(lines) > keep_lines:
        with open(path, "wb") as f:
            f.writelines(lines[:keep_lines])


def count_lines(path: Path) -> int:
    if not path.exists():
        return 0
    with open(path, "rb") as f:
        return sum(1 for _ in f)


class JsonlSink(MetricsSink):
    def __init__(self, run_dir, start_step, config):
        super().__init__(run_dir, start_step, config)
        self.path = self.run_dir / "metrics.jsonl"
        self._f = open(self.path, "a", encoding="utf-8")

    @property
    def lines(self) -> int:
        self._f.flush()
        return count_lines(self.path)

    def write(self, step, metrics):
        self._f.write(json.dumps({"step": step, **metrics}) + "\n")
        self._f.flush()

    def close(self):
        self._f.close()
