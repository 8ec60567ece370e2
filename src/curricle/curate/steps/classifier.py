"""``classifier``: a hook for the user's own classifier (toxicity, quality, topic...).

``{kind: classifier, function: my_models:toxicity, field: toxicity, drop_above: 0.8}`` calls
``toxicity(text)`` on each document, writes the score to ``doc.meta["toxicity"]`` (so later
steps and the curated documents carry it), and drops documents scoring above 0.8 (or below
``drop_below``) under reason ``classifier-toxicity``, the score and the bound in the
quarantine detail. A score that is not a finite number (a bool, a string, None, NaN, an
infinity, which no curated JSON line could hold) or an exception drops the document under
``error``. The function is imported like a ``python`` step's
(:mod:`.python`): in the launching process first, then in each worker.
"""

from __future__ import annotations

import math
from numbers import Real
from typing import Any

from curricle.curate.config import ClassifierConfig
from curricle.curate.document import CurDoc, Drop
from curricle.curate.steps.base import CurationStep
from curricle.curate.steps.python import import_ref, source_hash
from curricle.errors import CurricleError
from curricle.registry import load


class ClassifierStep(CurationStep):
    config: ClassifierConfig

    @classmethod
    def prepare(cls, config: ClassifierConfig, where: str) -> Any:
        fn = import_ref(config.function, f"{where}.function")
        if not callable(fn):
            raise CurricleError(f"{where}.function: '{config.function}' is not callable")
        return {"source": source_hash(fn)}

    def setup(self) -> None:
        self._score = load(self.config.function)

    def apply(self, doc: CurDoc) -> Drop | None:
        c = self.config
        score = self._score(doc.text)
        if isinstance(score, bool) or not isinstance(score, Real) or not math.isfinite(score):
            raise TypeError(f"{c.function} returned {score!r}; expected a finite number")
        score = float(score)
        doc.meta[c.field] = score
        if c.drop_above is not None and score > c.drop_above:
            return Drop(f"classifier-{c.field}", {c.field: score, "drop_above": c.drop_above})
        if c.drop_below is not None and score < c.drop_below:
            return Drop(f"classifier-{c.field}", {c.field: score, "drop_below": c.drop_below})
        return None
