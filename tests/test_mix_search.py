import json

import numpy as np
import pytest

from curricle.errors import CurricleError
from curricle.mix_search import MixtureModel, fit_mixing_law, mix_search


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
