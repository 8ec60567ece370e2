"""``generator``: new items from a built-in skill's generator at the targeted level's parameters.

For a domain written by a ``synthetic`` source: the source's generator (its skill, seed and
parameters, so ``facts`` keeps the same people) at the targeted ladder level, drawing a new
sequence of *train* items (``items(draw_seed=seed)``). The generator's train/held-out split is a
hash of each item's key that no seed or level changes, so a held-out probe item is never made;
:meth:`~curricle.augment.base.Augmenter.run` checks every document against the protected items
all the same. Documents are ``items_per_doc`` items, one a line, as the source writes them.
"""

from __future__ import annotations

from curricle.augment.base import Augmented, Augmenter, Rejected, Target
from curricle.errors import CurricleError
from curricle.synthetic import make_generator


class GeneratorAugmenter(Augmenter):
    name = "generator"

    def augment(self, target: Target, n: int, seed: int) -> list[Augmented | Rejected]:
        if target.skill is None:
            raise CurricleError(f"augment.augmenter: 'generator' makes skill items, but domain '{target.domain}' "
                                f"has no synthetic source")
        per_doc = self.config.items_per_doc or target.items_per_doc
        generator = make_generator(target.skill, target.source_seed, level=target.level, **target.params)
        items = generator.items("train", n * per_doc, at_most=True, draw_seed=seed)
        params = {"skill": target.skill, "level": target.level, "seed": seed, "items_per_doc": per_doc,
                  **({"params": target.params} if target.params else {})}
        out: list[Augmented | Rejected] = []
        for d in range(n):
            chunk = items[d * per_doc : (d + 1) * per_doc]
            if not chunk:
                out.append(Rejected("item-space-exhausted"))
                continue
            out.append(Augmented("\n".join(i.text for i in chunk) + "\n", {**params, "doc": d}))
        return out
