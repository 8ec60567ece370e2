"""The ``curated`` source kind lives with the other kinds: :mod:`curricle.sources.curated`."""

from curricle.sources.curated import CuratedConfig, CuratedSource

__all__ = ["CuratedConfig", "CuratedSource"]
