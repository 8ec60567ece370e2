"""The contract of a per-document curation step.

A step looks at one document and answers with :meth:`CurationStep.apply`:

- ``None``: keep it. The step may have replaced ``doc.text`` (a rewrite: extraction, PII
  redaction, C4's line removal) and may have counted what it replaced in ``doc.replaced``.
- a :class:`~curricle.curate.document.Drop`: remove it, under ``Drop.reason``.

Either way a step may write document fields into ``doc.meta`` (a score: ``doc.meta["toxicity"]
= 0.3``; language ID writes ``language``): later steps see them, and the curated documents
carry them in their ``meta`` (and from there ``prepare``'s per-document metadata). A field is
a number, string or bool; a step never changes the fields the sources wrote (``source``,
``line``, ``row``, ``license``) or ``id`` / ``domain`` (a user's step that edits ``license``
anyway leaves the funnel counting the document under the licence it was read with).

The runner (:func:`curricle.curate.stages.run_steps`) does everything else, the same way for
every step, built-in or the user's (``python``): it skips domains the step does not apply to,
counts documents and tokens in / kept / dropped by reason / rewritten per domain, writes each
dropped document to ``quarantine/<step name>.jsonl``, and turns an exception raised on one
document into a drop with reason ``error`` (the exception's type and message in the quarantine
detail; the document is bad input, the run goes on).

Adding a built-in step: its config (a ``DocStepConfig`` subclass with a ``kind`` literal) in
:mod:`curricle.curate.config`, ``steps/<kind>.py`` with a :class:`CurationStep` subclass, and
one line in ``CURATION_STEPS`` (the same module); ``pipeline:`` entries can then name it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from curricle.curate.config import CurateConfig, StepConfig
from curricle.curate.document import CurDoc, Drop
from curricle.sources.config import SourceConfig


class CurationStep:
    """Base class of the per-document steps; subclasses implement :meth:`apply`."""

    name: str
    """The step's key in the funnel and its quarantine file name (its config's ``step_name``:
    the kind unless the config names it)."""
    default_domains: ClassVar[str] = "all"
    """Which domains the step runs on when its config names none: ``all``, ``prose``,
    ``code``, or ``text`` (prose and code, not synthetic skills) (:class:`DomainRoles`)."""

    def __init__(self, config: StepConfig, context: "StepContext"):
        self.config = config
        self.context = context
        self.name = config.step_name

    @classmethod
    def prepare(cls, config: StepConfig, where: str) -> Any:
        """Called once per run, in the launching process, before any work: check what the
        config names (files, importable functions) and raise
        :class:`~curricle.errors.CurricleError` naming ``where`` (``curate.pipeline.2``) and
        the field if it is wrong. Returns what, besides the config, determines the step's
        output (the files' hashes), for the run's fingerprint; None: nothing."""
        return None

    def applies_to(self, domain: str) -> bool:
        return self.context.roles.applies(self.config, self.default_domains, domain)

    def setup(self) -> None:
        """Called once per shard before the first document (load a model, open a sandbox)."""

    def teardown(self) -> None:
        """Called once per shard after the last document."""

    def apply(self, doc: CurDoc) -> Drop | None:  # pragma: no cover - abstract
        """``None`` keeps ``doc`` (possibly rewritten); a :class:`Drop` removes it."""
        raise NotImplementedError


@dataclass(frozen=True)
class DomainRoles:
    """Which domains hold code, which prose, and which neither (synthetic skill documents:
    no language ID or prose quality rules for ``12+34=46``)."""

    code: frozenset[str] = frozenset()
    prose: frozenset[str] | None = None
    """The prose domains; None: every domain that is neither code nor in ``other`` (so a
    domain named only by the records, ``use_record_domain``, is prose)."""
    other: frozenset[str] = frozenset()

    def is_prose(self, domain: str) -> bool:
        if self.prose is not None:
            return domain in self.prose
        return domain not in self.code and domain not in self.other

    def applies(self, config: StepConfig, default: str, domain: str) -> bool:
        """Whether a step with ``config`` (and default ``all``/``prose``/``code``) runs on ``domain``."""
        if not config.enabled:
            return False
        if config.domains is not None:
            return domain in config.domains
        if default == "prose":
            return self.is_prose(domain)
        if default == "code":
            return domain in self.code
        if default == "text":
            return domain in self.code or self.is_prose(domain)
        return True


def domain_roles(config: CurateConfig, sources: list[SourceConfig]) -> DomainRoles:
    """Which of the sources' domains are code, prose, or neither (synthetic skills)."""
    if config.code_domains is not None:
        code = set(config.code_domains)
    else:
        code = {s.domain for s in sources if s.kind == "python-code"}
    if config.prose_domains is not None:
        return DomainRoles(frozenset(code), frozenset(config.prose_domains), frozenset())
    fed_by_other = {s.domain for s in sources if s.kind != "synthetic"}
    synthetic_only = {s.domain for s in sources if s.kind == "synthetic"} - fed_by_other
    return DomainRoles(frozenset(code), None, frozenset(synthetic_only - code))


class StepContext:
    """What a step may need besides its own config: the domains' roles, the work directory
    holding artifacts built once per run (the decontamination index, quality-model's
    threshold), and, for a step that looks at the corpus before its pass (quality-model's
    ``top_share``), the run's sources, curate settings and steps in order."""

    def __init__(self, roles: DomainRoles, work_dir: Any = None, sources: list[Any] | None = None,
                 curate_config: CurateConfig | None = None):
        self.roles = roles
        self.work_dir = work_dir
        self.sources = sources
        """The run's source configs (or their JSON dicts)."""
        self.curate_config = curate_config
        self.steps: list[CurationStep] = []
        """The run's per-document steps in order (set by whoever builds them)."""
