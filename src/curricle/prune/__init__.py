"""``curricle prune``: a new store without part of some domains' training documents, chosen by
a metric (one file each, registered in ``METRICS``), with the lineage of every removal
(:func:`~curricle.prune.command.prune_store`)."""

from curricle.prune.config import METRICS, PruneConfig

__all__ = ["METRICS", "PruneConfig"]
