"""Quality heuristics for prose: datatrove's Gopher, C4 and FineWeb filters, FineWeb's recipe.

The rules and their thresholds are datatrove's implementations with the published defaults:

- ``gopher_repetition``: Gopher (Rae et al. 2021, table A1): duplicate line / paragraph
  fractions, top 2-4-gram and duplicate 5-10-gram character fractions.
- ``gopher_quality``: Gopher: 50-100,000 words, mean word length 3-10, symbol/word ratio,
  bullet and ellipsis lines, 80 % words with a letter, at least 2 English stop words.
- ``c4``: C4 (Raffel et al. 2020) line and page rules. As in FineWeb's recipe the terminal
  punctuation line rule is off by default (``filter_no_terminal_punct: false``); C4's other
  line rules rewrite the document (lines removed), page rules drop it.
- ``fineweb``: FineWeb's own (Penedo et al. 2024): share of lines ending in punctuation,
  share of short lines, duplicated-line characters, newline/word ratio.

They run in that order (FineWeb's) and the first that fails names the drop reason, datatrove's
label with a prefix: ``gopher_short_doc``, ``gopher_rep_dup_line_frac``, ``c4_curly_bracket``,
``fineweb_line_punct_ratio``... Words are split by :class:`~curricle.curate.regex_tokenizer.RegexWordTokenizer`
(see there why not spaCy). Code domains get :mod:`~curricle.curate.steps.code_quality` instead.
"""

from __future__ import annotations

from typing import Any

from curricle.curate.config import QualityConfig
from curricle.curate.document import CurDoc, Drop
from curricle.curate.steps.base import CurationStep


class QualityStep(CurationStep):
    default_domains = "prose"
    config: QualityConfig

    def setup(self) -> None:
        from datatrove.pipeline.filters import (
            C4QualityFilter,
            FineWebQualityFilter,
            GopherQualityFilter,
            GopherRepetitionFilter,
        )

        from curricle.curate.regex_tokenizer import WORD_TOKENIZER

        c = self.config
        self._filters: list[tuple[str, Any]] = []
        for prefix, rule, cls in (
            ("gopher_rep_", c.gopher_repetition, GopherRepetitionFilter),
            ("", c.gopher_quality, GopherQualityFilter),  # its labels already start with gopher_
            ("c4_", c.c4, C4QualityFilter),
            ("fineweb_", c.fineweb, FineWebQualityFilter),
        ):
            if rule.enabled:
                self._filters.append((prefix, cls(language=WORD_TOKENIZER, **rule.kwargs())))

    def apply(self, doc: CurDoc) -> Drop | None:
        from datatrove.data import Document

        dt_doc = Document(text=doc.text, id=doc.id)
        for prefix, f in self._filters:
            result = f.filter(dt_doc)
            ok, reason = (result, None) if not isinstance(result, tuple) else result
            if not ok:
                return Drop(f"{prefix}{reason or 'rejected'}")
        if dt_doc.text != doc.text:  # C4's line rules rewrote it
            doc.text = dt_doc.text
        return None
