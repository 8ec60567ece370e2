"""Sources: one file per kind, registered here by name.

Adding a kind: write ``sources/<kind>.py`` with a ``SourceConfig`` subclass (its ``kind`` a
``Literal``) and a ``Source`` subclass, then add one line to ``SOURCES``.
"""

from __future__ import annotations

from curricle.registry import config_union
from curricle.sources.base import Document, Source, SourceConfig, SourceStats
from curricle.sources.curated import CuratedSource
from curricle.sources.hf_disk import HFDiskSource
from curricle.sources.jsonl import JsonlSource
from curricle.sources.parquet import ParquetSource
from curricle.sources.python_code import PythonCodeSource
from curricle.sources.python_prose import PythonProseSource
from curricle.sources.synthetic import SyntheticSource
from curricle.sources.text_dir import TextDirSource

SOURCES: dict[str, type[Source]] = {
    "jsonl": JsonlSource,
    "parquet": ParquetSource,
    "text": TextDirSource,
    "hf-disk": HFDiskSource,
    "python-code": PythonCodeSource,
    "python-prose": PythonProseSource,
    "synthetic": SyntheticSource,
    "curated": CuratedSource,
}

#: The config of any source kind, told apart by its ``kind`` field.
SourceSpec = config_union(SOURCES)


def build_source(config: SourceConfig) -> Source:
    """The source object for a validated source config."""
    return SOURCES[config.kind](config)


__all__ = ["SOURCES", "SourceSpec", "Document", "Source", "SourceConfig", "SourceStats", "build_source"]
