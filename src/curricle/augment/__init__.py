"""Targeted augmentation: more training documents like the ones the model fails, made during a run.

Augmenters are registered by name in :data:`~curricle.augment.config.AUGMENTERS`, one file
each, under the contract of :mod:`curricle.augment.base`:

- ``generator`` (:mod:`.generator`): new train items of a built-in skill at the targeted
  ladder level;
- ``perturb`` (:mod:`.perturb`): span deletion, word shuffling within a sentence, character
  noise;
- ``paraphrase`` (:mod:`.paraphrase`): a rewrite sampled from a local HF checkpoint, filtered
  by length and (optionally) the checkpoint's own loss;
- ``function`` (:mod:`.function`): a user's ``module:function``.

The policy (``augment:`` in the run config, :class:`~curricle.augment.config.AugmentConfig`)
runs as a training-loop hook (:mod:`.hook`): every ``every`` steps it picks targets from the
run's own telemetry (:mod:`.targets`), makes up to ``budget`` documents per domain, and adds
them to that domain's *training* stream only.

How augmented documents reach the model, exactly and resumably. The token store is never
written: each augmented domain gets an append-only overlay, ``RUN/augment/<domain>/``
(:mod:`.overlay`: tokens, and one provenance record per document). The mixture sampler draws
the overlay as part of the domain (rows stay domain-pure): a row of the domain is the
overlay's while that keeps the overlay within ``max_share`` of the domain's tokens since its
first augmented document, so the cap holds at every step; the overlay's rows read its
documents in order, newest round first, then cycling. The domain's weight (its token share
of the batch) is unchanged: augmented documents replace some of the domain's own rows, never
another domain's. The overlay's length and stream position are part of the sampler's state in
every checkpoint; a resumed run cuts the overlay's files back to that length, and the rounds
after it are made again from the same seeds, so a killed and resumed run trains on exactly the
rows an uninterrupted one does. Held-out rows come from the store's ``heldout`` split, which
the overlay never touches, and every augmented document is checked against the protected
probe items (what decontamination protects) before it is kept.

Groups. When the controller has ``groups``, every augmented document is in the group of what
it was made from (:mod:`.targets`; ``group`` in the overlay's ``meta.jsonl``), its rows count in
that group's ``group/share/<domain>/<group>``, and with floors the sampler gives the overlay
only the rows that keep every floored group's expected share of the domain's tokens at its
floor, step by step (:mod:`curricle.mixture.overlay_groups`); each round logs the resulting
``floor_cap`` and the group that sets it (``limited_by``).
"""

from __future__ import annotations

from curricle.augment.config import AUGMENTERS, AugmentConfig, AugmenterSpec

__all__ = ["AUGMENTERS", "AugmentConfig", "AugmenterSpec"]
