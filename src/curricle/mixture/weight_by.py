"""Within-domain weights: a domain's documents drawn in proportion to ``exp(score / T)``.

``mixture.weight_by.<domain>: {column: quality, temperature: 0.1}`` makes the sampler draw
each next document of the domain independently, document ``i`` with probability

    p(i) = exp(s_i / T) / sum_j exp(s_j / T)

where ``s_i`` is its value of ``column`` in ``meta.parquet`` (negated with ``prefer: low``;
a null is replaced by the domain's median, minimum, maximum or a number: ``missing``). This is
the "upsample the documents a quality classifier likes" of FineWeb-Edu-style training, with
the score written during curation (:mod:`curricle.curate.steps`) or carried from a source.
The config and the choice of a softmax are documented on
:class:`~curricle.mixture.config.WeightByConfig`; the sampler's use of the table (and how it
composes with pacing) in :mod:`curricle.mixture.sampler`.

The table is a pure function of the split's column and the config, computed when the sampler
is built, so it is never part of the sampler's state: a resumed run rebuilds the same table
and continues from the number of documents drawn.
"""

from __future__ import annotations

import numpy as np

from curricle.errors import CurricleError
from curricle.mixture.config import WeightByConfig
from curricle.mixture.pacing import numeric_column


def weight_by_scores(split, domain: str, config: WeightByConfig) -> np.ndarray:
    """The scores of ``split`` 's documents (document order) that ``config`` weighs by: the
    column as float64, nulls replaced by ``config.missing``. One-line errors name
    ``mixture.weight_by.<domain>.column``: a missing column, one of strings, one whose every
    value is null, or an infinite value."""
    where = f"mixture.weight_by.{domain}.column"
    values = numeric_column(split, config.column, where, "weight_by weighs numbers")
    known = ~np.isnan(values)
    if not known.any():
        raise CurricleError(f"{where}: every document of domain '{domain}' has a null '{config.column}'; "
                            f"nothing to weigh by")
    if np.isinf(values[known]).any():
        i = int(np.flatnonzero(np.isinf(values))[0])
        raise CurricleError(f"{where}: '{config.column}' is {values[i]} for document {i} of domain '{domain}'; "
                            f"weight_by needs finite scores")
    fill = config.missing
    if isinstance(fill, str):
        fill = {"median": np.median, "min": np.min, "max": np.max}[fill](values[known])
    return np.where(known, values, float(fill))


def draw_probabilities(scores: np.ndarray, config: WeightByConfig) -> np.ndarray:
    """``p(i) = exp(s_i / T) / sum_j exp(s_j / T)`` (``s`` negated with ``prefer: low``),
    computed as ``exp((s_i - max s) / T)`` normalized, so no term overflows. A document
    ``745 T`` or more below the best underflows to probability 0."""
    s = np.asarray(scores, dtype=np.float64)
    if config.prefer == "low":
        s = -s
    w = np.exp((s - s.max()) / config.temperature)
    return w / w.sum()
