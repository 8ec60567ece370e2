"""The three stages of a curate run, as datatrove pipeline steps (one task = one rank).

- :class:`FilterStage` (one task per source shard): read the shard, run the per-document steps,
  sign the survivors for deduplication; writes ``filter-out/<rank>/`` (survivors with their
  signatures and the licence each is counted under as Parquet, the shard's funnel rows, its
  quarantine entries).
- :class:`DedupStage` (one task): decide every duplicate over the whole corpus
  (:func:`curricle.curate.dedup.decide`); writes ``dedup-out/<rank>.parquet`` per shard.
- :class:`WriteStage` (one task per shard): apply the decisions, write the shard's curated
  documents per domain, its funnel rows and quarantine entries to ``write-out/<rank>/``.

Each task writes into a temporary directory and renames it into place when done; datatrove's
executor then marks the rank complete. A rerun skips completed ranks (datatrove's
``skip_completed``), so an interrupted run redoes only the shards it had not finished.
"""

from __future__ import annotations

import gzip
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from datatrove.pipeline.base import PipelineStep
from pydantic import TypeAdapter

from curricle.curate.dedup import (
    EXACT,
    LINES,
    NEAR,
    DedupPlan,
    Signer,
    decide,
    decisions_table,
    read_decisions,
    signature_schema,
)
from curricle.curate.document import CurDoc, Drop
from curricle.curate.fields import FieldRecorder, written_fields
from curricle.curate.funnel import FunnelCounter, domain_slug
from curricle.curate.quarantine import QuarantineWriter, dumps
from curricle.curate.shards import Shard, read_shard
from curricle.curate.config import CORPUS_STEPS
from curricle.curate.steps import STEPS, CurationStep, DomainRoles, StepContext
from curricle.sources import build_source
from curricle.sources.config import SourceSpec

FILTER_OUT, DEDUP_OUT, WRITE_OUT = "filter-out", "dedup-out", "write-out"
#: A filter task's record of its kept documents' fields (:mod:`curricle.curate.fields`).
FIELDS_FILE = "fields.json"
#: Documents (or characters of text) per Parquet row group in the stage files: bounds a task's memory.
ROW_GROUP_DOCS = 2000
ROW_GROUP_CHARS = 64 * 1024 * 1024


class _RankDir:
    """A rank's output directory, written under a temporary name and renamed when complete."""

    def __init__(self, final: Path):
        self.final = Path(final)
        self.final.parent.mkdir(parents=True, exist_ok=True)
        self.tmp = Path(tempfile.mkdtemp(dir=self.final.parent, prefix=f".{self.final.name}.", suffix=".tmp"))

    def commit(self) -> None:
        if self.final.exists():  # from an attempt that died before datatrove marked the rank done
            shutil.rmtree(self.final)
        os.rename(self.tmp, self.final)

    def abort(self) -> None:
        shutil.rmtree(self.tmp, ignore_errors=True)


class _Stage(PipelineStep):
    type = "curricle"

    def __init__(self, work_dir: Path, source_specs: list[dict], curate_config: Any, shards: list[Shard],
                 roles: DomainRoles):
        super().__init__()
        self.work_dir = Path(work_dir)
        self.source_specs = source_specs
        self.curate_config = curate_config
        self.shards = shards
        self.roles = roles

    def dedup_plan(self) -> DedupPlan:
        """The dedup steps of the pipeline (a kind it leaves out: a disabled config)."""
        c = self.curate_config
        exact, near, lines = (c.step(kind) or CORPUS_STEPS[kind](enabled=False) for kind in CORPUS_STEPS)
        return DedupPlan(exact, near, lines, self.roles)

    def run(self, data: Any = None, rank: int = 0, world_size: int = 1) -> None:
        out = _RankDir(self.final_dir(rank))
        try:
            with self.track_time("task"):
                self.run_rank(rank, out.tmp)
            out.commit()
        except BaseException:
            out.abort()
            raise

    def final_dir(self, rank: int) -> Path:  # pragma: no cover - abstract
        raise NotImplementedError

    def run_rank(self, rank: int, tmp: Path) -> None:  # pragma: no cover - abstract
        raise NotImplementedError


def build_steps(curate_config: Any, context: StepContext) -> list[CurationStep]:
    """The enabled per-document steps, in pipeline order."""
    steps = [STEPS.build(cfg, context) for cfg in curate_config.steps() if cfg.kind in STEPS]
    context.steps = steps
    return steps


