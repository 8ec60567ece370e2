"""A quality classifier's score: every document scored by a model ``curricle quality train``
made (fastText, DCLM's recipe, with a reference model's perplexity and Gopher's statistics by
default; :mod:`curricle.quality.classifier`), kept by the score.

The score (the probability that a document is like the reference documents, in [0, 1], rounded
to 6 decimals) is written to the document's ``meta[field]`` (``quality`` by default), so the
curated output carries it and a ``curated`` source with ``meta_fields: [quality]`` brings it
into the token store, where pacing, pruning and within-domain weights can read it. Then:

- ``threshold: t`` keeps documents scoring at least ``t``;
- ``top_share: s`` keeps the share ``s`` of the documents reaching the step (see below);
- ``keep_all: true`` only scores.

A dropped document is quarantined under reason ``quality-model`` with its score and the
threshold in the detail. The model is loaded once in the main process before the run
(:meth:`QualityModelStep.check`: a missing or damaged file is one line naming the field) and at
most once per worker process (forked workers inherit it).

**Why top_share is computed on a sample first.** A per-document step sees one document at a
time on one shard, so it cannot know the corpus's quantile in its one pass. A second pass over
the scored corpus would need a corpus-wide stage after the per-document steps; instead, the
first shard to need it computes the threshold once, before scoring: a seeded uniform sample of
``sample_docs`` documents of the step's domains (Algorithm R over the sources, read as curate
reads them), passed through the steps before this one (so the share is of the documents that
reach it, not of the raw input), scored, and cut at the share. The threshold is written to the
run's work directory (``<step name>-threshold.json``, ``quality-model-threshold.json`` for the
default name, so each quality-model step has its own; other workers wait on a lock and read it,
a resumed run reuses it). A corpus of at most ``sample_docs`` documents is scored whole, so
the kept share is then exact up to ties at the threshold (which are kept); a larger one keeps
the share within sampling error (standard error ``sqrt(s (1 - s) / sample_docs)``, 0.5
percentage points at the default 10,000 and s = 0.5). The cost is one more read of the step's
domains, and the earlier steps and the classifier on the sample. Deduplication runs after the
per-document steps, so the share of the *curated output* can differ by what it removes.
"""

from __future__ import annotations

import hashlib

import json
import logging
import random
import tempfile
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter

from curricle import atomic
from curricle.curate.config import QualityModelConfig
from curricle.curate.document import CurDoc, Drop
from curricle.curate.funnel import FunnelCounter
from curricle.curate.quarantine import QuarantineWriter
from curricle.curate.shards import plan_shards, read_shard
from curricle.curate.steps.base import CurationStep
from curricle.errors import CurricleError
from curricle.quality.classifier import QualityClassifier, load_cached
from curricle.sources import build_source
from curricle.sources.config import SourceConfig, SourceSpec

log = logging.getLogger(__name__)

REASON = "quality-model"


def threshold_file(step_name: str) -> str:
    """The work-directory file holding the ``top_share`` threshold of the step named
    ``step_name`` (``quality-model-threshold.json`` for the default name): one per step, since
    two steps keep different shares of different documents."""
    return f"{step_name}-threshold.json"


