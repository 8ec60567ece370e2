"""The mixture: packed, domain-pure rows from weights that may change every step
(:mod:`~curricle.mixture.sampler`), under a schedule (:mod:`~curricle.mixture.schedules`) and
difficulty pacing (:mod:`~curricle.mixture.pacing`), configured by
:mod:`~curricle.mixture.config`."""
