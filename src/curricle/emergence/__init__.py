"""The emergence map: when each skill emerges in a run, and how consistently runs agree.

- :mod:`~curricle.emergence.curves`: smoothing, emergence (``CROSSINGS``: fixed, stable,
  elbow), saturation, censoring, chaoticness, forgettability;
- :mod:`~curricle.emergence.intervals`: bootstrap intervals of emergence and saturation;
- :mod:`~curricle.emergence.ordering`: Spearman / Kendall over censored ranks, bootstrap
  intervals, permutation p-values;
- :mod:`~curricle.emergence.phases`: emergence against curriculum phase boundaries;
- :func:`map_runs`: probe result files in, ``emergence.json`` / ``.csv`` out.

(Named ``emergence`` rather than ``map`` so it does not shadow the builtin.)
"""

from curricle.emergence.curves import CROSSINGS, CurveSettings, analyze, chaoticness, forgettability, smooth
from curricle.emergence.map import MapConfig, map_runs
from curricle.emergence.ordering import censored_ranks, consistency, kendall, spearman

__all__ = ["CROSSINGS", "CurveSettings", "MapConfig", "analyze", "censored_ranks", "chaoticness", "consistency",
           "forgettability", "kendall", "map_runs", "smooth", "spearman"]
