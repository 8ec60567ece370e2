"""``loglikelihood_rolling``: next-token loss on passages of text.

Every token of every passage is predicted from the tokens before it (the first from
BOS/EOS). Token-weighted over the task, with the items (passages) as sampling units:

- ``logprob``: mean log-probability per token (minus the loss, in nats);
- ``acc``: share of tokens that are the model's argmax (next-token accuracy);
- ``bits_per_byte``: ``-sum(logprob) / ln 2 / UTF-8 bytes`` (lower is better; comparable
  across tokenizers, and what lm-eval reports for this output type).
"""

from __future__ import annotations

import math

from curricle.probes.scorers.base import Scorer, TaskScore
from curricle.probes.stats import ratio_se


class RollingScorer(Scorer):
    output_type = "loglikelihood_rolling"
    discrete = "acc"
    continuous = "logprob"
    metric_names = ("logprob", "acc", "bits_per_byte")

    def score(self, lm, task) -> TaskScore:
        scores = lm.score_rolling([i.target for i in task.items])
        lp = [s.logprob for s in scores]
        tokens = [s.tokens for s in scores]
        hits = [s.greedy_hits for s in scores]
        nbytes = [len(i.target.encode("utf-8")) for i in task.items]
        metrics: dict[str, float] = {}
        metrics["logprob"], metrics["logprob_se"] = ratio_se(lp, tokens)
        metrics["acc"], metrics["acc_se"] = ratio_se(hits, tokens)
        bpb, bpb_se = ratio_se([-x / math.log(2) for x in lp], nbytes)
        metrics["bits_per_byte"], metrics["bits_per_byte_se"] = bpb, bpb_se
        metrics["tokens"] = float(sum(tokens))
        per_item = {"logprob_sum": lp, "tokens": tokens, "greedy_hits": hits, "bytes": nbytes}
        return TaskScore(metrics, len(task.items), per_item)

    def _chance(self, task):
        return {"logprob": None, "acc": None, "bits_per_byte": None}
