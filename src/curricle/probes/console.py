"""The terminal that tables of skills print to (``curricle probe``, ``map``, ``study``)."""

from __future__ import annotations

from rich.console import Console


def wide_console() -> Console:
    """A console at least 110 columns wide (tables of skills do not fit 80; logs do not wrap)."""
    return Console(width=max(110, Console().width))
