"""``curricle mix-search CONFIG --runs K``: propose a mixture from K small proxy runs.

1. K proxy runs of ``proxy_steps`` steps, each with static weights drawn as RegMix draws them
   (Liu et al., 2024): a Dirichlet centred on the natural mixture smoothed by ``temperature``
   (``natural ** (1 / temperature)``, normalized), whose strength (the sum of its alphas) is
   drawn log-uniformly from ``strength``. Weak draws give sparse mixtures near a corner,
   strong ones mixtures near the centre, so the proxies span the simplex around the natural
   mixture instead of clustering at it. Same seed and model for all. A draw that would serve
   a domain more than ``mixture.max_epochs`` times over in a run is drawn again (RegMix
   bounds each domain's weight by its tokens the same way).
2. A regression from mixture to held-out loss. Per target domain ``i``, the Data Mixing Laws
   form (Ye et al., 2024)::

       L_i(r) = c_i + k_i * exp(sum_j t_ij * r_j)

   (``c_i`` by a grid search below the smallest observed loss, the rest by least squares on
   ``log(L_i - c_i)``); the objective is the mean over domains. With LightGBM installed,
   ``regressor: lightgbm`` fits gradient-boosted trees to the objective instead (RegMix,
   Liu et al., 2024).
3. The proposal: ``candidates`` mixtures drawn the same way as the proxies (so the fit is
   asked only about the region the proxies covered, not extrapolated to the whole simplex),
   scored under the fitted model; the mean of the best ``top_k`` (RegMix's search), with a
   floor per domain.
4. One validation run at the proposal, reporting predicted against measured loss.

Everything lands in ``OUT/`` (one directory per run, and ``mix_search.json``).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator

from curricle import atomic
from curricle.errors import CurricleError

if TYPE_CHECKING:
    from curricle.config import RunConfig

log = logging.getLogger(__name__)


class MixSearchConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    proxy_steps: int | None = Field(None, ge=1)
    """Steps of each proxy run (default: train.steps)."""
    temperature: float = Field(2.0, gt=0)
    """The draws' centre: natural tokens ** (1 / temperature), normalized (RegMix: 2, i.e. the
    square root; 1 is the natural mixture itself)."""
    strength: tuple[float, float] = (0.1, 5.0)
    """Range of the Dirichlet's strength (sum of alphas), drawn log-uniformly per mixture
    (RegMix's range): low gives sparse mixtures, high gives mixtures near the centre."""
    regressor: Literal["mixing-law", "lightgbm"] = "mixing-law"
    """The regression from mixture to loss."""
    candidates: int = Field(20000, ge=100)
    """Random mixtures scored under the fitted model."""
    top_k: int = Field(50, ge=1)
    """The proposal averages the best this many candidates."""
    min_weight: float = Field(0.01, ge=0, lt=1)
    """Floor on every domain's proposed weight."""

    @field_validator("strength")
    @classmethod
    def _range(cls, v: tuple[float, float]) -> tuple[float, float]:
        if not 0 < v[0] <= v[1]:
            raise ValueError(f"expected [low, high] with 0 < low <= high, got {list(v)}")
        return v


#: A draw is rejected at most this many times per mixture on average before the search gives up.
MAX_REJECTIONS = 1000


def draw_mixtures(rng: np.random.Generator, centre: np.ndarray, strength: tuple[float, float], n: int,
                  cap: np.ndarray | None = None) -> np.ndarray:
    """``n`` mixtures (n, D) from Dirichlet(strength_i * centre), ``strength_i`` log-uniform
    in ``strength``, each weight at most ``cap`` (per domain) where given. Draws over the cap,
    or whose every weight underflowed to 0, are drawn again."""
    lo, hi = np.log(strength[0]), np.log(strength[1])
    out = np.empty((n, len(centre)))
    tries = 0
    for i in range(n):
        while True:
            tries += 1
            if tries > MAX_REJECTIONS * n:
                raise CurricleError(
                    f"mixture.max_epochs: fewer than 1 in {MAX_REJECTIONS} mixtures drawn around the natural one "
                    f"keep every domain within it; raise it or add data to the small domains")
            r = rng.dirichlet(np.exp(rng.uniform(lo, hi)) * centre)
            if np.isfinite(r).all() and r.sum() > 0:
                r = r / r.sum()
                if cap is None or (r <= cap).all():
                    out[i] = r
                    break
    return out


def epoch_caps(config: "RunConfig", natural_tokens: np.ndarray, steps: int) -> np.ndarray:
    """Per domain, the largest weight that serves it at most ``mixture.max_epochs`` times over
    in a run of ``steps`` steps (weights count tokens; each row carries seq_len + 1 of them)."""
    from curricle.mixture.seq_len import seq_len_at

    mix = config.mixture
    run_tokens = mix.batch_rows * sum(seq_len_at(mix.seq_len, s) + 1 for s in range(steps))
    cap = np.minimum(1.0, mix.max_epochs * natural_tokens / run_tokens)
    if cap.sum() < 1.0:
        raise CurricleError(
            f"mixture.max_epochs: a run of {steps} steps ({run_tokens:,} tokens) serves some domain more than "
            f"{mix.max_epochs} times over whatever the mixture (the domains hold {int(natural_tokens.sum()):,} "
            f"tokens); raise it or shorten the proxy runs")
    return cap


def fit_mixing_law(r: np.ndarray, loss: np.ndarray, grid: int = 20) -> tuple[float, float, np.ndarray]:
    """(c, k, t) of ``loss ~ c + k * exp(r @ t)`` over mixtures ``r`` (n, D)."""
    design = np.hstack([np.ones((len(r), 1)), r])  # (n, 1 + D)
    top = 0.999 * loss.min()

    def search(cs):
        best = None
        for c in cs:
            coef, *_ = np.linalg.lstsq(design, np.log(loss - c), rcond=None)
            sse = float(((c + np.exp(design @ coef) - loss) ** 2).sum())
            if best is None or sse < best[0]:
                best = (sse, c, coef)
        return best

    coarse = search(np.linspace(0.0, top, grid))
    step = top / max(1, grid - 1)
    _, c, coef = search(np.linspace(max(0.0, coarse[1] - step), min(top, coarse[1] + step), grid))
    return float(c), float(np.exp(coef[0])), coef[1:]


class MixtureModel:
    """The fitted mixture -> mean held-out loss model."""

    def __init__(self, kind: str, mixtures: np.ndarray, per_domain: np.ndarray):
        self.kind = kind
        if kind == "lightgbm":
            try:
                import lightgbm
            except ImportError:
                raise CurricleError("mix_search.regressor: lightgbm is not installed (pip install 'curricle[search]')") from None
            self.gbm = lightgbm.LGBMRegressor(n_estimators=200, learning_rate=0.05, min_child_samples=2, verbose=-1)
            self.gbm.fit(mixtures, per_domain.mean(axis=1))
        else:
            self.laws = [fit_mixing_law(mixtures, per_domain[:, i]) for i in range(per_domain.shape[1])]

    def predict(self, mixtures: np.ndarray) -> np.ndarray:
        mixtures = np.atleast_2d(mixtures)
        if self.kind == "lightgbm":
            return self.gbm.predict(mixtures)
        per = np.stack([c + k * np.exp(mixtures @ t) for c, k, t in self.laws], axis=1)
        return per.mean(axis=1)

    def describe(self) -> dict[str, Any]:
        if self.kind == "lightgbm":
            return {"kind": "lightgbm"}
        return {"kind": "mixing-law", "laws": [{"c": c, "k": k, "t": t.tolist()} for c, k, t in self.laws]}


def _mean_eval_loss(metrics_path: Path, domains: list[str]) -> tuple[float, list[float]]:
    last = None
    for line in metrics_path.read_text().splitlines():
        m = json.loads(line)
        if "eval/loss" in m:
            last = m
    if last is None:
        raise CurricleError(f"{metrics_path}: no evaluation in this run")
    per = [last[f"eval/loss/{d}"] for d in domains]
    return float(np.mean(per)), per


def _run_with_weights(config: "RunConfig", weights: dict[str, float], run_dir: Path, steps: int, progress: bool):
    from curricle.controllers import ScheduleControllerConfig
    from curricle.mixture.schedules import StaticConfig
    from curricle.train.checkpoint import latest_complete
    from curricle.train.command import train_run

    mixture = config.mixture.model_copy(update={"schedule": StaticConfig(weights=weights)})
    train = config.train.model_copy(update={"steps": steps, "eval_every": steps})
    cfg = config.model_copy(update={"mixture": mixture, "train": train, "controller": ScheduleControllerConfig()})
    done = latest_complete(run_dir / "checkpoints")
    if done is None or done[0] < steps:
        train_run(cfg, run_dir, resume=done is not None, progress=progress)


def mix_search(config: "RunConfig", runs: int, out: Path, progress: bool = True) -> dict[str, Any]:
    """Proxy runs, fit, proposal, validation; returns (and writes) the summary."""
    from curricle.controllers.base import apply_floor
    from curricle.prepare import prepare
    from curricle.store import TokenStore

    if runs < 3:
        raise CurricleError("--runs: at least 3 proxy runs are needed to fit a mixture model")
    cfg = config.mix_search
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    prepare(config, progress=progress)
    store = TokenStore(config.data_dir)
    domains = store.domains
    natural_tokens = np.array([store.natural_tokens()[d] for d in domains], dtype=np.float64)
    natural = natural_tokens / natural_tokens.sum()
    steps = cfg.proxy_steps or config.train.steps
    # The proxies' and the target run's caps: a mixture must respect max_epochs in both.
    cap = np.minimum(epoch_caps(config, natural_tokens, steps), epoch_caps(config, natural_tokens, config.train.steps))
    rng = np.random.default_rng([config.seed, 0xD1A])
    centre = natural ** (1.0 / cfg.temperature)
    centre /= centre.sum()
    mixtures = draw_mixtures(rng, centre, cfg.strength, runs, cap)  # (K, D)

    losses = []
    for i, r in enumerate(mixtures):
        log.info("proxy run %d/%d: %s", i + 1, runs, ", ".join(f"{d} {w:.2f}" for d, w in zip(domains, r)))
        run_dir = out / f"proxy_{i:03d}"
        _run_with_weights(config, dict(zip(domains, r.tolist())), run_dir, steps, progress)
        losses.append(_mean_eval_loss(run_dir / "metrics.jsonl", domains)[1])
    per_domain = np.array(losses)  # (K, D)

    model = MixtureModel(cfg.regressor, mixtures, per_domain)
    candidates = draw_mixtures(rng, centre, cfg.strength, cfg.candidates, cap)
    candidates = np.vstack([candidates, mixtures])
    scores = model.predict(candidates)
    top = candidates[np.argsort(scores)[: cfg.top_k]].mean(axis=0)
    proposal = apply_floor(top, cfg.min_weight)  # every weight >= the floor, summing to 1
    predicted = float(model.predict(proposal)[0])

    val_dir = out / "validation"
    _run_with_weights(config, dict(zip(domains, proposal.tolist())), val_dir, steps, progress)
    measured, measured_per = _mean_eval_loss(val_dir / "metrics.jsonl", domains)
    natural_pred = float(model.predict(natural)[0])
    summary = {
        "domains": domains,
        "proxy_steps": steps,
        "proxies": [{"weights": dict(zip(domains, r.tolist())), "mean_eval_loss": float(np.mean(row)),
                     "eval_loss": dict(zip(domains, row))} for r, row in zip(mixtures, losses)],
        "model": model.describe(),
        "proposal": dict(zip(domains, proposal.tolist())),
        "predicted_mean_eval_loss": predicted,
        "measured_mean_eval_loss": measured,
        "measured_eval_loss": dict(zip(domains, measured_per)),
        "best_proxy_mean_eval_loss": float(per_domain.mean(axis=1).min()),
        "natural_predicted_mean_eval_loss": natural_pred,
    }
    atomic.write_json(out / "mix_search.json", summary)
    return summary


def mix_search_command(config_path: Path, runs: int, out: Path) -> dict[str, Any]:
    from rich.console import Console
    from rich.table import Table

    from curricle.config import load_config

    summary = mix_search(load_config(config_path), runs, out)
    console = Console()
    table = Table(title=f"mix-search: {runs} proxy runs of {summary['proxy_steps']} steps", title_justify="left")
    table.add_column("domain")
    table.add_column("proposed weight", justify="right")
    table.add_column("measured held-out loss", justify="right")
    for d in summary["domains"]:
        table.add_row(d, f"{summary['proposal'][d]:.3f}", f"{summary['measured_eval_loss'][d]:.3f}")
    console.print(table)
    console.print(f"predicted mean held-out loss {summary['predicted_mean_eval_loss']:.4f}, "
                  f"measured {summary['measured_mean_eval_loss']:.4f} "
                  f"(best proxy {summary['best_proxy_mean_eval_loss']:.4f}); written to {out / 'mix_search.json'}")
    return summary
