"""Per-document curation steps: one file per step, registered here by name, in pipeline order.

Each step answers keep / drop-with-reason (and may rewrite the text); see :mod:`.base`. The
deduplication steps need the whole corpus and live in :mod:`curricle.curate.dedup`.
"""

from __future__ import annotations

from curricle.curate.steps.base import CurationStep, DomainRoles, StepContext
from curricle.curate.steps.code_quality import CodeQualityStep
from curricle.curate.steps.decontam import DecontamStep
from curricle.curate.steps.extract import ExtractStep
from curricle.curate.steps.langid import LangIdStep
from curricle.curate.steps.pii import PIIStep
from curricle.curate.steps.quality import QualityStep
from curricle.curate.steps.quality_model import QualityModelStep

#: name -> step, in the order documents go through them. The key is the step's name in the
#: funnel, its quarantine file name, and the attribute of ``CurateConfig`` holding its config
#: (with ``-`` as ``_``).
STEPS: dict[str, type[CurationStep]] = {
    "extract": ExtractStep,
    "langid": LangIdStep,
    "quality": QualityStep,
    "code-quality": CodeQualityStep,
    "quality-model": QualityModelStep,
    "pii": PIIStep,
    "decontam": DecontamStep,
}

__all__ = ["STEPS", "CurationStep", "DomainRoles", "StepContext"]
