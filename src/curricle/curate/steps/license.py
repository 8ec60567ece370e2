"""``license``: keep documents whose licence is allowed.

A document's licence is ``doc.meta["license"]``: its record's ``license_field`` where the
source names one and the record holds it, else its source's ``license`` (none if neither).
``{kind: license, allowed: [cc-by-4.0, mit]}`` keeps documents whose licence is listed
(compared case-insensitively), drops the others under ``license`` (the licence in the
quarantine detail) and documents with none under ``license-missing``. The funnel counts
documents kept and dropped per licence whether or not this step runs (``funnel.json``'s
``licenses``).
"""

from __future__ import annotations

from curricle.curate.config import LicenseConfig
from curricle.curate.document import CurDoc, Drop
from curricle.curate.steps.base import CurationStep


class LicenseStep(CurationStep):
    config: LicenseConfig

    def setup(self) -> None:
        self._allowed = {x.strip().casefold() for x in self.config.allowed}

    def apply(self, doc: CurDoc) -> Drop | None:
        license = doc.meta.get("license")
        if license is None or license == "":
            return Drop("license-missing")
        if str(license).strip().casefold() not in self._allowed:
            return Drop("license", {"license": license})
        return None
