"""A checkpoint's pass rate on each of two task sets: is the new version harder?

Runs only with ``ref_model`` (``curricle drift --ref-model CHECKPOINT``) and only when both
sides are task sets (for token stores, the ``reference`` section reads the same flag). Per
task, up to ``ref_max_docs`` items (the first by a hash of their id, so an item both versions
hold is drawn on both) are each given ``ref_samples`` completions sampled from the checkpoint
at ``ref_temperature`` and graded by the task's own grader, once per item
(:func:`curricle.drift.passrate.item_passes`, cached on the task's data); completions a grader
could not grade (an error, a timeout) are counted, never scored 0.

Measures: ``pass_rate`` per task and over the whole set (|NEW's share of graded completions
that pass - OLD's|), judged against split-halves of OLD like every statistic (the halves only
re-count the items' passes). The detail holds both rates, NEW minus OLD with Newcombe's 95%
interval (samples of one item are not independent, so the interval is narrower than the items
alone would give: read it as a lower bound on the uncertainty), and the ungraded counts.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from curricle.drift.corpus import Corpus, DomainDocs
from curricle.drift.passrate import item_passes, pass_rate_shift
from curricle.drift.sections.base import Section
from curricle.posttrain.checkpoints import load_model
from curricle.prepare.reference import resolve_checkpoint
from curricle.tasks.items import unit_hash


def checkpoint_of(path: Path | str) -> Path:
    """The HF model ``--ref-model`` names: a checkpoint directory, a fine-tuning / RL run's
    ``final/`` model, or a training run's newest complete checkpoint."""
    p = Path(path).expanduser()
    if not (p / "config.json").is_file() and (p / "final" / "config.json").is_file():
        return p / "final"
    return resolve_checkpoint(p, "--ref-model")


class PassRateSection(Section):
    name = "pass_rate"

    def __init__(self, config):
        super().__init__(config)
        self._model = None

    def model(self):
        """The checkpoint and its tokenizer, loaded once."""
        if self._model is None:
            model, tokenizer = load_model(checkpoint_of(self.config.ref_model))
            model.eval()
            self._model = (model, tokenizer)
        return self._model

    def passes(self, corpus: Corpus, docs: DomainDocs) -> dict[str, Any]:
        """The task's sampled rows (ascending), their passed and graded counts, and the ungraded
        counts by reason, computed once per task's data."""
        data, cfg = docs.data, self.config

        def make() -> dict[str, Any]:
            items = corpus.info["items"][data.domain]
            order = sorted(range(len(items)), key=lambda i: (unit_hash(data.domain, items[i].id), i))
            rows = np.sort(np.asarray(order[: cfg.ref_max_docs], dtype=np.int64))
            passed, graded, reasons = item_passes(*self.model(), [items[i] for i in rows],
                                                  corpus.info["graders"][data.domain], cfg.ref_samples,
                                                  cfg.ref_temperature, cfg.seed)
            return {"rows": rows, "passed": passed, "graded": graded, "ungraded": reasons}

        return data.cached(("pass_rate", str(cfg.ref_model), cfg.ref_max_docs, cfg.ref_samples,
                            cfg.ref_temperature, cfg.seed), make)

    def counts(self, corpus: Corpus, docs: DomainDocs) -> dict[str, Any]:
        """The task's passed and graded completions over the sampled items in the selection."""
        got = self.passes(corpus, docs)
        inside = np.isin(got["rows"], docs.rows)
        return {"passed": int(got["passed"][inside].sum()), "graded": int(got["graded"][inside].sum()),
                "items": int(inside.sum()), "ungraded": got["ungraded"]}

    def measure(self, old: Corpus, new: Corpus, detail: bool):
        if old.kind != "tasks" or new.kind != "tasks":
            return []
        out, per_old, per_new = [], {}, {}
        for task, od, nd in self.shared(old, new):
            co, cn = self.counts(old, od), self.counts(new, nd)
            if not co["graded"] or not cn["graded"]:
                continue
            per_old[task], per_new[task] = co, cn
            info = {}
            if detail:
                info = {**pass_rate_shift({task: co}, {task: cn})["tasks"][task],
                        "ungraded": {"old": co["ungraded"], "new": cn["ungraded"]}}
            out.append(self.make("pass_rate", abs(cn["passed"] / cn["graded"] - co["passed"] / co["graded"]), task,
                                 co["items"], cn["items"], **info))
        if per_old:
            total = pass_rate_shift(per_old, per_new)["total"]
            po = sum(c["passed"] for c in per_old.values()) / sum(c["graded"] for c in per_old.values())
            pn = sum(c["passed"] for c in per_new.values()) / sum(c["graded"] for c in per_new.values())
            out.append(self.make("pass_rate", abs(pn - po), None, sum(c["items"] for c in per_old.values()),
                                 sum(c["items"] for c in per_new.values()), **(total if detail else {})))
        return out


__all__ = ["PassRateSection"]