class QualityModelStep(CurationStep):
    name = "quality-model"
    default_domains = "prose"
    config: QualityModelConfig

    def __init__(self, config: QualityModelConfig, context: Any):
        super().__init__(config, context)
        self._clf: QualityClassifier | None = None
        self._threshold: float | None = None

    @classmethod
    def prepare(cls, config: QualityModelConfig, where: str) -> Any:
        """The model loads (in the launching process, before any worker does); its file's
        SHA-256 goes into curate's fingerprint, so a retrained model re-curates."""
        try:
            load_cached(config.model)  # type: ignore[arg-type]
        except CurricleError as e:
            raise CurricleError(f"{where}.model: {e}") from None
        h = hashlib.sha256()
        with open(Path(config.model).expanduser(), "rb") as f:  # type: ignore[arg-type]
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
        return {"model_sha256": h.hexdigest()}

    def setup(self) -> None:
        self._clf = load_cached(self.config.model)  # type: ignore[arg-type]
        c = self.config
        if c.keep_all:
            self._threshold = None
        elif c.threshold is not None:
            self._threshold = c.threshold
        else:
            self._threshold = self._share_threshold()

    def score(self, text: str) -> float:
        return round(self._clf.score(text), 6)  # type: ignore[union-attr]

    def apply(self, doc: CurDoc) -> Drop | None:
        s = self.score(doc.text)
        doc.meta[self.config.field] = s
        if self._threshold is not None and s < self._threshold:
            return Drop(REASON, {"score": s, "threshold": self._threshold, "field": self.config.field})
        return None

    # -- top_share ----------------------------------------------------------------------------

    def _share_threshold(self) -> float:
        work = getattr(self.context, "work_dir", None)
        if work is None:  # no run around it (a library caller): compute, keep in memory
            return self.compute_share_threshold()["threshold"]
        path = Path(work) / threshold_file(self.name)
        with atomic.locked(path.with_name(path.name + ".lock")):  # one worker computes, the others wait and read
            if not path.is_file():
                atomic.write_json(path, self.compute_share_threshold())
            return float(json.loads(path.read_text())["threshold"])

    def compute_share_threshold(self) -> dict[str, Any]:
        """The threshold keeping ``top_share`` of a seeded sample of the documents reaching
        this step (see the module doc), with what it was computed on."""
        c = self.config
        texts = self._sample()
        scores = sorted((self.score(t) for t in texts), reverse=True)
        if not scores:
            log.warning("quality-model: no document reaches the step; top_share keeps everything")
            return {"threshold": 0.0, "sample": 0, "top_share": c.top_share}
        k = max(1, round(c.top_share * len(scores)))  # type: ignore[operator]
        thr = scores[k - 1]
        return {"threshold": thr, "sample": len(scores), "top_share": c.top_share,
                "kept_in_sample": sum(s >= thr for s in scores), "seed": c.seed, "sample_docs": c.sample_docs}

    def _sample(self) -> list[str]:
        """Up to ``sample_docs`` texts, a seeded uniform sample of the documents of the step's
        domains that pass the steps before it (their rewrites applied)."""
        ctx = self.context
        specs = getattr(ctx, "sources", None)
        if not specs:
            raise RuntimeError("quality-model top_share needs the run's sources in its StepContext")
        adapter = TypeAdapter(SourceSpec)
        sources = [build_source(s if isinstance(s, SourceConfig) else adapter.validate_python(s)) for s in specs]
        curate_cfg = getattr(ctx, "curate_config", None)
        per_shard = getattr(curate_cfg, "text_files_per_shard", 1000)
        max_bytes = getattr(curate_cfg, "max_doc_bytes", None)
        before = self._steps_before()
        rng = random.Random(self.config.seed)
        k = self.config.sample_docs
        sample: list[str] = []
        n = 0
        set_up: list[CurationStep] = []
        with tempfile.TemporaryDirectory(prefix="curricle-quality-sample-") as tmp:
            quarantine = QuarantineWriter(Path(tmp))
            try:
                for shard in plan_shards(sources, per_shard):
                    for doc in read_shard(sources, shard, FunnelCounter(), quarantine, max_bytes):
                        if not self.applies_to(doc.domain):
                            continue
                        text = self._through(doc, before, set_up)
                        if text is None:
                            continue
                        n += 1
                        if len(sample) < k:
                            sample.append(text)
                        else:
                            j = rng.randrange(n)
                            if j < k:
                                sample[j] = text
            finally:
                quarantine.close()
                for s in set_up:
                    s.teardown()
        return sample

    def _steps_before(self) -> list[CurationStep]:
        """Fresh instances of the run's steps that come before this one (their own state, set
        up here and torn down after the sample)."""
        steps = list(getattr(self.context, "steps", None) or [])
        mine = next((i for i, s in enumerate(steps) if s is self), None)
        if mine is None:
            mine = next((i for i, s in enumerate(steps) if s.name == self.name), len(steps))
        return [type(s)(s.config, s.context) for s in steps[:mine]]

    @staticmethod
    def _through(doc: CurDoc, steps: list[CurationStep], set_up: list[CurationStep]) -> str | None:
        """``doc``'s text after ``steps`` (those applying to its domain); None if one drops it
        (an exception counts as a drop, as in the run)."""
        for s in steps:
            if not s.applies_to(doc.domain):
                continue
            if s not in set_up:
                s.setup()
                set_up.append(s)
            try:
                if s.apply(doc) is not None:
                    return None
            except Exception:
                return None
        return doc.text
