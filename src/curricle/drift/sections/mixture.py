"""The mixture: each domain's share of the tokens, and how the whole vector moved.

Measures: ``share`` per domain (|NEW's token share - OLD's|), ``js`` (Jensen-Shannon distance
between the share vectors, over the union of domains: a domain on one side only has share 0
on the other) and ``effective_domains`` (|exp H(NEW) - exp H(OLD)|, the change in the
effective number of domains). Shares count tokens, as a run's weights do; a training run's
side has the shares it served (:mod:`curricle.drift.runs`).

A domain that only one side has (by the sides' domains: it appeared or went) is a fact, not
noise: its ``share`` is DRIFT whatever the null (NEW's domain has none from OLD's halves) and
the document counts (a removed domain has none on NEW's side), noted ``domain only in NEW: it
appeared`` or ``domain only in OLD: it went`` (``Measure.fact``).
"""

from __future__ import annotations

import numpy as np

from curricle.drift.corpus import Corpus
from curricle.drift.sections.base import Section
from curricle.drift.stats import effective_number, js_distance


class MixtureSection(Section):
    name = "mixture"

    def measure(self, old: Corpus, new: Corpus, detail: bool):
        so, sn = old.mixture_shares(), new.mixture_shares()
        names = sorted(set(old.domains) | set(new.domains) | set(so) | set(sn))
        p = np.array([so.get(d, 0.0) for d in names])
        q = np.array([sn.get(d, 0.0) for d in names])
        n_old = sum(d.n_docs for d in old.domains.values())
        n_new = sum(d.n_docs for d in new.domains.values())
        out = []
        for i, d in enumerate(names):
            od, nd = old.domains.get(d), new.domains.get(d)
            only = "new" if od is None else "old" if nd is None else None
            info = ({"old": round(p[i], 6), "new": round(q[i], 6), "delta": round(q[i] - p[i], 6),
                     **({"only_in": only} if only else {})} if detail else {})
            fact = f"domain only in {only.upper()}: it {'appeared' if only == 'new' else 'went'}" if only else ""
            out.append(self.make("share", abs(q[i] - p[i]), d, od.n_docs if od else 0, nd.n_docs if nd else 0,
                                 fact=fact, **info))
        if p.sum() > 0 and q.sum() > 0:
            eo, en = effective_number(p), effective_number(q)
            out.append(self.make("js", js_distance(p, q), None, n_old, n_new,
                                 **({"old": dict(zip(names, p.round(6).tolist())),
                                     "new": dict(zip(names, q.round(6).tolist()))} if detail else {})))
            out.append(self.make("effective_domains", abs(en - eo), None, n_old, n_new,
                                 **({"old": round(eo, 4), "new": round(en, 4)} if detail else {})))
        return out
