"""The ``curate:`` block of a run config: where curated documents go, how the work is run, and
the steps documents go through.

The steps are either ``pipeline:``, an ordered list of ``{kind: ..., ...}`` entries (built-in
kinds and the user's own ``python`` steps), or, when ``pipeline`` is absent, the default
pipeline: the built-in steps in their fixed order, each configured by its own field
(``extract:``, ``langid:``, ...), exactly as before pipelines existed. Giving both is an error.

Adding a built-in per-document step: its config here (a :class:`DocStepConfig` subclass whose
``kind`` is a ``Literal``), its implementation in ``steps/<kind>.py`` (a
:class:`~curricle.curate.steps.base.CurationStep` subclass), and one line in
:data:`CURATION_STEPS`. It can then be placed in any ``pipeline:``; only the steps of the
default pipeline have a field of their own in :class:`CurateConfig`.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal, Union

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator

from curricle.registry import Registry
from curricle.sources.config import RESERVED_META

# -- the steps' configs (one per step; a step's implementation is in steps/<name>.py or dedup.py) --

#: A step's name: its row in the funnel and its quarantine file (``quarantine/<name>.jsonl``).
STEP_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
#: ``package.module:attribute`` (a user step's function or class, a classifier's function).
REF = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$")


def _ref(v: str) -> str:
    if not REF.match(v):
        raise ValueError(f"expected 'package.module:name', got {v!r}")
    return v


class StepConfig(BaseModel):
    """Fields every step shares."""

    model_config = ConfigDict(extra="forbid")

    kind: str
    """The step's kind (a key of :data:`CURATION_STEPS` or :data:`CORPUS_STEPS`); in a
    ``pipeline:`` entry it says which step this is, in a per-step field it may be left out."""
    enabled: bool = True
    """Run this step (False: it is left out of the pipeline and the funnel)."""
    domains: list[str] | None = None
    """The domains it runs on. None: the step's default (all domains, the prose domains for
    prose-only steps, the code domains for code-only steps; see ``CurateConfig``)."""

    @property
    def step_name(self) -> str:
        """The step's row in the funnel and its quarantine file name."""
        return self.kind


class DocStepConfig(StepConfig):
    """Fields every per-document step shares (the corpus-level dedup steps have fixed names)."""

    name: str | None = None
    """The step's name in the funnel and its quarantine file (``quarantine/<name>.jsonl``).
    None: its kind (``python``: the function's or class's name; ``classifier``:
    ``classifier-<field>``). Two steps of one ``pipeline`` need distinct names."""

    @field_validator("name")
    @classmethod
    def _file_safe(cls, v: str | None) -> str | None:
        if v is not None and (not STEP_NAME.match(v) or v == "read"):
            raise ValueError(f"expected letters, digits, '_', '.', '-' (at most 64, not 'read'), got {v!r}")
        return v

    @property
    def step_name(self) -> str:
        return self.name or self.default_name()

    def default_name(self) -> str:
        return self.kind


class ExtractConfig(DocStepConfig):
    kind: Literal["extract"] = "extract"
    """Always ``extract``."""
    mode: Literal["auto", "always"] = "auto"
    """``auto``: extract documents that look like HTML, pass the rest through; ``always``:
    every document is HTML."""
    timeout_s: float = Field(5.0, gt=0)
    """Per-document extraction time limit (datatrove's default is 1 s, tuned for pages
    already known to be simple; 5 s leaves room on a loaded 2-core machine)."""
    favour_precision: bool = True
    """Trafilatura's ``favor_precision``: less text, less boilerplate (datatrove's default)."""


class LangIdConfig(DocStepConfig):
    kind: Literal["langid"] = "langid"
    """Always ``langid``."""
    languages: list[str] = Field(default_factory=lambda: ["en"], min_length=1)
    """Allowed languages (ISO 639-1 codes as lid.176 spells them: ``en``, ``de``, ``zh``...)
    for every domain the step runs on, unless ``per_domain`` names the domain."""
    per_domain: dict[str, list[str]] = Field(default_factory=dict)
    """Allowed languages of particular domains, e.g. ``{wiki_de: [de]}``. Without ``domains``
    the step also runs on the domains named here (a code or synthetic domain too); with
    ``domains``, that list is every domain it runs on, and naming another one here is an error."""
    threshold: float = Field(0.65, ge=0, le=1)
    """Minimum score of the top language (datatrove / FineWeb: 0.65)."""
    max_chars: int | None = Field(2000, ge=1)
    """Classify only the first this many characters (fastText's cost is linear in length;
    the first 2000 characters decide the language of nearly every document). None: all."""

    @model_validator(mode="after")
    def _per_domain_in_domains(self) -> "LangIdConfig":
        outside = sorted(set(self.per_domain) - set(self.domains)) if self.domains is not None else []
        if outside:
            raise ValueError(f"per_domain: domain '{outside[0]}' is not in 'domains' ({', '.join(self.domains)}), "
                             "so the step never runs on it; add it there or remove it here")
        return self


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


