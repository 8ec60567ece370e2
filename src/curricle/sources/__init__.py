"""Sources: one file per kind; their configs and the registry of kinds are in
:mod:`curricle.sources.config`.

Adding a kind: a ``SourceConfig`` subclass in ``config.py`` (its ``kind`` a ``Literal``),
``sources/<kind>.py`` with a :class:`~curricle.sources.base.Source` subclass, and one line in
``SOURCES``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from curricle.sources.config import SOURCES, SourceConfig, SourceSpec

if TYPE_CHECKING:
    from curricle.sources.base import Source


def build_source(config: SourceConfig) -> "Source":
    """The source object for a validated source config."""
    return SOURCES.build(config)


__all__ = ["SOURCES", "SourceConfig", "SourceSpec", "build_source"]
