"""Per-document curation steps: one file per step kind, registered by kind in
:data:`curricle.curate.config.CURATION_STEPS` (config eagerly, implementation lazily).

Each step answers keep / drop-with-reason (and may rewrite the text or write document
fields); see :mod:`.base`. The built-in kinds: ``extract``, ``langid``, ``quality``,
``code-quality``, ``pii``, ``decontam`` (the default pipeline, in that order), and
``blocklist``, ``classifier``, ``license`` and ``python`` (the user's own function or class),
placed with ``curate.pipeline``. The deduplication steps need the whole corpus and live in
:mod:`curricle.curate.dedup`.
"""

from __future__ import annotations

from curricle.curate.config import CURATION_STEPS
from curricle.curate.steps.base import CurationStep, DomainRoles, StepContext

#: kind -> step class (imported on first lookup): the per-document part of the registry.
STEPS = CURATION_STEPS

__all__ = ["STEPS", "CurationStep", "DomainRoles", "StepContext"]
