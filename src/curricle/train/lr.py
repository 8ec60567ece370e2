"""Learning-rate schedules: pure functions of the step (nothing to checkpoint).

- ``constant``: linear warm-up, then the peak.
- ``cosine``: linear warm-up, then cosine decay to ``min_lr_ratio * lr`` at the last step.
- ``wsd`` (warmup-stable-decay): warm-up, the peak held, then a decay to the floor over the
  last stretch. The decay can start where a curriculum phase starts (``decay_phase``), so the
  annealing coincides with consolidation on the highest-value data.
"""

from __future__ import annotations

import math

from curricle.train.config import LRConfig


def lr_at(step: int, peak: float, total_steps: int, cfg: LRConfig, decay_start: int | None = None) -> float:
    """The learning rate at ``step`` (0-based) of a ``total_steps`` run."""
    if cfg.warmup_steps and step < cfg.warmup_steps:
        return peak * (step + 1) / cfg.warmup_steps
    floor = peak * cfg.min_lr_ratio
    if cfg.kind == "constant":
        return peak
    if cfg.kind == "cosine":
        span = max(1, total_steps - 1 - cfg.warmup_steps)
        progress = min(1.0, (step - cfg.warmup_steps) / span)
        return floor + (peak - floor) * 0.5 * (1 + math.cos(math.pi * progress))
    start = decay_start if decay_start is not None else int(round(total_steps * (1 - cfg.decay_fraction)))
    start = max(start, cfg.warmup_steps)
    if step < start:
        return peak
    progress = min(1.0, (step - start + 1) / max(1, total_steps - start))
    if cfg.decay_shape == "linear":
        factor = 1 - progress
    elif cfg.decay_shape == "sqrt":
        factor = 1 - math.sqrt(progress)
    else:
        factor = 0.5 * (1 + math.cos(math.pi * progress))
    return floor + (peak - floor) * factor