class QualityConfig(DocStepConfig):
    kind: Literal["quality"] = "quality"
    """Always ``quality``."""
    gopher_repetition: GopherRepetitionConfig = Field(default_factory=GopherRepetitionConfig)
    """Gopher's repetition rules."""
    gopher_quality: GopherQualityConfig = Field(default_factory=GopherQualityConfig)
    """Gopher's quality rules."""
    c4: C4Config = Field(default_factory=C4Config)
    """C4's line and page rules."""
    fineweb: FineWebConfig = Field(default_factory=FineWebConfig)
    """FineWeb's rules."""


class CodeQualityConfig(DocStepConfig):
    kind: Literal["code-quality"] = "code-quality"
    """Always ``code-quality``."""
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


class QualityModelConfig(DocStepConfig):
    """The ``quality-model`` step: score every document with a classifier trained by
    ``curricle quality train`` and keep by the score."""

    kind: Literal["quality-model"] = "quality-model"
    """Always ``quality-model``."""
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


class PIIConfig(DocStepConfig):
    kind: Literal["pii"] = "pii"
    """Always ``pii``."""
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


class DecontamConfig(DocStepConfig):
    kind: Literal["decontam"] = "decontam"
    """Always ``decontam``."""
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

    kind: Literal["exact-dedup"] = "exact-dedup"
    """Always ``exact-dedup``."""


class LineDedupConfig(StepConfig):
    kind: Literal["line-dedup"] = "line-dedup"
    """Always ``line-dedup``."""
    min_line_chars: int = Field(40, ge=1)
    """Lines shorter than this (after stripping) are never removed: headings, list items and
    short sentences repeat by nature."""


class NearDedupConfig(StepConfig):
    kind: Literal["near-dedup"] = "near-dedup"
    """Always ``near-dedup``."""
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


# -- steps that are not in the default pipeline (placed with ``pipeline:``) ---------------------

def _as_list(v: Any) -> Any:
    return [v] if isinstance(v, str) else v


Files = Annotated[list[str], BeforeValidator(_as_list)]


class PythonStepConfig(DocStepConfig):
    """The user's own step: a function or a class, imported by name (in every worker, so the
    module must be importable there: on ``PYTHONPATH`` or installed)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    kind: Literal["python"] = "python"
    """Always ``python``."""
    function: Annotated[str, AfterValidator(_ref)] | None = None
    """``package.module:function``, called as ``function(doc)`` on each document (a
    :class:`~curricle.curate.document.CurDoc`) with the contract of
    :meth:`curricle.curate.steps.base.CurationStep.apply`: ``None`` (or ``True``) keeps it,
    possibly rewritten (``doc.text``) or with fields written (``doc.meta["toxicity"] = 0.3``);
    a :class:`~curricle.curate.document.Drop` drops it under ``Drop.reason``; ``False`` drops
    it under the step's name. An exception drops it under ``error``."""
    class_: Annotated[str, AfterValidator(_ref)] | None = Field(None, alias="class")
    """``package.module:Class``, built once per shard as ``Class(**args)``; its ``apply(doc)``
    answers as ``function`` does; optional ``setup()`` / ``teardown()`` run before the
    shard's first document and after its last."""
    args: dict[str, Any] = Field(default_factory=dict)
    """Keyword arguments of ``Class`` (with ``class`` only)."""

    @model_validator(mode="after")
    def _one_target(self) -> "PythonStepConfig":
        if (self.function is None) == (self.class_ is None):
            raise ValueError("give exactly one of 'function' and 'class'")
        if self.args and self.class_ is None:
            raise ValueError("'args' go with 'class' (a function is called as function(doc))")
        return self

    @property
    def ref(self) -> str:
        """What the step imports: its function or class."""
        return self.function or self.class_  # type: ignore[return-value]

    def default_name(self) -> str:
        return self.ref.rpartition(":")[2].rpartition(".")[2]


