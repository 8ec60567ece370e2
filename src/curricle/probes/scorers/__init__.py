"""Scorers by ``output_type``. One file per output type.

Adding one: write ``scorers/<type>.py`` with a :class:`Scorer` subclass, add its
``output_type`` to ``curricle.probes.task.OutputType`` and one line to ``SCORERS``.
"""

from __future__ import annotations

from curricle.probes.scorers.base import Scorer, TaskScore
from curricle.probes.scorers.generate_until import GenerateUntilScorer
from curricle.probes.scorers.loglikelihood import LoglikelihoodScorer
from curricle.probes.scorers.multiple_choice import MultipleChoiceScorer
from curricle.probes.scorers.rolling import RollingScorer

SCORERS: dict[str, Scorer] = {
    "multiple_choice": MultipleChoiceScorer(),
    "loglikelihood": LoglikelihoodScorer(),
    "generate_until": GenerateUntilScorer(),
    "loglikelihood_rolling": RollingScorer(),
}

__all__ = ["SCORERS", "Scorer", "TaskScore"]