def run_steps(doc: CurDoc, steps: list[CurationStep], funnel: FunnelCounter, quarantine: QuarantineWriter) -> bool:
    """Pass ``doc`` through ``steps`` (those applying to its domain); True if it survives.
    A drop is also counted under the licence the document was read with, ``doc.license``
    (:meth:`FunnelCounter.license_drop`), whatever a step wrote into ``meta["license"]``.
    The ``meta`` fields a step that kept the document wrote are noted in ``doc.written``."""
    for step in steps:
        row = funnel.row(doc.domain, step.name)
        text, tokens = doc.text, doc.tokens
        meta = dict(doc.meta)
        doc.replaced.clear()
        try:
            verdict = step.apply(doc)
            if verdict is None and not isinstance(doc.text, str):  # a user's step may set anything
                raise TypeError(f"the step set the text to {type(doc.text).__name__}, not str")
        except Exception as e:  # a document that breaks a step is bad input: drop it, go on
            doc.text = text
            verdict = Drop("error", {"error": f"{type(e).__name__}: {e}"})
        if verdict is None:
            rewritten = doc.text is not text and doc.text != text
            row.keep(tokens, doc.tokens, rewritten, doc.replaced)
            for name in written_fields(meta, doc.meta):
                doc.written[name] = step.name
        else:
            row.drop(verdict.reason, tokens)
            funnel.license_drop(doc, verdict.reason)
            quarantine.drop(step.name, doc, verdict, text=text)
            return False
    return True


class FilterStage(_Stage):
    name = "curate: read, filter, sign"

    def final_dir(self, rank: int) -> Path:
        return self.work_dir / FILTER_OUT / f"{rank:05d}"

    def run_rank(self, rank: int, tmp: Path) -> None:
        cfg = self.curate_config
        adapter = TypeAdapter(SourceSpec)
        sources = [build_source(adapter.validate_python(s)) for s in self.source_specs]
        shard = self.shards[rank]
        funnel = FunnelCounter()
        fields = FieldRecorder([f for s in sources for f in getattr(s.config, "meta_fields", None) or ()])
        quarantine = QuarantineWriter(tmp / "quarantine", cfg.quarantine_text_chars)
        steps = build_steps(cfg, StepContext(self.roles, self.work_dir, self.source_specs, cfg))
        by_domain: dict[str, list[CurationStep]] = {}
        signer = Signer(self.dedup_plan())
        schema = signature_schema(signer.plan.near.num_perm)
        for name in ("text", "meta", "source", "location", "license"):
            schema = schema.append(pa.field(name, pa.string()))
        writer = pq.ParquetWriter(tmp / "shard.parquet", schema)
        rows: dict[str, list] = {name: [] for name in schema.names}
        pending_chars = 0

        def flush() -> None:
            nonlocal pending_chars
            if rows["idx"]:
                writer.write_table(pa.table(rows, schema=schema))
                for v in rows.values():
                    v.clear()
                pending_chars = 0

        set_up: list[CurationStep] = []
        try:
            idx = 0
            for doc in read_shard(sources, shard, funnel, quarantine, cfg.max_doc_bytes):
                funnel.license_in(doc)
                doc_steps = by_domain.get(doc.domain)
                if doc_steps is None:
                    doc_steps = by_domain[doc.domain] = [s for s in steps if s.applies_to(doc.domain)]
                    for s in doc_steps:
                        if s not in set_up:
                            s.setup()
                            set_up.append(s)
                if not run_steps(doc, doc_steps, funnel, quarantine):
                    continue
                fields.note_doc(doc)
                sig = signer.sign(doc)
                rows["idx"].append(idx)
                rows["id"].append(doc.id)
                rows["domain"].append(doc.domain)
                for k, v in sig.items():
                    rows[k].append(v)
                rows["text"].append(doc.text)
                rows["meta"].append(json.dumps(doc.meta, default=str))
                rows["source"].append(doc.source)
                rows["location"].append(doc.location)
                rows["license"].append(doc.license)
                idx += 1
                pending_chars += len(doc.text)
                if len(rows["idx"]) >= ROW_GROUP_DOCS or pending_chars >= ROW_GROUP_CHARS:
                    flush()
            flush()
        finally:
            writer.close()
            quarantine.close()
            for s in set_up:
                s.teardown()
        (tmp / "funnel.json").write_text(funnel.to_json())
        fields.save(tmp / FIELDS_FILE)


class DedupStage(_Stage):
    name = "curate: decide duplicates"

    def final_dir(self, rank: int) -> Path:
        return self.work_dir / DEDUP_OUT

    def run_rank(self, rank: int, tmp: Path) -> None:
        columns = ["idx", "id", "domain", "doc_hash", "minhash", "line_idx", "line_hash"]
        tables = [pq.read_table(self.work_dir / FILTER_OUT / f"{r:05d}" / "shard.parquet", columns=columns)
                  for r in range(len(self.shards))]
        decisions = decide(tables, self.dedup_plan())
        for r, ds in enumerate(decisions):
            pq.write_table(decisions_table(ds), tmp / f"{r:05d}.parquet")


