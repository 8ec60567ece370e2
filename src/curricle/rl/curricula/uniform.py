"""``uniform``: seeded epochs over the training prompts, ``B`` a step (the baseline). It is
also ``dynamic-filter``'s policy: DAPO's filter is the ``zero-variance`` gate."""

from __future__ import annotations

from curricle.rl.curricula.base import PromptPolicy


class UniformPolicy(PromptPolicy):
    pass
