"""Which process this is under torchrun / accelerate, read from the environment (so it can be
asked before any process group exists)."""

from __future__ import annotations

import os


def is_main() -> bool:
    """Whether this is the main process (rank 0, or no torchrun at all)."""
    return int(os.environ.get("RANK", "0")) == 0
