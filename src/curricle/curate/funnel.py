"""The funnel: per domain and step, documents and tokens in, kept, dropped by reason, rewritten.

Two identities hold for every row, exactly (:meth:`FunnelReport.check` proves them, and the
pipeline refuses to commit a funnel that breaks them):

- documents: ``in == kept + sum(dropped)``;
- tokens: ``in == kept + sum(dropped) + removed_by_rewrite``, where ``dropped`` tokens are
  counted on the text the dropping step received, ``kept`` on the text it passed on, and
  ``removed_by_rewrite`` is what rewrites took out (negative if a rewrite added tokens).

And along a domain's steps, each step's ``in`` is the previous step's ``kept``; the first step
(``read``) counts every record its sources held, the last step's ``kept`` is what the curated
files hold. Records that never became text (a line that is not JSON, a binary file, a Parquet
file with the wrong schema, counted as one record) count as documents with 0 tokens.

"Tokens" are whitespace-separated words (:func:`curricle.curate.document.count_tokens`).

Beside the rows, the funnel counts documents per licence (``doc.meta["license"]`` as read,
None for documents without one; recorded in ``doc.license`` then, so a step that edits the field
does not move the document to another licence), from the moment a document is read (the
``read`` step's kept) to the curated files: ``in == kept + sum(dropped by reason)`` per
licence, and over all licences ``in`` is the ``read`` steps' kept and ``kept`` the curated
documents. ``funnel.json`` also lists the pipeline that ran (``pipeline``: each step's name and
kind, in order).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from curricle.errors import CurricleError

FORMAT_VERSION = 1
TOKENS_ARE = "whitespace-separated words (len(text.split()))"


@dataclass
class StepCounts:
    """One (domain, step) row of the funnel."""

    docs_in: int = 0
    docs_kept: int = 0
    docs_dropped: Counter = field(default_factory=Counter)
    docs_rewritten: int = 0
    tokens_in: int = 0
    tokens_kept: int = 0
    tokens_dropped: Counter = field(default_factory=Counter)
    tokens_removed_by_rewrite: int = 0
    replaced: Counter = field(default_factory=Counter)

    def keep(self, tokens_before: int, tokens_after: int, rewritten: bool = False,
             replaced: dict[str, int] | None = None) -> None:
        self.docs_in += 1
        self.docs_kept += 1
        self.tokens_in += tokens_before
        self.tokens_kept += tokens_after
        self.tokens_removed_by_rewrite += tokens_before - tokens_after
        if rewritten:
            self.docs_rewritten += 1
        if replaced:
            self.replaced.update(replaced)

    def drop(self, reason: str, tokens: int) -> None:
        self.docs_in += 1
        self.docs_dropped[reason] += 1
        self.tokens_in += tokens
        self.tokens_dropped[reason] += tokens

    def add(self, other: "StepCounts") -> None:
        self.docs_in += other.docs_in
        self.docs_kept += other.docs_kept
        self.docs_dropped.update(other.docs_dropped)
        self.docs_rewritten += other.docs_rewritten
        self.tokens_in += other.tokens_in
        self.tokens_kept += other.tokens_kept
        self.tokens_dropped.update(other.tokens_dropped)
        self.tokens_removed_by_rewrite += other.tokens_removed_by_rewrite
        self.replaced.update(other.replaced)

    def to_dict(self) -> dict[str, Any]:
        return {
            "docs": {"in": self.docs_in, "kept": self.docs_kept,
                     "dropped": dict(sorted(self.docs_dropped.items())), "rewritten": self.docs_rewritten},
            "tokens": {"in": self.tokens_in, "kept": self.tokens_kept,
                       "dropped": dict(sorted(self.tokens_dropped.items())),
                       "removed_by_rewrite": self.tokens_removed_by_rewrite},
            "replaced": dict(sorted(self.replaced.items())),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "StepCounts":
        return cls(
            docs_in=d["docs"]["in"], docs_kept=d["docs"]["kept"], docs_dropped=Counter(d["docs"]["dropped"]),
            docs_rewritten=d["docs"]["rewritten"], tokens_in=d["tokens"]["in"], tokens_kept=d["tokens"]["kept"],
            tokens_dropped=Counter(d["tokens"]["dropped"]),
            tokens_removed_by_rewrite=d["tokens"]["removed_by_rewrite"], replaced=Counter(d.get("replaced", {})),
        )

    def problems(self) -> list[str]:
        out = []
        if self.docs_in != self.docs_kept + sum(self.docs_dropped.values()):
            out.append(f"documents: in {self.docs_in} != kept {self.docs_kept} + dropped "
                       f"{sum(self.docs_dropped.values())}")
        if self.tokens_in != self.tokens_kept + sum(self.tokens_dropped.values()) + self.tokens_removed_by_rewrite:
            out.append(f"tokens: in {self.tokens_in} != kept {self.tokens_kept} + dropped "
                       f"{sum(self.tokens_dropped.values())} + removed by rewrite {self.tokens_removed_by_rewrite}")
        if set(self.docs_dropped) != set(self.tokens_dropped):
            out.append("documents and tokens dropped under different reasons")
        return out


@dataclass
class LicenseCounts:
    """Documents of one licence: read, kept in the curated files, dropped by reason; and the
    tokens of those kept."""

    docs_in: int = 0
    docs_kept: int = 0
    docs_dropped: Counter = field(default_factory=Counter)
    tokens_kept: int = 0

    def add(self, other: "LicenseCounts") -> None:
        self.docs_in += other.docs_in
        self.docs_kept += other.docs_kept
        self.docs_dropped.update(other.docs_dropped)
        self.tokens_kept += other.tokens_kept

    def to_dict(self) -> dict[str, Any]:
        return {"in": self.docs_in, "kept": self.docs_kept, "dropped": dict(sorted(self.docs_dropped.items())),
                "tokens_kept": self.tokens_kept}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "LicenseCounts":
        return cls(d["in"], d["kept"], Counter(d["dropped"]), d["tokens_kept"])


def _license_of(doc: Any) -> str | None:
    value = doc.meta.get("license")
    return None if value is None or value == "" else str(value)


class FunnelCounter:
    """Rows by (domain, step), and counts by licence, as one shard's stage counts them; saved
    as JSON per shard."""

    def __init__(self) -> None:
        self.rows: dict[tuple[str, str], StepCounts] = {}
        self.licenses: dict[str | None, LicenseCounts] = {}

    def _license(self, key: str | None) -> LicenseCounts:
        c = self.licenses.get(key)
        if c is None:
            c = self.licenses[key] = LicenseCounts()
        return c

    def license_in(self, doc: Any) -> None:
        """``doc`` was read: it starts the count of its licence, ``meta["license"]`` now, which
        is recorded in ``doc.license`` for :meth:`license_drop` and :meth:`license_keep`."""
        doc.license = _license_of(doc)
        self._license(doc.license).docs_in += 1

    def license_drop(self, doc: Any, reason: str) -> None:
        """``doc`` was dropped under ``reason`` (counted under ``doc.license``)."""
        self._license(doc.license).docs_dropped[reason] += 1

    def license_keep(self, doc: Any) -> None:
        """``doc`` went into the curated files (counted under ``doc.license``)."""
        c = self._license(doc.license)
        c.docs_kept += 1
        c.tokens_kept += doc.tokens

    def row(self, domain: str, step: str) -> StepCounts:
        key = (domain, step)
        r = self.rows.get(key)
        if r is None:
            r = self.rows[key] = StepCounts()
        return r

    def merge(self, other: "FunnelCounter") -> None:
        for key, counts in other.rows.items():
            self.row(*key).add(counts)
        for lic, lcounts in other.licenses.items():
            self.licenses.setdefault(lic, LicenseCounts()).add(lcounts)

    def to_json(self) -> str:
        return json.dumps({"rows": [[d, s, c.to_dict()] for (d, s), c in sorted(self.rows.items())],
                           "licenses": [[k, c.to_dict()] for k, c in self.licenses.items()]})

    @classmethod
    def load(cls, path: Path) -> "FunnelCounter":
        out = cls()
        data = json.loads(Path(path).read_text())
        for d, s, c in data["rows"]:
            out.rows[(d, s)] = StepCounts.from_dict(c)
        for k, c in data["licenses"]:
            out.licenses[k] = LicenseCounts.from_dict(c)
        return out


@dataclass
class FunnelReport:
    """What ``curate`` did: the funnel per domain, the files it wrote, and where the
    quarantine is. ``funnel.json`` is this, as JSON (:meth:`to_dict`)."""

    output_dir: Path
    fingerprint: str
    domains: dict[str, list[tuple[str, StepCounts]]]
    """domain -> [(step, counts)] in pipeline order."""
    files: dict[str, list[str]] = field(default_factory=dict)
    """domain -> curated files, relative to ``output_dir``."""
    quarantine: dict[str, str] = field(default_factory=dict)
    """step -> its quarantine file, relative to ``output_dir``."""
    format: str = "jsonl.gz"
    shards: int = 0
    up_to_date: bool = False
    """True when the call found the output already current and did no work."""
    seconds: float = 0.0
    executor: str = "local"
    workers: int = 1
    extra: dict[str, Any] = field(default_factory=dict)
    """Step-specific facts (e.g. the decontamination index's size)."""
    snapshot: str | None = None
    """The curated output's snapshot id (``snapshot.json`` beside ``funnel.json``,
    :mod:`curricle.store.snapshot`); None in a funnel written before snapshots existed."""
    pipeline: list[dict[str, Any]] = field(default_factory=list)
    """The steps that ran, in order: ``{"step": name, "kind": kind}`` (a ``python`` step or a
    ``classifier`` also its ``ref``), ``read`` first; empty in a funnel written before
    pipelines existed."""
    licenses: dict[str | None, LicenseCounts] = field(default_factory=dict)
    """licence (None: none) -> documents read, kept and dropped by reason."""
    fields: dict[str, list[dict[str, Any]]] | None = None
    """Per domain, the fields its kept documents carry and who wrote them
    (:mod:`curricle.curate.fields`); None in a funnel written before fields were recorded."""

    def steps(self) -> list[str]:
        """Every step that ran, in pipeline order."""
        seen: list[str] = []
        for rows in self.domains.values():
            for step, _ in rows:
                if step not in seen:
                    seen.append(step)
        return seen

    def totals(self) -> list[tuple[str, StepCounts]]:
        """Each step's counts summed over domains."""
        out: dict[str, StepCounts] = {s: StepCounts() for s in self.steps()}
        for rows in self.domains.values():
            for step, counts in rows:
                out[step].add(counts)
        return list(out.items())

    def kept(self, domain: str) -> tuple[int, int]:
        """(documents, tokens) of ``domain`` in the curated files."""
        rows = self.domains[domain]
        return rows[-1][1].docs_kept, rows[-1][1].tokens_kept

    def check(self) -> list[str]:
        """Every broken identity, as a line (empty: the funnel reconciles exactly)."""
        out = []
        for domain, rows in self.domains.items():
            prev: StepCounts | None = None
            for step, c in rows:
                out += [f"{domain}/{step}: {p}" for p in c.problems()]
                if prev is not None and (c.docs_in, c.tokens_in) != (prev.docs_kept, prev.tokens_kept):
                    out.append(f"{domain}/{step}: in ({c.docs_in} docs, {c.tokens_in} tokens) != previous "
                               f"step's kept ({prev.docs_kept}, {prev.tokens_kept})")
                prev = c
        if self.licenses or self.pipeline:
            lic_in = sum(c.docs_in for c in self.licenses.values())
            lic_kept = sum(c.docs_kept for c in self.licenses.values())
            read_kept = sum(c.docs_kept for rows in self.domains.values() for s, c in rows if s == "read")
            out_docs = sum(self.kept(d)[0] for d in self.domains)
            for lic, c in self.licenses.items():
                if c.docs_in != c.docs_kept + sum(c.docs_dropped.values()):
                    out.append(f"license {lic}: in {c.docs_in} != kept {c.docs_kept} + dropped "
                               f"{sum(c.docs_dropped.values())}")
            if (lic_in, lic_kept) != (read_kept, out_docs):
                out.append(f"licenses: in {lic_in}, kept {lic_kept} != read's kept {read_kept}, curated {out_docs}")
        return out

    def license_rows(self) -> list[tuple[str | None, LicenseCounts]]:
        """(licence, counts), by licence, documents without one last."""
        return sorted(self.licenses.items(), key=lambda kv: (kv[0] is None, kv[0] or ""))

    def to_dict(self) -> dict[str, Any]:
        domains = {}
        for d, rows in sorted(self.domains.items()):
            docs, tokens = self.kept(d)
            domains[d] = {
                "in": {"docs": rows[0][1].docs_in, "tokens": rows[0][1].tokens_in},
                "out": {"docs": docs, "tokens": tokens},
                "files": self.files.get(d, []),
                "steps": [{"step": s, **c.to_dict()} for s, c in rows],
            }
        return {
            "format": FORMAT_VERSION,
            "fingerprint": self.fingerprint,
            "tokens_are": TOKENS_ARE,
            "file_format": self.format,
            "shards": self.shards,
            "executor": self.executor,
            "workers": self.workers,
            "seconds": round(self.seconds, 3),
            "domains": domains,
            "totals": [{"step": s, **c.to_dict()} for s, c in self.totals()],
            "quarantine": self.quarantine,
            "pipeline": self.pipeline,
            "licenses": [{"license": k, **c.to_dict()} for k, c in self.license_rows()],
            "extra": self.extra,
            **({"snapshot": self.snapshot} if self.snapshot is not None else {}),
            **({"fields": self.fields} if self.fields is not None else {}),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any], output_dir: Path) -> "FunnelReport":
        domains = {d: [(r["step"], StepCounts.from_dict(r)) for r in v["steps"]] for d, v in data["domains"].items()}
        return cls(
            output_dir=Path(output_dir), fingerprint=data["fingerprint"], domains=domains,
            files={d: v["files"] for d, v in data["domains"].items()}, quarantine=data.get("quarantine", {}),
            format=data.get("file_format", "jsonl.gz"), shards=data.get("shards", 0),
            seconds=data.get("seconds", 0.0), executor=data.get("executor", "local"),
            workers=data.get("workers", 1), extra=data.get("extra", {}), snapshot=data.get("snapshot"),
            pipeline=data.get("pipeline", []),
            licenses={r["license"]: LicenseCounts.from_dict(r) for r in data.get("licenses", [])},
            fields=data.get("fields"),
        )


