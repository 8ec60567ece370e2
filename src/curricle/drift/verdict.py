"""Verdicts calibrated on the data itself.

At corpus scale a significance test rejects everything (a p-value is about 0 for any shift
at all), so ``curricle drift`` never decides by p-value. It asks instead how large each
statistic is between two random halves of OLD: the spread a version of *the same* data shows
against itself. The comparison (:mod:`curricle.drift.compare`) splits every domain of OLD into
two random halves ``null_splits`` times (20 by default), swaps as large a share of one half's
documents as OLD and NEW differ by (:meth:`~curricle.drift.corpus.Corpus.null_pair`: all of
it when they share nothing), and computes every statistic between the pair; a statistic
between OLD and NEW is then judged by :func:`judge` against that null distribution:

- ``DRIFT`` above null mean + ``drift_sd`` (3) null standard deviations,
- ``WARN`` above null mean + ``warn_sd`` (2),
- ``OK`` otherwise.

Halves have half of OLD's documents, so a statistic's sampling noise is larger between two
halves than between OLD and NEW of full size: the null is conservative (a bias toward OK),
which is the side a gate on a data release should err on. Every check also carries the
empirical p-value ``(1 + #null >= value) / (1 + null_n)`` and the null's mean and sd, for
reading, not deciding. A statistic measured on fewer than ``min_docs`` documents on a side
is marked unreliable and can at most WARN; so is one whose null has fewer than 5 values.
A measure a section states as a fact (``Measure.fact``: the mixture's share of a domain
that only one side has, one that appeared or went) is DRIFT, whatever its null and document
counts say, with the fact as its note.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

#: Verdicts, mildest first; ``--fail-on`` names one of them.
LEVELS = ("OK", "WARN", "DRIFT")
#: A null distribution with fewer values than this makes a check unreliable.
MIN_NULL = 5


@dataclass
class Measure:
    """One statistic between two sides, before it is judged."""

    section: str
    """The section that computed it (``mixture``, ``metadata``, ``tokens``...)."""
    statistic: str
    """Its name within the section (``share``, ``wasserstein/n_tokens``, ``unigram_js``...):
    larger is always more different."""
    value: float
    domain: str | None = None
    """The domain it is about; None for the whole corpus (e.g. the mixture's JS distance)."""
    n_old: int = 0
    """Documents behind it on OLD's side (the whole corpus's for a corpus-level statistic)."""
    n_new: int = 0
    detail: dict[str, Any] = field(default_factory=dict)
    """What a reader needs to see why (the two sides' values, quantile shifts, tokens that
    moved most...); only filled for OLD against NEW, not for the calibration's halves."""
    fact: str = ""
    """Why the value is a fact, not an estimate to judge against the null (``domain only in
    NEW``); empty for an estimate. A fact is DRIFT (:func:`judge`)."""

    @property
    def key(self) -> tuple[str, str | None, str]:
        return (self.section, self.domain, self.statistic)


@dataclass
class Check:
    """A judged :class:`Measure`: its value against the split-half null."""

    section: str
    statistic: str
    domain: str | None
    value: float
    verdict: str
    """One of :data:`LEVELS`."""
    z: float | None
    """(value - null mean) / null sd; None without a usable null."""
    null_mean: float | None
    null_sd: float | None
    null_n: int
    p_value: float | None
    """Empirical: the share of null values at least as large (with the +1 correction)."""
    reliable: bool
    note: str
    n_old: int
    n_new: int
    detail: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        for k in ("value", "z", "null_mean", "null_sd", "p_value"):
            out[k] = json_number(out[k])
        return out


def json_number(v: float | None, digits: int = 6) -> float | str | None:
    """``v`` as drift.json writes it: rounded to ``digits``, NaN as None and an infinity as the
    string ``inf`` or ``-inf`` (JSON has neither); None stays None."""
    if v is None:
        return None
    v = float(v)
    return None if math.isnan(v) else round(v, digits) if math.isfinite(v) else str(v)


def judge(measure: Measure, null: list[float], warn_sd: float = 2.0, drift_sd: float = 3.0,
          min_docs: int = 50) -> Check:
    """Judge ``measure`` against the values the same statistic took between halves of OLD; a
    fact (``measure.fact``) is DRIFT and reliable, its note the fact (z, null and p-value as
    judged, for reading)."""
    check = _judge(measure, null, warn_sd, drift_sd, min_docs)
    if measure.fact:
        check.verdict, check.reliable, check.note = "DRIFT", True, measure.fact
    return check


def _judge(measure: Measure, null: list[float], warn_sd: float, drift_sd: float, min_docs: int) -> Check:
    vals = np.asarray([v for v in null if v is not None and math.isfinite(v)], dtype=np.float64)
    notes = []
    reliable = True
    small = min(measure.n_old, measure.n_new)
    if small < min_docs:
        reliable = False
        notes.append(f"only {small} documents on a side (fewer than {min_docs})")
    if len(vals) < MIN_NULL:
        reliable = False
        notes.append(f"null has {len(vals)} values (fewer than {MIN_NULL})")
    value = float(measure.value)
    if math.isnan(value):
        return Check(measure.section, measure.statistic, measure.domain, value, "OK", None, None, None,
                     len(vals), None, False, "; ".join(notes + ["no value"]), measure.n_old, measure.n_new,
                     measure.detail)
    if len(vals) == 0:
        return Check(measure.section, measure.statistic, measure.domain, value, "OK", None, None, None, 0, None,
                     False, "; ".join(notes), measure.n_old, measure.n_new, measure.detail)
    mean, sd = float(vals.mean()), float(vals.std(ddof=1)) if len(vals) > 1 else 0.0
    # A null with no spread at all (identical halves): any excess over its value counts in
    # units of a tiny scale, so equal stays OK and any difference is beyond it.
    scale = max(sd, 1e-12 * max(1.0, abs(mean)))
    z = (value - mean) / scale
    verdict = "DRIFT" if z > drift_sd else "WARN" if z > warn_sd else "OK"
    if verdict == "DRIFT" and not reliable:
        verdict = "WARN"
        notes.append("DRIFT lowered to WARN: unreliable")
    p = (1 + int((vals >= value).sum())) / (1 + len(vals))
    return Check(measure.section, measure.statistic, measure.domain, value, verdict, z, mean, sd, len(vals), p,
                 reliable, "; ".join(notes), measure.n_old, measure.n_new, measure.detail)


def worst(verdicts: list[str]) -> str:
    """The most severe of ``verdicts`` (OK for none)."""
    return max(verdicts, key=LEVELS.index, default="OK")


__all__ = ["LEVELS", "MIN_NULL", "Measure", "Check", "judge", "json_number", "worst"]
