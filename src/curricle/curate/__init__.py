"""Curation: the run's sources through extraction, language ID, quality heuristics, PII
redaction, decontamination and deduplication, into per-domain files ``prepare`` reads.

Entry points:

- :func:`curate` runs it (locally or on Ray) and returns the :class:`FunnelReport`;
- :func:`curated_source_configs` lists the ``curated`` source configs that read its output;
- :class:`~curricle.curate.config.CurateConfig` is the ``curate:`` block of a run config.

This module imports nothing heavy (the source registry imports :mod:`curricle.curate.source`
through it); the pipeline and its libraries load when :func:`curate` is called.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from curricle.config import RunConfig
    from curricle.curate.config import CurateConfig
    from curricle.curate.funnel import FunnelReport


def curate(run_config: "RunConfig", curate_config: "CurateConfig", executor: str | None = None,
           progress: bool = True) -> "FunnelReport":
    """Curate ``run_config.sources`` into ``curate_config.output_dir``.

    ``executor`` (``local`` / ``ray``) overrides ``curate_config.executor``. Resumes an
    interrupted run; does nothing when the output is already up to date. Bad input never
    raises: it is quarantined and counted. Raises :class:`~curricle.errors.CurricleError` for
    user errors (a missing source path, an unknown domain in a step's ``domains``).
    """
    from curricle.curate.pipeline import run_curate

    return run_curate(run_config, curate_config, executor=executor, progress=progress)


def curated_source_configs(curate_config: "CurateConfig | Path | str") -> list[dict[str, Any]]:
    """One ``{"kind": "curated", "path": ..., "domain": ...}`` source config per domain of the
    committed curate output (``funnel.json``), sorted by domain; ``prepare`` reads these in
    place of the raw sources. Raises ``CurricleError`` when there is no curate output yet."""
    from curricle.curate.funnel import read_funnel
    from curricle.errors import CurricleError

    out = Path(curate_config) if isinstance(curate_config, (str, Path)) else Path(curate_config.output_dir)
    funnel = read_funnel(out)
    if funnel is None:
        raise CurricleError(f"{out}: no curated output (no funnel.json); run `curricle curate` first")
    return [{"kind": "curated", "path": str(out), "domain": d} for d in sorted(funnel["domains"])]


__all__ = ["curate", "curated_source_configs"]
