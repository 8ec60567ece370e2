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
   floor per domain (``min_weight``, or the domain's ``max_epochs`` cap where that is lower:
   the floor never lifts a domain over its cap).
4. One validation run at the proposal, reporting predicted against measured loss.

Everything lands in ``OUT/`` (one directory per run, and ``mix_search.json``). A rerun reuses
(or resumes) the runs already there, but only those trained with the weights, steps and seed
it asks for: a run from before a change of ``mix_search`` or ``seed`` is refused in one line
naming its directory, not paired with the new mixture.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.table import Table

from curricle import atomic
from curricle.config import RunConfig, load_config
from curricle.controllers.config import ScheduleControllerConfig
from curricle.errors import CurricleError
from curricle.mixture.config import StaticConfig
from curricle.prepare.command import prepare_run
from curricle.runinfo import config_changes
from curricle.search.mixing_laws import MixtureModel, draw_mixtures, epoch_caps, floor_within_caps, mean_eval_loss
from curricle.store import TokenStore
from curricle.train.checkpoint import latest_complete
from curricle.train.command import train_run

log = logging.getLogger(__name__)


#: What a proxy or validation run is reused on: its config fields (dotted prefixes) and their
#: names in the refusal.
REUSED_ON = {"mixture.schedule": "mixture weights", "train.steps": "steps", "seed": "seed"}


def _run_with_weights(config: RunConfig, weights: dict[str, float], run_dir: Path, steps: int, progress: bool):
    """Train ``run_dir`` for ``steps`` steps at static ``weights``; a run already there is
    resumed or reused only if its ``config.yaml`` has the same weights, steps and seed (else
    its losses would be paired with another mixture): one line otherwise."""
    mixture = config.mixture.model_copy(update={"schedule": StaticConfig(weights=weights)})
    train = config.train.model_copy(update={"steps": steps, "eval_every": steps})
    cfg = config.model_copy(update={"mixture": mixture, "train": train, "controller": ScheduleControllerConfig()})
    done = latest_complete(run_dir / "checkpoints")
    if done is not None:
        changed = config_changes(run_dir, cfg)
        if changed is None:
            raise CurricleError(f"{run_dir}: a checkpoint but no readable config.yaml, so not known to be trained "
                                f"with this search's mixture; remove it to train it again, or give another --out")
        what = [name for field, name in REUSED_ON.items() if any(c == field or c.startswith(field + ".")
                                                                 for c in changed)]
        if what:
            raise CurricleError(f"{run_dir}: trained with other {', '.join(what)} than this search asks for "
                                f"(mix_search or seed changed since); remove it to train it again, "
                                f"or give another --out")
    if done is None or done[0] < steps:
        train_run(cfg, run_dir, resume=done is not None, progress=progress)


def mixing_law_underdetermined(runs: int, n_domains: int) -> str:
    """The warning for fewer than D + 2 proxies: a domain's law ``c + k exp(r . t)`` has D + 1
    free parameters on the simplex (the weights sum to 1), so K <= D proxies fit it exactly for
    any ``c`` and K = D + 1 leave nothing to check the fit against."""
    return (f"--runs: {runs} proxy runs for {n_domains} domains: each domain's mixing law has {n_domains + 1} free "
            f"parameters, so the fit is exact whatever the data say; {n_domains + 2} or more runs give a fit that "
            f"can be wrong, and so checked")


def mix_search(config: RunConfig, runs: int, out: Path, progress: bool = True) -> dict[str, Any]:
    """Proxy runs, fit, proposal, validation; returns (and writes) the summary."""
    if runs < 3:
        raise CurricleError("--runs: at least 3 proxy runs are needed to fit a mixture model")
    cfg = config.mix_search
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    prepare_run(config, progress=progress)
    store = TokenStore(config.data_dir)
    domains = store.domains
    if cfg.regressor == "mixing-law" and runs < len(domains) + 2:
        log.warning(mixing_law_underdetermined(runs, len(domains)))
    natural_tokens = np.array([store.natural_tokens()[d] for d in domains], dtype=np.float64)
    natural = natural_tokens / natural_tokens.sum()
    steps = cfg.proxy_steps or config.train.steps
    # The proxies' and the target run's caps: a mixture must respect max_epochs in both.
    cap = np.minimum(epoch_caps(config.mixture, natural_tokens, steps),
                     epoch_caps(config.mixture, natural_tokens, config.train.steps))
    rng = np.random.default_rng([config.seed, 0xD1A])
    centre = natural ** (1.0 / cfg.temperature)
    centre /= centre.sum()
    mixtures = draw_mixtures(rng, centre, cfg.strength, runs, cap)  # (K, D)

    losses = []
    for i, r in enumerate(mixtures):
        log.info("proxy run %d/%d: %s", i + 1, runs, ", ".join(f"{d} {w:.2f}" for d, w in zip(domains, r)))
        run_dir = out / f"proxy_{i:03d}"
        _run_with_weights(config, dict(zip(domains, r.tolist())), run_dir, steps, progress)
        losses.append(mean_eval_loss(run_dir / "metrics.jsonl", domains)[1])
    per_domain = np.array(losses)  # (K, D)

    model = MixtureModel(cfg.regressor, mixtures, per_domain)
    candidates = draw_mixtures(rng, centre, cfg.strength, cfg.candidates, cap)
    candidates = np.vstack([candidates, mixtures])
    scores = model.predict(candidates)
    top = candidates[np.argsort(scores)[: cfg.top_k]].mean(axis=0)
    proposal = floor_within_caps(top, cfg.min_weight, cap)  # every weight >= its floor, <= its cap, summing to 1
    predicted = float(model.predict(proposal)[0])

    val_dir = out / "validation"
    _run_with_weights(config, dict(zip(domains, proposal.tolist())), val_dir, steps, progress)
    measured, measured_per = mean_eval_loss(val_dir / "metrics.jsonl", domains)
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

