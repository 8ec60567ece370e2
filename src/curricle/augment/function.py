"""``function``: a user's ``module:function(target, n, seed, **args)``.

It returns up to ``n`` documents, each a string, a ``(text, params)`` pair (``params`` a
JSON-able dict that joins the provenance), an :class:`~curricle.augment.base.Augmented`, or a
:class:`~curricle.augment.base.Rejected` (a candidate it dropped, counted under its reason).
It should be deterministic in ``seed``: a resumed run replays its rounds.
"""

from __future__ import annotations

from curricle.augment.base import Augmented, Augmenter, Rejected, Target
from curricle.errors import CurricleError
from curricle.registry import load


class FunctionAugmenter(Augmenter):
    name = "function"

    def __init__(self, config, protect=None):
        super().__init__(config, protect)
        try:
            self.function = load(config.function)
        except (ImportError, AttributeError) as err:
            raise CurricleError(f"augment.augmenter.function: cannot import {config.function!r} ({err})") from None
        if not callable(self.function):
            raise CurricleError(f"augment.augmenter.function: {config.function!r} is not callable")

    def augment(self, target: Target, n: int, seed: int) -> list[Augmented | Rejected]:
        out: list[Augmented | Rejected] = []
        for x in self.function(target, n, seed, **self.config.args) or []:
            if isinstance(x, (Augmented, Rejected)):
                out.append(x)
            elif isinstance(x, str):
                out.append(Augmented(x, {"function": self.config.function, "seed": seed, **self.config.args}))
            elif isinstance(x, tuple) and len(x) == 2 and isinstance(x[0], str) and isinstance(x[1], dict):
                out.append(Augmented(x[0], {"function": self.config.function, "seed": seed, **x[1]}))
            else:
                raise CurricleError(f"augment.augmenter.function: {self.config.function!r} returned a "
                                    f"{type(x).__name__}; expected str or (text, params)")
        return out
