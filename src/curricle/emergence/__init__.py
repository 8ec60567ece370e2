"""The emergence map: when each skill emerges in a run, and how consistently runs agree.

- :mod:`~curricle.emergence.curves`: smoothing, emergence (``CROSSINGS``: fixed, stable,
  elbow), saturation, censoring, chaoticness, forgettability;
- :mod:`~curricle.emergence.intervals`: bootstrap intervals of emergence and saturation;
- :mod:`~curricle.emergence.ordering`: Spearman / Kendall over censored ranks, bootstrap
  intervals, permutation p-values;
- :mod:`~curricle.emergence.phases`: emergence against curriculum phase boundaries;
- :func:`~curricle.emergence.map.map_runs`: probe result files in, ``emergence.json`` / ``.csv`` out;
- :mod:`~curricle.emergence.config`: the map's settings (``MapConfig``) and a study's file.

(Named ``emergence`` rather than ``map`` so it does not shadow the builtin.)
"""