class BlocklistConfig(DocStepConfig):
    """Drop documents holding listed words, regex matches or links to listed domains. Every
    list is given as files: one entry per line, blank lines and lines starting with ``#``
    ignored."""

    kind: Literal["blocklist"] = "blocklist"
    """Always ``blocklist``."""
    words: Files = Field(default_factory=list)
    """Files of words or phrases, matched whole (not inside a longer word) and
    case-insensitively; a phrase's spaces match any run of whitespace (reason
    ``blocklist-word``)."""
    regexes: Files = Field(default_factory=list)
    """Files of Python regular expressions, searched as written (reason ``blocklist-regex``)."""
    url_domains: Files = Field(default_factory=list)
    """Files of domains (``example.com``): a link in the text (``http://``, ``https://`` or
    ``www.``) whose host is the domain or one of its subdomains matches, case-insensitively
    (reason ``blocklist-url``)."""
    max_hits: int = Field(1, ge=1)
    """Drop a document at this many matches (every occurrence counts, over all lists
    together); the reason is the list of the match that reached it."""

    @model_validator(mode="after")
    def _some_list(self) -> "BlocklistConfig":
        if not (self.words or self.regexes or self.url_domains):
            raise ValueError("give at least one of 'words', 'regexes', 'url_domains' (files)")
        return self


class ClassifierConfig(DocStepConfig):
    """A hook for the user's own classifier: scores each document, writes the score as a
    document field, and drops by threshold."""

    kind: Literal["classifier"] = "classifier"
    """Always ``classifier``."""
    function: Annotated[str, AfterValidator(_ref)]
    """``package.module:function`` taking the document's text and returning a number (imported
    in every worker, like a ``python`` step's). Anything else, NaN, or an exception drops the
    document under ``error``."""
    field: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    """The document field the score is written to (``doc.meta[field]``), e.g. ``toxicity``:
    later steps and the curated documents carry it."""
    drop_above: float | None = None
    """Drop documents scoring above this (None: no upper bound)."""
    drop_below: float | None = None
    """Drop documents scoring below this (None: no lower bound). Drops are counted under
    ``classifier-<field>``, the score and the bound in the quarantine detail."""

    @field_validator("field")
    @classmethod
    def _not_reserved(cls, v: str) -> str:
        if v in RESERVED_META or v in ("license", "language"):
            raise ValueError(f"'{v}' is a field curricle writes itself; choose another name")
        return v

    @model_validator(mode="after")
    def _bounds(self) -> "ClassifierConfig":
        if self.drop_above is not None and self.drop_below is not None and self.drop_below > self.drop_above:
            raise ValueError(f"drop_below ({self.drop_below}) is above drop_above ({self.drop_above}): "
                             f"every document would be dropped")
        return self

    def default_name(self) -> str:
        return f"classifier-{self.field}"


class LicenseConfig(DocStepConfig):
    """Keep documents whose licence (``meta["license"]``: the source's ``license``, or the
    record's ``license_field``) is allowed."""

    kind: Literal["license"] = "license"
    """Always ``license``."""
    allowed: list[str] = Field(min_length=1)
    """Allowed licences, e.g. ``[cc-by-4.0, cc0-1.0, mit]``, compared case-insensitively.
    Others are dropped under ``license``, documents with no licence under
    ``license-missing``."""


#: kind -> (config, implementation) of the per-document steps, built-in and ``python``. A new
#: kind is one config class above and one line here.
CURATION_STEPS = Registry("curation step", {
    "extract": (ExtractConfig, "curricle.curate.steps.extract:ExtractStep"),
    "langid": (LangIdConfig, "curricle.curate.steps.langid:LangIdStep"),
    "quality": (QualityConfig, "curricle.curate.steps.quality:QualityStep"),
    "code-quality": (CodeQualityConfig, "curricle.curate.steps.code_quality:CodeQualityStep"),
    "quality-model": (QualityModelConfig, "curricle.curate.steps.quality_model:QualityModelStep"),
    "pii": (PIIConfig, "curricle.curate.steps.pii:PIIStep"),
    "decontam": (DecontamConfig, "curricle.curate.steps.decontam:DecontamStep"),
    "blocklist": (BlocklistConfig, "curricle.curate.steps.blocklist:BlocklistStep"),
    "classifier": (ClassifierConfig, "curricle.curate.steps.classifier:ClassifierStep"),
    "license": (LicenseConfig, "curricle.curate.steps.license:LicenseStep"),
    "python": (PythonStepConfig, "curricle.curate.steps.python:PythonStep"),
})

#: kind -> config of the corpus-level steps, in the order they run. They need the whole corpus,
#: so they run after every per-document step (:mod:`curricle.curate.dedup`); in a ``pipeline:``
#: they come last, in this order.
CORPUS_STEPS: dict[str, type[StepConfig]] = {
    "exact-dedup": ExactDedupConfig,
    "near-dedup": NearDedupConfig,
    "line-dedup": LineDedupConfig,
}

