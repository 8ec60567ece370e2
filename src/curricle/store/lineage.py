"""The lineage of a pruned store (written by ``curricle prune``, :mod:`curricle.prune`).

A pruned store is a complete store directory (its own ``manifest.json``, ``snapshot.json``,
tokenizer, and per domain ``train/`` and ``heldout/``) plus two files::

    lineage.json    {"parent": str, "parent_snapshot": str (the parent's snapshot id), "by": str, "keep": float, "order": str, "seed": int,
                     "domains": {d: {"in": int, "kept": int, "unscored": int,
                                     "removed": {reason: count}}},
                     "code": {"version": str, "commit": str | None, "dirty": bool | None}}
    removed.jsonl   one line per removed training document:
                    {"domain", "doc_id", "reason", "score"}

For every domain ``in == kept + sum(removed.values())``; ``unscored`` counts the documents
kept because their metric has no value (never seen by the proxy run, a null column). ``code`` is
the code that pruned the store (:func:`curricle.runinfo.code_record`, as a run's ``run.json``
has it), so a pruned store kept and read back by its settings says which code made it; a store
pruned before it was recorded has none.

Pruned with ``groups`` (:mod:`curricle.prune.groups`), ``lineage.json`` also has ``"groups":
{"column": str, "gamma": float | "min_share": {group: float}}`` and, per domain, ``"groups":
{group: {"before": share, "after": share, "floor": float | None}}`` (token shares of the
training split), ``"floor_kept": {group: int}`` (documents the metric alone would have removed
that the floors kept; as many others were removed instead) and ``"below_floor": [group]``
(floors that could not all hold).
``prepare`` refuses to rewrite a directory holding ``lineage.json`` unless its sources and
settings are the parent's (then it is up to date and nothing is rewritten).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from curricle.errors import CurricleError

LINEAGE_FILE = "lineage.json"
REMOVED_FILE = "removed.jsonl"


def read_lineage(data_dir: Path | str) -> dict[str, Any] | None:
    """The lineage of the store in ``data_dir`` (None: not a pruned store)."""
    path = Path(data_dir) / LINEAGE_FILE
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise CurricleError(f"{path}: not valid JSON ({err})") from None