def domain_slug(domain: str) -> str:
    """A file-system-safe, collision-free name for a domain's directory."""
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "_", domain)[:48].strip(".") or "domain"
    if slug != domain:
        slug += "-" + hashlib.blake2b(domain.encode(), digest_size=4).hexdigest()
    return slug


def read_funnel(output_dir: Path) -> dict[str, Any] | None:
    """The committed ``funnel.json`` of ``output_dir`` as a dict, or None."""
    try:
        data = json.loads((Path(output_dir) / "funnel.json").read_text(encoding="utf-8"))
    except (FileNotFoundError, json.JSONDecodeError):
        return None
    return data if isinstance(data, dict) and data.get("format") == FORMAT_VERSION else None


def curated_source_configs(output_dir: Path | str | Any) -> list[dict[str, Any]]:
    """One ``{"kind": "curated", "path": ..., "domain": ...}`` source config per domain of the
    committed curate output in ``output_dir`` (a path, or a config with an ``output_dir``),
    sorted by domain; ``prepare`` reads these in place of the raw sources. Raises
    ``CurricleError`` when there is no curate output yet."""
    out = Path(getattr(output_dir, "output_dir", output_dir))
    funnel = read_funnel(out)
    if funnel is None:
        raise CurricleError(f"{out}: no curated output (no funnel.json); run `curricle curate` first")
    return [{"kind": "curated", "path": str(out), "domain": d} for d in sorted(funnel["domains"])]