class WriteStage(_Stage):
    name = "curate: apply duplicates, write"

    def final_dir(self, rank: int) -> Path:
        return self.work_dir / WRITE_OUT / f"{rank:05d}"

    def run_rank(self, rank: int, tmp: Path) -> None:
        cfg = self.curate_config
        plan = self.dedup_plan()
        decisions = read_decisions(pq.read_table(self.work_dir / DEDUP_OUT / f"{rank:05d}.parquet"))
        funnel = FunnelCounter()
        quarantine = QuarantineWriter(tmp / "quarantine", cfg.quarantine_text_chars)
        writers: dict[str, _DocWriter] = {}
        pf = pq.ParquetFile(self.work_dir / FILTER_OUT / f"{rank:05d}" / "shard.parquet")
        try:
            for batch in pf.iter_batches(batch_size=ROW_GROUP_DOCS,
                                         columns=["idx", "id", "domain", "text", "meta", "source", "location",
                                                  "license"]):
                cols = batch.to_pydict()
                for i in range(batch.num_rows):
                    doc = CurDoc(id=cols["id"][i], text=cols["text"][i], domain=cols["domain"][i],
                                 meta=json.loads(cols["meta"][i]), source=cols["source"][i],
                                 location=cols["location"][i], license=cols["license"][i])
                    if self._apply(doc, decisions.get(cols["idx"][i]), plan, funnel, quarantine):
                        funnel.license_keep(doc)
                        w = writers.get(doc.domain)
                        if w is None:
                            w = writers[doc.domain] = _DocWriter(tmp / domain_slug(doc.domain), cfg.format)
                        w.write(doc)
        finally:
            for w in writers.values():
                w.close()
            quarantine.close()
        (tmp / "funnel.json").write_text(funnel.to_json())

    @staticmethod
    def _apply(doc: CurDoc, decision: Any, plan: DedupPlan, funnel: FunnelCounter,
               quarantine: QuarantineWriter) -> bool:
        for step in plan.steps_for(doc.domain):
            row = funnel.row(doc.domain, step)
            tokens = doc.tokens
            if decision is None or decision.step != step:
                row.keep(tokens, tokens)
                continue
            if step in (EXACT, NEAR):
                reason = "duplicate" if step == EXACT else "near-duplicate"
                row.drop(reason, tokens)
                funnel.license_drop(doc, reason)
                quarantine.drop(step, doc, Drop(reason, decision.detail))
                return False
            assert step == LINES
            lines = doc.text.split("\n")
            drop = set(decision.lines or ())
            text = "\n".join(line for i, line in enumerate(lines) if i not in drop)
            if not text.strip():
                row.drop("all-lines-repeated", tokens)
                funnel.license_drop(doc, "all-lines-repeated")
                quarantine.drop(step, doc, Drop("all-lines-repeated", decision.detail))
                return False
            doc.text = text
            row.keep(tokens, doc.tokens, rewritten=True, replaced={"lines": len(drop)})
        return True


class _DocWriter:
    """One domain's curated documents of one shard: ``<slug>.jsonl.gz`` or ``<slug>.parquet``."""

    def __init__(self, stem: Path, fmt: str):
        self.fmt = fmt
        self.path = stem.with_name(stem.name + (".jsonl.gz" if fmt == "jsonl.gz" else ".parquet"))
        self._rows: list[dict] = []
        self._pq_writer: Any = None
        self._gz = gzip.open(self.path, "wt", encoding="utf-8", compresslevel=6) if fmt == "jsonl.gz" else None

    def write(self, doc: CurDoc) -> None:
        record = doc.to_record()
        if self._gz is not None:
            self._gz.write(dumps(record) + "\n")
            return
        self._rows.append(record)
        if len(self._rows) >= ROW_GROUP_DOCS:
            self._flush()

    def _flush(self) -> None:
        if not self._rows:
            return
        schema = pa.schema([("id", pa.string()), ("text", pa.string()), ("domain", pa.string()), ("meta", pa.string())])
        table = pa.table({
            "id": [r["id"] for r in self._rows], "text": [r["text"] for r in self._rows],
            "domain": [r["domain"] for r in self._rows],
            "meta": [json.dumps(r["meta"], default=str) for r in self._rows],
        }, schema=schema)
        if self._pq_writer is None:
            self._pq_writer = pq.ParquetWriter(self.path, schema)
        self._pq_writer.write_table(table)
        self._rows.clear()

    def close(self) -> None:
        if self._gz is not None:
            self._gz.close()
        else:
            self._flush()
            if self._pq_writer is not None:
                self._pq_writer.close()