#: The config of any step kind, told apart by ``kind``.
StepSpec = Annotated[Union[tuple([*CURATION_STEPS.configs.values(), *CORPUS_STEPS.values()])],
                     Field(discriminator="kind")]

#: The default pipeline: the ``CurateConfig`` field of each step, in order.
DEFAULT_PIPELINE = ("extract", "langid", "quality", "code_quality", "quality_model", "pii", "decontam",
                    "exact_dedup", "near_dedup", "line_dedup")


# -- the curate: block -------------------------------------------------------------------------

#: Fields that say how the work is run, not what it produces: changing them between an
#: interrupted run and its rerun keeps the finished work.
EXECUTION_FIELDS = frozenset({"output_dir", "workers", "executor", "start_method", "ray_address",
                              "ray_memory_per_task_gb"})


class CurateConfig(BaseModel):
    """``curricle curate``: the run's sources through the curation steps (``pipeline:``, or
    by default extraction, language ID, quality, PII, decontamination and deduplication) into
    per-domain files that ``prepare`` reads."""

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

    pipeline: list[StepSpec] | None = None
    """The steps, in the order documents go through them: ``{kind: ..., ...}`` entries, each
    a kind's settings (``{kind: langid, languages: [en, de]}``), the built-in kinds of
    :data:`CURATION_STEPS` (``blocklist``, ``classifier``, ``license`` among them) and the
    user's own (``{kind: python, function: my_filters:drop_ads}``). The corpus-level
    ``exact-dedup``, ``near-dedup`` and ``line-dedup`` come last, in that order. None: the
    default pipeline, each step configured by its field below. Giving both ``pipeline`` and
    one of those fields is an error."""
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

    @model_validator(mode="before")
    @classmethod
    def _pipeline_or_fields(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("pipeline") is not None:
            given = [f for f in DEFAULT_PIPELINE if f in data]
            if given:
                raise ValueError(f"pipeline: give either 'pipeline' or the per-step field '{given[0]}', not "
                                 f"both (in a pipeline a step's settings go in its entry: "
                                 f"{{kind: {given[0].replace('_', '-')}, ...}})")
        return data

    @field_validator("pipeline")
    @classmethod
    def _valid_order(cls, v: list[StepConfig] | None) -> list[StepConfig] | None:
        if v is None:
            return v
        names: dict[str, int] = {}
        corpus = list(CORPUS_STEPS)
        last_corpus = -1
        for i, step in enumerate(v):
            if step.kind in CORPUS_STEPS:
                rank = corpus.index(step.kind)
                if rank <= last_corpus:
                    raise ValueError(f"entry {i} ({step.kind}): the dedup steps run at most once each, in the "
                                     f"order {', '.join(corpus)}")
                last_corpus = rank
            elif last_corpus >= 0:
                raise ValueError(f"entry {i} ({step.kind}): per-document steps come before the dedup steps "
                                 f"(deduplication needs the whole corpus, so it runs after every "
                                 f"per-document step)")
            if step.kind == "decontam" and any(e.kind == "decontam" for e in v[:i]):
                raise ValueError(f"entry {i} (decontam): at most one decontam step (the run builds one index of "
                                 f"probe and evaluation items; list every eval_file in it)")
            name = step.step_name
            if name in names:
                raise ValueError(f"entries {names[name]} and {i} are both named '{name}'; give one a "
                                 f"distinct 'name' (a step's funnel row and quarantine file)")
            names[name] = i
        return v

    def located_steps(self) -> list[tuple[str, StepConfig]]:
        """``(where, config)`` of every step in pipeline order, enabled or not; ``where`` is
        the config path errors name (``curate.pipeline.2``, or ``curate.langid`` for the
        default pipeline)."""
        if self.pipeline is not None:
            return [(f"curate.pipeline.{i}", s) for i, s in enumerate(self.pipeline)]
        return [(f"curate.{f}", getattr(self, f)) for f in DEFAULT_PIPELINE]

    def steps(self) -> list[StepConfig]:
        """The enabled steps, in pipeline order (per-document steps, then the dedup steps)."""
        return [s for _, s in self.located_steps() if s.enabled]

    def step(self, kind: str) -> Any:
        """The enabled step of ``kind`` (the first, if several), or None."""
        return next((s for s in self.steps() if s.kind == kind), None)

    def content_dict(self) -> dict[str, Any]:
        """Everything that determines the curated output (not how the work is run): with a
        ``pipeline``, the unused per-step fields are left out."""
        exclude = set(EXECUTION_FIELDS) | (set(DEFAULT_PIPELINE) if self.pipeline is not None else set())
        return self.model_dump(mode="json", exclude=exclude)
