"""Item sources of probe tasks, registered by ``kind``. One file per kind.

Adding one: write ``datasets/<kind>.py`` with a :class:`DatasetConfig` subclass (its ``kind``
a ``Literal``) implementing ``build``, then add one line to ``DATASETS``.
"""

from __future__ import annotations

from typing import Annotated, Union

from pydantic import Field

from curricle.probes.datasets.base import BuildContext, DatasetConfig
from curricle.probes.datasets.code_syntax import CodeSyntaxDatasetConfig
from curricle.probes.datasets.generator import GeneratorDatasetConfig
from curricle.probes.datasets.heldout_text import HeldoutTextDatasetConfig
from curricle.probes.datasets.jsonl import JsonlDatasetConfig

DATASETS: dict[str, type[DatasetConfig]] = {
    "generator": GeneratorDatasetConfig,
    "jsonl": JsonlDatasetConfig,
    "heldout-text": HeldoutTextDatasetConfig,
    "code-syntax": CodeSyntaxDatasetConfig,
}

DatasetSpec = Annotated[Union[tuple(DATASETS.values())], Field(discriminator="kind")]  # type: ignore[misc]

__all__ = ["DATASETS", "BuildContext", "DatasetConfig", "DatasetSpec"]
