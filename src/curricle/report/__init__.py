"""The run report: one self-contained HTML page per run, or several runs side by side.

``curricle report RUN`` -> ``RUN/report.html``; ``curricle compare RUN RUN ... --out F``.
:mod:`~curricle.report.data` reads a run directory into a dict, :mod:`~curricle.report.figures`
turns it into plotly figures, :mod:`~curricle.report.page` writes the page.
"""

from curricle.report.data import collect_run
from curricle.report.page import PANELS, write_compare, write_report

__all__ = ["collect_run", "write_report", "write_compare", "PANELS"]
