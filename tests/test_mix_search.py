import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import yaml
from pydantic import ValidationError

from curricle.controllers.base import apply_floor
from curricle.errors import CurricleError
from curricle.mixture.config import MixtureConfig
from curricle.search import command
from curricle.search.command import mix_search, mixing_law_underdetermined
from curricle.search.config import MixSearchConfig
from curricle.search.mixing_laws import MixtureModel, draw_mixtures, epoch_caps, fit_mixing_law, floor_within_caps


def test_mixing_law_fit_recovers_a_known_law():
    rng = np.random.default_rng(0)
    r = rng.dirichlet(np.ones(3), size=30)
    t = np.array([-2.0, 0.5, 1.0])
    loss = 1.5 + 0.8 * np.exp(r @ t)
    c, k, t_hat = fit_mixing_law(r, loss, grid=200)
    assert c == pytest.approx(1.5, abs=0.05)
    model = MixtureModel("mixing-law", r, np.stack([loss, loss], axis=1))
    assert np.allclose(model.predict(r), loss, atol=0.01)
    # The model prefers more of the domain whose share lowers the loss.
    assert model.predict(np.array([0.8, 0.1, 0.1]))[0] < model.predict(np.array([0.1, 0.1, 0.8]))[0]


def test_mix_search_end_to_end(tmp_path, make_config):
    cfg = make_config(steps=8).model_copy(update={})
    cfg = cfg.model_copy(update={"mix_search": cfg.mix_search.model_copy(update={"candidates": 500, "top_k": 5})})
    summary = mix_search(cfg, 3, tmp_path / "ms", progress=False)
    assert len(summary["proxies"]) == 3
    assert sum(summary["proposal"].values()) == pytest.approx(1.0)
    assert min(summary["proposal"].values()) >= 0.01 - 1e-12
    assert np.isfinite(summary["predicted_mean_eval_loss"]) and np.isfinite(summary["measured_mean_eval_loss"])
    saved = json.loads((tmp_path / "ms" / "mix_search.json").read_text())
    assert saved["proposal"] == summary["proposal"]
    # The proxies used the drawn weights, and a rerun reuses them.
    first = json.loads((tmp_path / "ms" / "proxy_000" / "metrics.jsonl").read_text().splitlines()[0])
    assert {k.split("/")[1]: v for k, v in first.items() if k.startswith("weight/")} == pytest.approx(
        summary["proxies"][0]["weights"])
    assert mix_search(cfg, 3, tmp_path / "ms", progress=False)["proposal"] == summary["proposal"]
    with pytest.raises(CurricleError, match="at least 3 proxy runs"):
        mix_search(cfg, 2, tmp_path / "ms2", progress=False)


def test_draws_span_sparse_to_centred_mixtures():
    centre = np.array([0.5, 0.3, 0.2])
    rng = np.random.default_rng(0)
    weak = draw_mixtures(rng, centre, (0.1, 0.1), 2000)
    strong = draw_mixtures(rng, centre, (100.0, 100.0), 2000)
    both = draw_mixtures(rng, centre, (0.1, 5.0), 2000)
    for r in (weak, strong, both):
        assert r.shape[1] == 3 and np.isfinite(r).all() and (r >= 0).all()
        assert np.allclose(r.sum(axis=1), 1.0)
        assert np.allclose(r.mean(axis=0), centre, atol=0.03)  # a Dirichlet's mean is its centre
    assert weak.max(axis=1).mean() > 0.9  # weak: nearly one domain each
    assert np.abs(strong - centre).max(axis=1).mean() < 0.06  # strong: close to the centre
    assert 0.6 < both.max(axis=1).mean() < 0.9
    # Deterministic given the generator's seed.
    assert np.array_equal(draw_mixtures(np.random.default_rng(5), centre, (0.1, 5.0), 10),
                          draw_mixtures(np.random.default_rng(5), centre, (0.1, 5.0), 10))


def test_strength_must_be_an_increasing_positive_range():
    assert MixSearchConfig(strength=(0.5, 0.5)).strength == (0.5, 0.5)
    for bad in [(5.0, 1.0), (0.0, 1.0)]:
        with pytest.raises(ValidationError, match="0 < low <= high"):
            MixSearchConfig(strength=bad)


def test_epoch_caps_bound_each_domain_by_its_tokens_and_draws_respect_them():
    mixture = MixtureConfig(batch_rows=4, seq_len=7, max_epochs=2.0)
    # 10 steps of 4 rows of 8 tokens (7 inputs + the label of the last) = 320 tokens.
    caps = epoch_caps(mixture, np.array([40.0, 80.0, 400.0]), steps=10)
    assert caps.tolist() == [0.25, 0.5, 1.0]
    drawn = draw_mixtures(np.random.default_rng(0), np.array([0.2, 0.3, 0.5]), (0.1, 5.0), 500, caps)
    assert (drawn <= caps).all() and np.allclose(drawn.sum(axis=1), 1.0)
    assert drawn[:, 0].max() > 0.2  # up to the cap, not kept far below it
    with pytest.raises(CurricleError, match=r"mixture.max_epochs: a run of 10 steps \(320 tokens\)"):
        epoch_caps(mixture, np.array([40.0, 40.0, 40.0]), steps=10)  # caps sum to 0.75: no mixture fits
    with pytest.raises(CurricleError, match="fewer than 1 in 1000 mixtures"):
        # Feasible only near one corner that these draws almost never reach.
        draw_mixtures(np.random.default_rng(0), np.array([0.98, 0.01, 0.01]), (100.0, 100.0), 3,
                      np.array([0.02, 0.99, 0.99]))


