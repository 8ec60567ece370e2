"""The ``curate:`` block of a run config: where curated documents go, how the work is run, and
each step's settings (every step optional, thresholds defaulting to the published ones).

Adding a step: its config (a :class:`StepConfig` subclass) here and a field for it in
:class:`CurateConfig`, its implementation in ``steps/<name>.py``, and one line in ``STEPS``
(``steps/__init__.py``).
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

# -- the steps' configs (one per step; a step's implementation is in steps/<name>.py or dedup.py) --

class StepConfig(BaseModel):
    """Fields every step shares."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    """Run this step (False: it is left out of the pipeline and the funnel)."""
    domains: list[str] | None = None
    """The domains it runs on. None: the step's default (all domains, the prose domains for
    prose-only steps, the code domains for code-only steps; see ``CurateConfig``)."""

    def files_fingerprint(self) -> dict[str, Any] | None:
        """What the step reads from files besides its settings (a model's hash), for curate's
        fingerprint; None: nothing."""
        return None


class ExtractConfig(StepConfig):
    mode: Literal["auto", "always"] = "auto"
    """``auto``: extract documents that look like HTML, pass the rest through; ``always``:
    every document is HTML."""
    timeout_s: float = Field(5.0, gt=0)
    """Per-document extraction time limit (datatrove's default is 1 s, tuned for pages
    already known to be simple; 5 s leaves room on a loaded 2-core machine)."""
    favour_precision: bool = True
    """Trafilatura's ``favor_precision``: less text, less boilerplate (datatrove's default)."""


class LangIdConfig(StepConfig):
    languages: list[str] = Field(default_factory=lambda: ["en"], min_length=1)
    """Allowed languages (ISO 639-1 codes as lid.176 spells them: ``en``, ``de``, ``zh``...)
    for every domain the step runs on, unless ``per_domain`` names the domain."""
    per_domain: dict[str, list[str]] = Field(default_factory=dict)
    """Allowed languages of particular domains, e.g. ``{wiki_de: [de]}``."""
    threshold: float = Field(0.65, ge=0, le=1)
    """Minimum score of the top language (datatrove / FineWeb: 0.65)."""
    max_chars: int | None = Field(2000, ge=1)
    """Classify only the first this many characters (fastText's cost is linear in length;
    the first 2000 characters decide the language of nearly every document). None: all."""


class _Rules(BaseModel):
    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    """Apply this rule set."""

    def kwargs(self) -> dict[str, Any]:
        """The datatrove filter's constructor arguments (field names match them)."""
        return self.model_dump(exclude={"enabled"})


class GopherRepetitionConfig(_Rules):
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


class GopherQualityConfig(_Rules):
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


class C4Config(_Rules):
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


class FineWebConfig(_Rules):
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


class CodeQualityConfig(StepConfig):
    max_line_length: int | None = Field(1000, ge=1)
    """Drop files with a longer line (None: off)."""
    max_mean_line_length: float | None = Field(100, gt=0)
    """Drop files whose mean line length is larger (None: off)."""
    min_alnum_fraction: float | None = Field(0.25, ge=0, le=1)
    """Drop files with a smaller share of alphanumeric characters (None: off)."""
    autogen_header_lines: int | None = Field(5, ge=1)
    """Look for auto-generation markers in this many first lines (None: off)."""
    max_encoded_fraction: float | None = Field(0.5, ge=0, le=1)
    """Drop files whose encoded-data runs cover a larger share of characters (None: off)."""
    max_encoded_run: int | None = Field(1024, ge=1)
    """Drop files holding a longer encoded-data run (None: off)."""


