"""``curricle mine``: where a run's errors are.

From the per-document state the ``hard-examples`` controller keeps (:mod:`~curricle.mine.signals`)
and the token store's metadata and texts: the hardest documents, hard regions by metadata value
and by cluster with counts and intervals (:mod:`~curricle.mine.regions`), and the hard documents
split into learning and stuck (:mod:`~curricle.mine.command` writes them).
"""
