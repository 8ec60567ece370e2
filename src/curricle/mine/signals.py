"""A run's per-document difficulty, read from the ``hard-examples`` controller's arrays.

Every checkpoint of a run whose controller is ``hard-examples`` holds, in
``arrays.safetensors`` under ``controller/<key>/<domain>``, one value per training document of
each prioritized domain (the controller's ``array_state()``): ``last`` (latest mean loss, NaN
unseen), ``seen`` (step last seen), ``served`` (times served), and, where the controller keeps
them, ``ema`` (smoothed loss), ``hist`` (the last K visit losses, oldest first, NaN-padded on
the left), ``margin``, ``conf``, ``acc`` and ``calib`` (smoothed per-document means of the
target's margin over the best other token, top-1 probability, top-1 correctness, and top-1
probability minus correctness). A key a run's controller does not keep reads as NaN.

These readers stand in for ``curricle.controllers.hard_examples.document_signals`` /
``load_document_state`` (same names, arguments and columns), which the signals work adds; the
two are meant to become one.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import yaml
from safetensors.numpy import load_file as load_arrays

from curricle.errors import CurricleError
from curricle.train.checkpoint import latest_complete
from curricle.train.parts import ARRAYS_FILE

#: The controller's name in checkpoints (its hook registers it under this name).
PART = "controller"
#: The columns of :func:`document_signals`, in order.
SIGNALS = ("loss", "loss_ema", "trend", "margin", "confidence", "accuracy", "calibration", "served", "last_step")
#: Column -> the controller's array key.
KEYS = {"loss": "last", "loss_ema": "ema", "margin": "margin", "confidence": "conf", "accuracy": "acc",
        "calibration": "calib", "served": "served", "last_step": "seen"}


def loss_trend(hist: np.ndarray) -> np.ndarray:
    """Per row of ``hist`` (n, K: visit losses, oldest first, NaN where a document has fewer
    visits), the least-squares slope of loss over visit number: nats per visit; NaN with
    fewer than 2 visits."""
    hist = np.asarray(hist, dtype=np.float64)
    if hist.ndim != 2:
        raise ValueError(f"hist: expected shape (n_docs, K), got {hist.shape}")
    known = np.isfinite(hist)
    n = known.sum(1)
    x = np.broadcast_to(np.arange(hist.shape[1], dtype=np.float64), hist.shape)
    with np.errstate(invalid="ignore", divide="ignore"):
        mx = np.where(known, x, 0.0).sum(1) / n
        my = np.where(known, hist, 0.0).sum(1) / n
        dx = np.where(known, x - mx[:, None], 0.0)
        dy = np.where(known, hist - my[:, None], 0.0)
        slope = (dx * dy).sum(1) / (dx * dx).sum(1)
    return np.where(n >= 2, slope, np.nan)


def document_signals(arrays: dict[str, np.ndarray], domain: str) -> dict[str, np.ndarray]:
    """The difficulty columns of ``domain``'s documents (:data:`SIGNALS`), each of length
    n_docs, from the controller's arrays (keys without the ``controller/`` prefix)."""
    if f"last/{domain}" not in arrays:
        raise CurricleError(f"domain '{domain}': the hard-examples state has no documents of it "
                            f"(prioritized: {', '.join(state_domains(arrays)) or 'none'})")
    n = len(arrays[f"last/{domain}"])
    out: dict[str, np.ndarray] = {}
    for col in SIGNALS:
        if col == "trend":
            hist = arrays.get(f"hist/{domain}")
            out[col] = loss_trend(hist) if hist is not None else np.full(n, np.nan)
            continue
        a = arrays.get(f"{KEYS[col]}/{domain}")
        out[col] = np.asarray(a, dtype=np.float64) if a is not None else np.full(n, np.nan)
    return out


def state_domains(arrays: dict[str, np.ndarray]) -> list[str]:
    """The domains the controller's arrays hold documents of, sorted."""
    return sorted(k.split("/", 1)[1] for k in arrays if k.startswith("last/"))


def classify_trend(trend: np.ndarray, threshold: float) -> np.ndarray:
    """``learning`` (trend < -threshold), ``stuck`` (|trend| <= threshold), ``rising``
    (trend > threshold) or ``unknown`` (fewer than 2 visits) per document."""
    trend = np.asarray(trend, dtype=np.float64)
    out = np.full(trend.shape, "unknown", dtype=object)
    known = np.isfinite(trend)
    out[known & (trend < -threshold)] = "learning"
    out[known & (np.abs(trend) <= threshold)] = "stuck"
    out[known & (trend > threshold)] = "rising"
    return out


def run_config(run_dir: Path) -> dict[str, Any]:
    """``RUN/config.yaml`` as a dict; a one-line error when the run has none."""
    path = Path(run_dir) / "config.yaml"
    if not path.is_file():
        raise CurricleError(f"{run_dir}: no config.yaml: not a curricle training run")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as err:
        raise CurricleError(f"{path}: not a readable run config ({err})") from None
    return data if isinstance(data, dict) else {}


def load_document_state(run_dir: Path | str) -> tuple[int, dict[str, np.ndarray]]:
    """The step and the hard-examples controller's arrays (keys without ``controller/``) of
    the run's latest complete checkpoint."""
    run_dir = Path(run_dir)
    kind = (run_config(run_dir).get("controller") or {}).get("kind", "schedule")
    if kind != "hard-examples":
        raise CurricleError(f"{run_dir}: its controller is '{kind}', not hard-examples: the run kept no "
                            "per-document state to mine")
    latest = latest_complete(run_dir / "checkpoints")
    if latest is None:
        raise CurricleError(f"{run_dir}: no complete checkpoint under checkpoints/ (the per-document state "
                            "is saved with each checkpoint)")
    step, path = latest
    if not (path / ARRAYS_FILE).is_file():
        raise CurricleError(f"{path}: no {ARRAYS_FILE}: the checkpoint holds no per-document state")
    prefix = PART + "/"
    arrays = {k[len(prefix):]: v for k, v in load_arrays(str(path / ARRAYS_FILE)).items() if k.startswith(prefix)}
    if not state_domains(arrays):
        raise CurricleError(f"{path / ARRAYS_FILE}: no hard-examples document state (controller/last/<domain>)")
    return step, arrays


__all__ = ["SIGNALS", "loss_trend", "document_signals", "state_domains", "classify_trend", "run_config",
           "load_document_state"]