class QualityModelConfig(StepConfig):
    """The ``quality-model`` step: score every document with a classifier trained by
    ``curricle quality train`` and keep by the score."""

    model: Path | None = None
    """The model file ``curricle quality train`` wrote (required when the step is on)."""
    field: str = Field("quality", min_length=1)
    """The document field (``meta``) the score is written to: the probability, in [0, 1], that
    the document is like the reference documents. A ``curated`` source with ``meta_fields:
    [quality]`` carries it into the token store."""
    threshold: float | None = Field(None, ge=0, le=1)
    """Keep documents scoring at least this."""
    top_share: float | None = Field(None, gt=0, le=1)
    """Keep this share of the documents reaching the step: those scoring at or above the
    threshold that keeps it on a seeded sample of them (``sample_docs``), computed once before
    the documents are scored."""
    keep_all: bool = False
    """Only score: write the field, drop nothing."""
    sample_docs: int = Field(10_000, ge=1)
    """``top_share``: how many documents (a seeded uniform sample of those the step applies to,
    after the steps before it) the threshold is computed on. A corpus this small or smaller is
    scored whole: the share is then exact up to ties at the threshold (which are kept)."""
    seed: int = 0
    """``top_share``: the seed of the sample."""

    @model_validator(mode="after")
    def _one_rule(self) -> "QualityModelConfig":
        if not self.enabled:
            return self
        if self.model is None:
            raise ValueError("'model' is required: a model file from `curricle quality train`")
        rules = [name for name, on in (("threshold", self.threshold is not None),
                                       ("top_share", self.top_share is not None), ("keep_all", self.keep_all)) if on]
        if len(rules) != 1:
            raise ValueError("give exactly one of 'threshold', 'top_share' or 'keep_all: true'"
                             + (f" (got {', '.join(rules)})" if rules else ""))
        return self

    def files_fingerprint(self) -> dict[str, Any] | None:
        """The model file's SHA-256: curate's fingerprint covers the model's content, not only
        its path, so a retrained model re-curates."""
        if not self.enabled or self.model is None or not Path(self.model).expanduser().is_file():
            return None
        h = hashlib.sha256()
        with open(Path(self.model).expanduser(), "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
        return {"model_sha256": h.hexdigest()}


class Replacements(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: str = "<EMAIL>"
    """What an e-mail address becomes."""
    phone: str = "<PHONE>"
    """What a phone number becomes."""
    ip_address: str = "<IP_ADDRESS>"
    """What an IP address becomes."""
    credit_card: str = "<CREDIT_CARD>"
    """What a credit-card number becomes."""
    secret: str = "<SECRET>"
    """What a key, token or password becomes."""


class PIIConfig(StepConfig):
    emails: bool = True
    """Redact e-mail addresses."""
    phones: bool = True
    """Redact phone numbers."""
    ip_addresses: bool = True
    """Redact IPv4 addresses."""
    only_public_ips: bool = True
    """Leave private, loopback and reserved addresses alone (datatrove's default)."""
    credit_cards: bool = True
    """Redact credit-card numbers (Luhn-checked)."""
    secrets: bool = True
    """Redact API keys, tokens, private keys and assigned passwords."""
    replacements: Replacements = Field(default_factory=Replacements)
    """The placeholders (StarCoder's style by default)."""


class EvalFileConfig(BaseModel):
    """An evaluation set to decontaminate against."""

    model_config = ConfigDict(extra="forbid")

    path: str = Field(min_length=1)
    """A ``.jsonl`` / ``.jsonl.gz`` file (one item per record) or ``.txt`` file (one item per
    non-blank line), or a glob of them."""
    text_fields: list[str] = Field(default_factory=lambda: ["text"], min_length=1)
    """For JSON Lines: the record keys whose string values are items (e.g. ``[question,
    answer]`` checks each separately)."""


class DecontamConfig(StepConfig):
    n: int = Field(13, ge=2)
    """n-gram length for long items (13: GPT-3's decontamination)."""
    min_item_tokens: int = Field(4, ge=1)
    """Items shorter than this many tokens are ignored; items between this and ``n`` match
    as a whole."""
    min_ngram_words: int = Field(7, ge=0)
    """An ``n``-gram of a long item is indexed only if at least this many of its tokens are
    words (not punctuation)."""
    probes: bool = True
    """Decontaminate against the held-out items of every registered synthetic skill."""
    probe_items: int = Field(256, ge=1)
    """How many held-out items per skill (and seed). Items are drawn in a fixed order, so this
    covers every probe that uses at most this many."""
    eval_files: list[EvalFileConfig] = Field(default_factory=list)
    """Evaluation sets to decontaminate against."""


class ExactDedupConfig(StepConfig):
    """Drop documents whose text is identical to an earlier document's."""


class LineDedupConfig(StepConfig):
    min_line_chars: int = Field(40, ge=1)
    """Lines shorter than this (after stripping) are never removed: headings, list items and
    short sentences repeat by nature."""


class NearDedupConfig(StepConfig):
    shingle_size: int = Field(5, ge=1)
    """Words per shingle (5: FineWeb, datatrove, Lee et al. 2022)."""
    bands: int = Field(14, ge=1)
    """LSH bands (14: FineWeb / datatrove's default)."""
    rows: int = Field(8, ge=1)
    """Permutations per band (8: FineWeb / datatrove's default); bands * rows permutations."""
    seed: int = 1
    """Seed of the MinHash permutations."""
    min_jaccard: float | None = Field(None, ge=0, le=1)
    """Also require this estimated Jaccard similarity of a candidate (None: LSH alone, as
    FineWeb)."""

    @model_validator(mode="after")
    def _not_too_many(self) -> "NearDedupConfig":
        if self.bands * self.rows > 4096:
            raise ValueError(f"bands * rows = {self.bands * self.rows} permutations; expected at most 4096")
        return self

    @property
    def num_perm(self) -> int:
        return self.bands * self.rows


# -- the curate: block -------------------------------------------------------------------------

#: Fields that say how the work is run, not what it produces: changing them between an
#: interrupted run and its rerun keeps the finished work.
EXECUTION_FIELDS = frozenset({"output_dir", "workers", "executor", "start_method", "ray_address",
                              "ray_memory_per_task_gb"})


class CurateConfig(BaseModel):
    """``curricle curate``: the run's sources through extraction, language ID, quality, PII,
    decontamination and deduplication, into per-domain files that ``prepare`` reads."""

    model_config = ConfigDict(extra="forbid")

    output_dir: Path = Path("runs/curated")
    """Where curated documents (``<domain>/``), ``quarantine/`` and ``funnel.json`` go."""
    format: Literal["jsonl.gz", "parquet"] = "jsonl.gz"
    """File format of the curated documents."""
    workers: int = Field(1, ge=1)
    """Shards processed at once: worker processes (local) or concurrent tasks (Ray)."""
    executor: Literal["local", "ray"] = "local"
    """``local``: datatrove's local executor (worker processes); ``ray``: datatrove's Ray
    executor on the cluster ``ray_address`` names."""
    start_method: Literal["fork", "forkserver", "spawn"] = "fork"
    """How the local executor starts worker processes. ``fork`` (Linux): workers start warm
    from this process (a few seconds faster per stage; the stages use no threads or torch);
    ``forkserver`` (datatrove's default) or ``spawn`` (macOS): cold, isolated workers."""
    ray_address: str | None = None
    """The Ray cluster to join (``auto``, ``ray://host:10001``). None: an already initialised
    Ray, else ``RAY_ADDRESS``, else a local Ray instance started for the run."""
    ray_memory_per_task_gb: float = Field(2.0, gt=0)
    """Memory Ray reserves per task (datatrove's default)."""
    code_domains: list[str] | None = None
    """Domains holding source code: code-quality rules instead of prose ones, no language ID,
    no line deduplication. None: the domains of ``python-code`` sources."""
    prose_domains: list[str] | None = None
    """Domains that get the prose-only steps (HTML extraction, language ID, Gopher / C4 /
    FineWeb quality, line deduplication) unless a step names its own ``domains``. None: every
    domain that is not code and not fed only by ``synthetic`` sources."""
    max_doc_bytes: int | None = Field(1_000_000, ge=1)
    """Documents larger than this (UTF-8 bytes) are quarantined at read time as ``too-large``
    (1 MB: The Stack's file-size cap). None: no limit."""
    text_files_per_shard: int = Field(1000, ge=1)
    """Files of a ``text`` directory source per shard (JSONL and Parquet sources are sharded
    per file; built-in and ``hf-disk`` sources are one shard each)."""
    quarantine_text_chars: int | None = Field(None, ge=0)
    """Keep at most this many characters of each quarantined document's text (None: all of
    it, so nothing is lost)."""

    extract: ExtractConfig = Field(default_factory=ExtractConfig)
    """Text extraction from HTML."""
    langid: LangIdConfig = Field(default_factory=LangIdConfig)
    """Language identification and the allowed languages per domain."""
    quality: QualityConfig = Field(default_factory=QualityConfig)
    """Gopher / C4 / FineWeb quality heuristics for prose domains."""
    code_quality: CodeQualityConfig = Field(default_factory=CodeQualityConfig)
    """Quality rules for code domains."""
    pii: PIIConfig = Field(default_factory=PIIConfig)
    """PII redaction."""
    decontam: DecontamConfig = Field(default_factory=DecontamConfig)
    """Decontamination against probe items and evaluation files."""
    quality_model: QualityModelConfig = Field(default_factory=lambda: QualityModelConfig(enabled=False))
    """A quality classifier's score (``curricle quality train``); off unless configured."""
    exact_dedup: ExactDedupConfig = Field(default_factory=ExactDedupConfig)
    """Exact document deduplication."""
    near_dedup: NearDedupConfig = Field(default_factory=NearDedupConfig)
    """Near-duplicate removal (MinHash LSH)."""
    line_dedup: LineDedupConfig = Field(default_factory=LineDedupConfig)
    """Repeated-line removal."""

    def step_config(self, name: str) -> Any:
        """The config of the step registered as ``name`` (``code-quality`` -> ``code_quality``)."""
        return getattr(self, name.replace("-", "_"))

    def content_dict(self) -> dict[str, Any]:
        """Everything that determines the curated output (not how the work is run)."""
        out = self.model_dump(mode="json", exclude=set(EXECUTION_FIELDS))
        for name, value in self:
            if isinstance(value, StepConfig) and (files := value.files_fingerprint()) is not None:
                out[name]["files"] = files
        return out
