"""The sequence-length schedule: a fixed length, or a ramp through (step, length) points."""

from __future__ import annotations

import bisect
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class SeqLenSchedule(BaseModel):
    """``points: [[0, 64], [500, 256]]``: 64 tokens per row at step 0, 256 from step 500.

    Between points the length is interpolated (``linear``) or held (``step``), then rounded
    down to a multiple of ``multiple_of``. Before the first point the first length holds,
    after the last the last.
    """

    model_config = ConfigDict(extra="forbid")

    points: list[tuple[int, int]] = Field(min_length=1)
    """(step, tokens per row) pairs, steps strictly increasing, lengths >= 2."""
    interpolate: Literal["linear", "step"] = "linear"
    """How the length moves between points."""
    multiple_of: int = Field(8, ge=1)
    """Round interpolated lengths down to a multiple of this (kernel-friendly shapes)."""

    @model_validator(mode="after")
    def _check(self) -> "SeqLenSchedule":
        steps = [s for s, _ in self.points]
        if any(b <= a for a, b in zip(steps, steps[1:])):
            raise ValueError(f"points: steps must be strictly increasing, got {steps}")
        if any(s < 0 for s in steps):
            raise ValueError("points: steps must be >= 0")
        if any(n < 2 for _, n in self.points):
            raise ValueError("points: every length must be >= 2")
        return self

    def at(self, step: int) -> int:
        steps = [s for s, _ in self.points]
        i = bisect.bisect_right(steps, step) - 1
        if i < 0:
            return self.points[0][1]
        if i == len(self.points) - 1 or self.interpolate == "step":
            return self.points[i][1]
        (s0, n0), (s1, n1) = self.points[i], self.points[i + 1]
        n = n0 + (n1 - n0) * (step - s0) / (s1 - s0)
        return max(self.multiple_of, int(n) // self.multiple_of * self.multiple_of)

    @property
    def max_len(self) -> int:
        return max(n for _, n in self.points)


def seq_len_at(spec: int | SeqLenSchedule, step: int) -> int:
    return spec if isinstance(spec, int) else spec.at(step)


def max_seq_len(spec: int | SeqLenSchedule) -> int:
    return spec if isinstance(spec, int) else spec.max_len
