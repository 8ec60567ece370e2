"""The augmentation policy in the training loop: a round every ``augment.every`` steps.

:class:`AugmentHook` runs after the controller and the in-loop probes (it reads what they
found this step). After step ``s`` with ``s % every == 0``, for each augmented domain in store
order, the main rank asks the :class:`~curricle.augment.targets.TargetFinder` for targets, has
the augmenter make up to ``budget`` documents (seed ``derive_seed(run seed, "augment", domain,
s, i)`` for the ``i``-th target), tokenizes them with the store's tokenizer, and every rank
appends them to the domain's :class:`~curricle.augment.overlay.Overlay`, which the sampler
draws from from step ``s + 1`` on. They are appended in a seeded shuffled order
(:func:`round_order`), not target by target: the overlay's stream reads documents in the order
they were added, so without it a round of five ladder levels fed the domain one level's
documents for 9 to 19 steps in a row, then the next level's (the augmentation benchmark's
``uppercase``: 12 or 13 documents of 1,900 to 4,000 tokens a level, about 210 overlay tokens
a step). Each round appends one line to ``RUN/augment_log.jsonl``::

    {"step", "domain", "augmenter", "n", "target", "params", "share",
     "targets": [augmented_from, ...], "dropped": {reason: count}, "reason" | "region" | "scores"}

(``share``: the overlay's share of the domain's tokens so far; ``reason``: why a round made
nothing). When the controller's groups have floors on the domain, the line also has
``floor_cap``, the largest share of the domain's tokens the overlay (with this round's
documents) can take at the controller's current draw probabilities with every group at its
floor, and ``limited_by``, the group that sets it (null: none limits it; the overlay then
takes ``max_share``); the sampler enforces the floors step by step
(:mod:`curricle.mixture.overlay_groups`). Every step adds ``augment/<domain>/docs`` and ``augment/<domain>/share`` to the
metrics. The hook's state is the latest probe score per task (``failing-levels`` reads them);
the overlays' lengths are the sampler's state.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np

from curricle.augment.base import Augmenter, AugmentedDoc, derive_seed
from curricle.augment.config import AugmentConfig
from curricle.augment.overlay import Overlay
from curricle.augment.targets import PROBE_METRICS, TargetFinder
from curricle.prepare.encode import encode_texts
from curricle.train.distributed import all_gather_objects
from curricle.train.hooks import Hook, TrainState

AUGMENT_LOG = "augment_log.jsonl"


def round_order(seed: int, domain: str, step: int, n: int) -> np.ndarray:
    """The order a round's ``n`` documents go into the overlay: a permutation seeded by
    ``derive_seed(seed, "augment-order", domain, step)`` of the order they were made in."""
    return np.random.default_rng(derive_seed(seed, "augment-order", domain, step)).permutation(n)


class AugmentHook(Hook):
    """Runs the augmentation policy ``config`` (see the module doc).

    ``overlays``: the augmented domains' overlays, already attached to the run's sampler;
    ``tokenizer``: the store's ``tokenizers.Tokenizer``; ``seed``: the run seed.
    """

    name = "augment"
    logs = (AUGMENT_LOG,)

    def __init__(self, config: AugmentConfig, augmenter: Augmenter, finder: TargetFinder,
                 overlays: dict[str, Overlay], tokenizer: Any, seed: int):
        self.config = config
        self.augmenter = augmenter
        self.finder = finder
        self.overlays = overlays
        self.tokenizer = tokenizer
        self.seed = int(seed)
        self.scores: dict[str, float] = {}
        self._params = config.augmenter.model_dump(mode="json", exclude={"kind"})

    def state_dict(self) -> dict[str, Any]:
        return {"scores": dict(self.scores)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.scores = {k: float(v) for k, v in state.get("scores", {}).items()}

    def on_train_start(self, state: TrainState) -> None:
        if state.step == 0:  # a fresh run: nothing of an earlier run in this directory
            for overlay in self.overlays.values():
                overlay.reset()

    def on_step_end(self, state: TrainState, batch, metrics: dict[str, Any]) -> None:
        for key, value in metrics.items():
            parts = key.split("/")
            if len(parts) == 3 and parts[0] == "probe" and parts[2] in PROBE_METRICS and isinstance(value, (int, float)):
                self.scores[parts[1]] = float(value)
        step = metrics["step"]
        if step % self.config.every == 0:
            for domain in self.overlays:
                self._round(state, domain, step)
        for domain, (docs, share) in state.sampler.overlay_share().items():
            metrics[f"augment/{domain}/docs"] = docs
            metrics[f"augment/{domain}/share"] = share

    def _round(self, state: TrainState, domain: str, step: int) -> None:
        made: tuple[list[AugmentedDoc], list[np.ndarray], dict[str, Any]] | None = None
        if state.is_main:
            made = self.make(domain, step)
        docs, ids, info = all_gather_objects(state.dist, made)[0]  # the main rank's, on every rank
        overlay = self.overlays[domain]
        share = state.sampler.overlay_share()[domain][1]
        overlay.append(docs, ids, step)
        cap = state.sampler.overlay_floor_cap(domain)
        floors = {} if cap is None else {"floor_cap": cap[0], "limited_by": cap[1]}
        state.append_log(AUGMENT_LOG, {"step": step, "domain": domain, "augmenter": self.augmenter.name,
                                       "n": len(docs), "target": self.config.target, "params": self._params,
                                       "share": share, **floors, **info})

    def make(self, domain: str, step: int) -> tuple[list[AugmentedDoc], list[np.ndarray], dict[str, Any]]:
        """One round's documents for ``domain``, their token ids (without EOS), and what the
        log says about them."""
        targets, info = self.finder.find(domain, self.scores)
        docs: list[AugmentedDoc] = []
        dropped: Counter = Counter()
        for i, (target, n) in enumerate(targets):
            kept, lost = self.augmenter.run(target, n, derive_seed(self.seed, "augment", domain, step, i))
            docs += kept
            dropped.update(lost)
        ids: list[np.ndarray] = []
        if docs:
            enc = encode_texts([d.text for d in docs], self.overlays[domain].dtype.name, self.tokenizer)
            ids = np.split(enc.ids, np.cumsum(enc.lengths)[:-1])
            empty = [i for i, t in enumerate(ids) if len(t) == 0]
            if empty:  # nothing to train on (a text the tokenizer makes no tokens of)
                dropped["no-tokens"] += len(empty)
                docs = [d for i, d in enumerate(docs) if i not in empty]
                ids = [t for i, t in enumerate(ids) if i not in empty]
        if len(docs) > 1:  # the round's targets interleaved (see the module doc)
            order = round_order(self.seed, domain, step, len(docs))
            docs, ids = [docs[i] for i in order], [ids[i] for i in order]
        out = {"targets": [t.augmented_from for t, _ in targets], "dropped": dict(sorted(dropped.items())), **info}
        return docs, ids, out
