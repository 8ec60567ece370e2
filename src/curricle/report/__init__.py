"""The run report: one self-contained HTML page per run, or several runs side by side.

``curricle report RUN`` -> ``RUN/report.html``; ``curricle compare RUN RUN ... --out F``.
The page follows the run's kind, from its ``run.json`` (:mod:`~curricle.report.kind`): a
pretraining run's (:mod:`~curricle.report.data` reads the run into a dict,
:mod:`~curricle.report.figures` draws it, :mod:`~curricle.report.page` writes the page, and the
comparison), a fine-tuning run's (:mod:`~curricle.report.finetune`), an RL run's
(:mod:`~curricle.report.rl`) or a pipeline's (:mod:`~curricle.report.pipeline`); a ``curricle drift``
output gets the drift page (:mod:`~curricle.report.drift`). Each declares its
panels and draws its own figures with the shared kits: :mod:`~curricle.report.kit` (the page,
panels, tables, cells) and :mod:`~curricle.report.plots` (colours, layout, axes).
"""

from curricle.report.data import collect_run
from curricle.report.page import PANELS, write_compare, write_report

__all__ = ["collect_run", "write_report", "write_compare", "PANELS"]
