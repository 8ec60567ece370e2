"""Where a probe task's items come from: one file per kind, registered in ``datasets/__init__``.

A dataset config has a ``kind`` (its registry key) and ``build(context) -> list[ProbeItem]``,
deterministic in the config (and, for text probes, in the token store it reads).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from pydantic import BaseModel, ConfigDict

from curricle.probes.item import ProbeItem


@dataclass(frozen=True)
class BuildContext:
    """What building items may need beyond the config."""

    base_dir: Path | None = None
    """Relative paths in a task file resolve against this (the task file's directory)."""
    data_dir: Path | None = None
    """A prepared token store, for text probes that name no ``data_dir`` of their own."""


class DatasetConfig(BaseModel):
    """Base of the item sources."""

    model_config = ConfigDict(extra="forbid")

    kind: str
    #: Skills a composite task composes, when the source knows (generators do).
    composite_of: ClassVar[tuple[str, ...]] = ()

    def build(self, context: BuildContext) -> list[ProbeItem]:  # pragma: no cover - abstract
        raise NotImplementedError

    def default_composite_of(self) -> tuple[str, ...]:
        return ()

    def default_ladder(self) -> tuple[str, str, int] | None:
        """``(family, level, index in the family's ladder)`` when the items are one level of
        a difficulty ladder (a generator level), else None."""
        return None

    def in_sample(self, items: list[ProbeItem]) -> bool:
        """Whether some of ``items`` may be training items (a generator level too small to
        hold enough out); False unless the source knows."""
        return False
