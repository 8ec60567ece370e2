"""Lineage: which documents each domain kept, gained and lost between two versions.

By document id (a store's ``doc_id``, training and held-out splits together): ``retained``
(in both), ``added`` (NEW only), ``removed`` (OLD only), per domain and in total, with a few
example ids of each. A document that moved to another domain counts as removed from one and
added to the other (``moved`` lists how many went where). Counts are facts, not statistics:
they get no verdict (the split-halves of OLD share no documents, so a null says nothing here).
Two curated outputs add ``funnels`` (:func:`curricle.drift.curated.funnels`), two task sets
``overlap`` (:func:`curricle.drift.tasks.prompt_overlap`).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from curricle.drift.corpus import Corpus
from curricle.drift.curated import funnels
from curricle.drift.tasks import prompt_overlap

#: Example ids listed per domain and kind.
EXAMPLES = 5


def _ids(corpus: Corpus, domain: str) -> set[str]:
    data = corpus.domains[domain].data
    ids = set(map(str, data.doc_ids))
    if data.extra_doc_ids is not None:
        ids.update(map(str, data.extra_doc_ids))
    return ids


def lineage(old: Corpus, new: Corpus) -> dict[str, Any]:
    """Retained / added / removed document counts per domain (see the module docstring)."""
    names = sorted(set(old.domains) | set(new.domains))
    old_ids = {d: _ids(old, d) if d in old.domains else set() for d in names}
    new_ids = {d: _ids(new, d) if d in new.domains else set() for d in names}
    where_old = {i: d for d in names for i in old_ids[d]}
    domains, moved = {}, {}
    for d in names:
        kept = old_ids[d] & new_ids[d]
        added, removed = new_ids[d] - old_ids[d], old_ids[d] - new_ids[d]
        for i in added:
            if i in where_old and where_old[i] != d:
                key = f"{where_old[i]}->{d}"
                moved[key] = moved.get(key, 0) + 1
        domains[d] = {
            "old": len(old_ids[d]), "new": len(new_ids[d]), "retained": len(kept), "added": len(added),
            "removed": len(removed),
            "examples": {"added": sorted(added)[:EXAMPLES], "removed": sorted(removed)[:EXAMPLES]},
            **({"only_in": "new"} if d not in old.domains else {"only_in": "old"} if d not in new.domains else {}),
        }
    total = {k: int(np.sum([domains[d][k] for d in names])) for k in ("old", "new", "retained", "added", "removed")}
    out: dict[str, Any] = {"snapshots": {"old": old.snapshot, "new": new.snapshot,
                                         "same": old.snapshot is not None and old.snapshot == new.snapshot},
                           "total": total, "domains": domains}
    if moved:
        out["moved"] = dict(sorted(moved.items()))
    # Facts of a kind of side: two curated outputs' funnels, two task sets' shared prompts.
    for key, facts in (("funnels", funnels(old, new)), ("overlap", prompt_overlap(old, new))):
        if facts is not None:
            out[key] = facts
    return out
