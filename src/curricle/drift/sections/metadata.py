"""Per-document metadata columns: how each one's distribution moved, per domain.

Every numeric column both sides have (a store's ``n_tokens``, ``n_chars``,
``compression_ratio``, ``mean_token_rarity``, and whatever ``meta_fields`` and
``prepare.reference_model`` added, quality scores among them) gets two measures:
``wasserstein/<column>`` (W1 divided by OLD's standard deviation,
:func:`~curricle.drift.stats.scaled_wasserstein`) and ``ks/<column>`` (the Kolmogorov-Smirnov
statistic); the detail has both sides' means, the quantile shifts and the KS p-value
(scipy's, for reading only).
"""

from __future__ import annotations

import math


from curricle.drift.corpus import Corpus
from curricle.drift.sections.base import Section
from curricle.drift.stats import ks, quantile_shift, scaled_wasserstein


class MetadataSection(Section):
    name = "metadata"

    def measure(self, old: Corpus, new: Corpus, detail: bool):
        out = []
        for domain, od, nd in self.shared(old, new):
            for col in sorted(set(od.data.columns) & set(nd.data.columns)):
                a, b = od.column(col), nd.column(col)
                if len(a) == 0 or len(b) == 0:
                    continue
                w = scaled_wasserstein(a, b)
                k, p = ks(a, b)
                info = ({"old_mean": _r(a.mean()), "new_mean": _r(b.mean()),
                         "quantile_shift": {q: _r(v) for q, v in quantile_shift(a, b).items()},
                         "ks_p_value": _r(p)} if detail else {})
                out.append(self.make(f"wasserstein/{col}", w, domain, len(a), len(b), **info))
                out.append(self.make(f"ks/{col}", k, domain, len(a), len(b)))
        return out


def _r(x: float) -> float | None:
    x = float(x)
    return None if math.isnan(x) else round(x, 6)


__all__ = ["MetadataSection"]
