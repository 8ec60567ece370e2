"""A run's per-document difficulty, read from the ``hard-examples`` controller's arrays.

Every checkpoint of a run whose controller is ``hard-examples`` holds, in
``arrays.safetensors`` under ``controller/<key>/<domain>``, one value per training document of
each prioritized domain (the controller's ``array_state()``): ``last`` (latest mean loss, NaN
unseen), ``seen`` (step last seen), ``served`` (times served), and, where the controller keeps
them, ``ema`` (smoothed loss), ``hist`` (the last K visit losses, oldest first, NaN-padded on
the left), ``margin``, ``conf``, ``acc`` and ``calib`` (smoothed per-document means of the
target's margin over the best other token, top-1 probability, top-1 correctness, and top-1
probability minus correctness). A key a run's controller does not keep reads as NaN.

The readers themselves are the controller's (:func:`~curricle.controllers.hard_examples.document_signals`,
:func:`~curricle.controllers.hard_examples.load_document_state`, ``loss_trend``,
``classify_trend``), re-exported here beside what ``curricle mine`` adds: the run's config and
the domains a state holds.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from curricle.controllers.hard_examples import classify_trend, document_signals, load_document_state, loss_trend

#: The columns of :func:`document_signals`, in order.
SIGNALS = ("loss", "loss_ema", "trend", "margin", "confidence", "accuracy", "calibration", "served", "last_step")


def state_domains(arrays: dict[str, np.ndarray]) -> list[str]:
    """The domains the controller's arrays hold documents of, sorted."""
    return sorted(k.split("/", 1)[1] for k in arrays if k.startswith("last/"))


__all__ = ["SIGNALS", "loss_trend", "document_signals", "state_domains", "classify_trend",
           "load_document_state"]