def print_funnel(report: FunnelReport, console: Any = None) -> None:
    """The funnel as a rich table (per domain, each step's documents in / kept / dropped /
    rewritten, and tokens kept), then each step's drop reasons and replacements, most
    frequent first."""
    console = console or Console()
    table = Table(title=f"curation funnel: {report.output_dir}", title_justify="left")
    # Tokens in are the previous row's tokens kept (funnel.json has both); 80 columns fit the rest.
    for col in ("domain", "step", "in", "kept", "dropped", "rewritten", "tokens kept"):
        table.add_column(col, justify="left" if col in ("domain", "step") else "right", no_wrap=True,
                         min_width={"step": 12, "domain": 10}.get(col))
    why: list[str] = []
    for domain, rows in sorted(report.domains.items()):
        for i, (step, c) in enumerate(rows):
            dropped = sum(c.docs_dropped.values())
            table.add_row(domain if i == 0 else "", step, f"{c.docs_in:,}", f"{c.docs_kept:,}",
                          f"{dropped:,}" if dropped else "", f"{c.docs_rewritten:,}" if c.docs_rewritten else "",
                          f"{c.tokens_kept:,}")
            parts = [f"{r} {n:,}" for r, n in c.docs_dropped.most_common(4)]
            if len(c.docs_dropped) > 4:
                parts.append(f"{len(c.docs_dropped) - 4} more reasons")
            if c.replaced:
                parts.append("replaced " + ", ".join(f"{k} {n:,}" for k, n in c.replaced.most_common()))
            if parts:
                why.append(f"  {domain}/{step}: " + "; ".join(parts))
        table.add_section()
    console.print(table)
    if why:
        console.print("why:", highlight=False)
        for line in why:
            console.print(line, highlight=False)
    total_in = sum(rows[0][1].docs_in for rows in report.domains.values())
    total_out = sum(rows[-1][1].docs_kept for rows in report.domains.values())
    state = "up to date, nothing to do" if report.up_to_date else f"done in {report.seconds:.1f}s"
    console.print(f"{total_out:,} of {total_in:,} documents kept; every drop is in "
                  f"{report.output_dir / 'quarantine'}; {state}", highlight=False)
