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

from pydantic import BaseModel, ConfigDict, Field

from curricle.curate.document import CurDoc, Drop
from curricle.curate.steps.base import CurationStep, StepConfig


class _Rule(BaseModel):
    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    """Apply this rule set."""

    def kwargs(self) -> dict[str, Any]:
        """The datatrove filter's constructor arguments (field names match them)."""
        return self.model_dump(exclude={"enabled"})


class GopherRepetitionConfig(_Rule):
    dup_line_frac: float | None = 0.3
    """Max share of lines that are duplicates."""
    dup_para_frac: float | None = 0.3
    """Max share of paragraphs that are duplicates."""
    dup_line_char_frac: float | None = 0.2
    """Max share of characters in duplicate lines."""
    dup_para_char_frac: float | None = 0.2
    """Max share of characters in duplicate paragraphs."""
    top_n_grams: list[tuple[int, float]] = Field(default_factory=lambda: [(2, 0.2), (3, 0.18), (4, 0.16)])
    """(n, max share of characters in the most frequent n-gram)."""
    dup_n_grams: list[tuple[int, float]] = Field(
        default_factory=lambda: [(5, 0.15), (6, 0.14), (7, 0.13), (8, 0.12), (9, 0.11), (10, 0.10)]
    )
    """(n, max share of characters in duplicated n-grams)."""

    def kwargs(self) -> dict[str, Any]:
        kw = super().kwargs()
        kw["top_n_grams"] = tuple(tuple(x) for x in kw["top_n_grams"])
        kw["dup_n_grams"] = tuple(tuple(x) for x in kw["dup_n_grams"])
        return kw


class GopherQualityConfig(_Rule):
    min_doc_words: int | None = 50
    """Fewest words (not counting pure punctuation)."""
    max_doc_words: int | None = 100_000
    """Most words."""
    min_avg_word_length: int | None = 3
    """Smallest mean word length."""
    max_avg_word_length: int | None = 10
    """Largest mean word length."""
    max_symbol_word_ratio: float | None = 0.1
    """Max ratio of ``#`` (and, separately, of ellipses) to words."""
    max_bullet_lines_ratio: float | None = 0.9
    """Max share of lines starting with a bullet."""
    max_ellipsis_lines_ratio: float | None = 0.3
    """Max share of lines ending with an ellipsis."""
    max_non_alpha_words_ratio: float | None = 0.8
    """Min share of words holding at least one letter (datatrove's name for it)."""
    min_stop_words: int | None = 2
    """Fewest distinct English stop words (the, be, to, of, and, that, have, with)."""


class C4Config(_Rule):
    split_paragraph: bool = True
    """Apply line rules to lines (C4); False: to sentences."""
    remove_citations: bool = True
    """Remove Wikipedia-style citation marks (``[1]``, ``[edit]``)."""
    filter_no_terminal_punct: bool = False
    """Remove lines not ending in terminal punctuation (C4: on; FineWeb's recipe: off)."""
    min_num_sentences: int = 5
    """Drop pages with fewer sentences after line removal (-1: off)."""
    min_words_per_line: int = 3
    """Remove lines with fewer words (-1: off)."""
    max_word_length: int = 1000
    """Remove lines holding a longer word (-1: off)."""
    filter_lorem_ipsum: bool = True
    """Drop pages containing "lorem ipsum"."""
    filter_javascript: bool = True
    """Remove lines mentioning javascript."""
    filter_curly_bracket: bool = True
    """Drop pages containing a ``{``."""
    filter_policy: bool = True
    """Remove lines about cookies and terms of use."""


class FineWebConfig(_Rule):
    line_punct_thr: float = 0.12
    """Min share of lines ending in terminal punctuation."""
    line_punct_exclude_zero: bool = False
    """Exempt documents with no such line at all."""
    short_line_thr: float = 0.67
    """Max share of short lines."""
    short_line_length: int = 30
    """A line of at most this many characters is short."""
    char_duplicates_ratio: float = 0.01
    """Max share of characters in duplicated lines."""
    new_line_ratio: float = 0.3
    """Max ratio of newlines to words."""


class QualityConfig(StepConfig):
    gopher_repetition: GopherRepetitionConfig = Field(default_factory=GopherRepetitionConfig)
    """Gopher's repetition rules."""
    gopher_quality: GopherQualityConfig = Field(default_factory=GopherQualityConfig)
    """Gopher's quality rules."""
    c4: C4Config = Field(default_factory=C4Config)
    """C4's line and page rules."""
    fineweb: FineWebConfig = Field(default_factory=FineWebConfig)
    """FineWeb's rules."""


class QualityStep(CurationStep):
    name = "quality"
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
