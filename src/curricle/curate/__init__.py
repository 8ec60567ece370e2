"""Curation: sources through extraction, language ID, quality heuristics, PII redaction,
decontamination and deduplication, into per-domain files ``prepare`` reads.

- :func:`curricle.curate.pipeline.curate` runs it (locally or on Ray) and returns the
  :class:`~curricle.curate.funnel.FunnelReport`;
- :func:`curricle.curate.funnel.curated_source_configs` lists the ``curated`` source configs
  that read its output;
- :class:`curricle.curate.config.CurateConfig` is the ``curate:`` block of a run config;
- ``curricle curate`` is :mod:`curricle.curate.command`.
"""