def test_lightgbm_regressor_fits_the_mean_and_prefers_the_better_mixture():
    rng = np.random.default_rng(0)
    r = rng.dirichlet(np.ones(3), size=200)
    per_domain = np.stack([2.0 + np.exp(-3.0 * r[:, 0]), 2.0 + 0.1 * r[:, 1], 2.0 + 0.1 * r[:, 2]], axis=1)
    model = MixtureModel("lightgbm", r, per_domain)
    assert model.describe() == {"kind": "lightgbm"}
    pred = model.predict(r)
    assert np.corrcoef(pred, per_domain.mean(axis=1))[0, 1] > 0.95
    assert model.predict(np.array([0.8, 0.1, 0.1]))[0] < model.predict(np.array([0.1, 0.1, 0.8]))[0]


def test_the_floor_keeps_a_domain_within_its_cap():
    top, cap = np.array([0.675, 0.322, 0.003]), np.array([1.0, 1.0, 0.005])
    assert apply_floor(top, 0.01) == pytest.approx([0.990 * 0.675 / 0.997, 0.990 * 0.322 / 0.997, 0.01])  # over 0.005
    w = floor_within_caps(top, 0.01, cap)
    assert w == pytest.approx([0.995 * 0.675 / 0.997, 0.995 * 0.322 / 0.997, 0.005])
    assert w.sum() == pytest.approx(1.0) and (w <= cap).all()
    # uncapped, it is the plain floor; floors summing past 1 are the floors, normalized
    assert floor_within_caps(top, 0.01, np.ones(3)) == pytest.approx(apply_floor(top, 0.01))
    assert floor_within_caps(top, 0.5, cap) == pytest.approx([0.5 / 1.005, 0.5 / 1.005, 0.005 / 1.005])


def test_a_run_is_reused_only_with_its_weights_steps_and_seed(tmp_path, make_config, monkeypatch):
    trained = []

    def fake_train(cfg, run_dir, resume=False, progress=True):  # a checkpoint, config.yaml and an evaluation
        run_dir = Path(run_dir)
        trained.append(run_dir.name)
        (run_dir / "checkpoints" / f"step_{cfg.train.steps}").mkdir(parents=True, exist_ok=True)
        (run_dir / "config.yaml").write_text(yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=False))
        losses = {f"eval/loss/{d}": 3.0 - w for d, w in cfg.mixture.schedule.weights.items()}
        (run_dir / "metrics.jsonl").write_text(json.dumps({"eval/loss": 2.5, **losses}) + "\n")

    monkeypatch.setattr(command, "train_run", fake_train)
    monkeypatch.setattr(command, "latest_complete",
                        lambda root: max(((int(p.name[5:]), p) for p in Path(root).glob("step_*")), default=None))
    cfg = make_config(steps=8)

    def with_search(**update):
        return cfg.model_copy(update={"mix_search": cfg.mix_search.model_copy(
            update={"candidates": 500, "top_k": 5, **update})})

    out = tmp_path / "ms"
    first = mix_search(with_search(), 3, out, progress=False)
    assert trained == ["proxy_000", "proxy_001", "proxy_002", "validation"]
    trained.clear()
    assert mix_search(with_search(), 3, out, progress=False)["proposal"] == first["proposal"]
    assert trained == []
    tail = ("than this search asks for (mix_search or seed changed since); remove it to train it again, "
            "or give another --out")
    with pytest.raises(CurricleError) as err:
        mix_search(with_search(strength=(1.0, 2.0)), 3, out, progress=False)
    assert str(err.value) == f"{out / 'proxy_000'}: trained with other mixture weights {tail}"
    with pytest.raises(CurricleError) as err:
        mix_search(with_search(proxy_steps=4), 3, out, progress=False)
    assert str(err.value) == f"{out / 'proxy_000'}: trained with other steps {tail}"
    with pytest.raises(CurricleError) as err:
        mix_search(with_search().model_copy(update={"seed": cfg.seed + 1}), 3, out, progress=False)
    assert str(err.value) == f"{out / 'proxy_000'}: trained with other mixture weights, seed {tail}"
    # the proxies fit, the proposal (top 10, not 5) does not: the validation run is refused
    with pytest.raises(CurricleError) as err:
        mix_search(with_search(top_k=10), 3, out, progress=False)
    assert str(err.value) == f"{out / 'validation'}: trained with other mixture weights {tail}"
    assert trained == []


def test_fewer_proxies_than_the_law_can_be_checked_with_is_warned_in_one_line():
    assert mixing_law_underdetermined(3, 3) == (
        "--runs: 3 proxy runs for 3 domains: each domain's mixing law has 4 free parameters, so the fit is exact "
        "whatever the data say; 5 or more runs give a fit that can be wrong, and so checked")
