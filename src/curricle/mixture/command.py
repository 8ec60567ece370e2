"""``curricle sample CONFIG``: draw batches from the run's mixture and show what the model
would see."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from curricle.config import load_config
from curricle.mixture.preview import preview_mixture, print_preview
from curricle.store import TokenStore


def preview_command(config_path: Path, steps: int = 200, show: int = 2) -> dict[str, Any]:
    config = load_config(config_path)
    result = preview_mixture(TokenStore(config.data_dir), config.mixture, config.seed, steps)
    print_preview(result, show)
    return result
