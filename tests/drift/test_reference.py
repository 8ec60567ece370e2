"""The reference section: per-document losses as a plain forward pass gives them, scored once per
domain, only with ``ref_model``, and ``curricle drift --ref-model`` end to end."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from curricle.cli import app
from curricle.drift.compare import compare
from curricle.drift.config import DriftConfig, parse_drift_config
from curricle.drift.corpus import load_store
from curricle.drift.sections.reference import ReferenceSection
from curricle.errors import CurricleError
from curricle.model.build import build_model
from curricle.model.config import ModelConfig
from curricle.prepare.reference import CheckpointScorer
from tests.conftest import write_store
from tests.drift.documents import literal_corpus, random_docs
from tests.drift.test_compare import zipf_docs


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    """Two stores (NEW's prose from another vocabulary) and a micro Llama (2 layers, d=32)."""
    rng = np.random.default_rng(0)
    root = tmp_path_factory.mktemp("reference")
    old = {"code": zipf_docs(rng, 30, 200, length=(5, 20)), "prose": zipf_docs(rng, 30, 300, offset=200, length=(5, 20))}
    new = {"code": zipf_docs(rng, 30, 200, length=(5, 20)), "prose": zipf_docs(rng, 30, 300, offset=600, length=(5, 20))}
    torch.manual_seed(0)
    model = build_model(ModelConfig(preset="micro", max_position_embeddings=64), 1000, 0)
    model.save_pretrained(root / "model")
    return {"old": write_store(root / "old", old), "new": write_store(root / "new", new), "model": root / "model"}


def direct_loss(model, eos_id, ids):
    """Mean loss of ``ids`` after an EOS, computed plainly."""
    x = torch.tensor([[eos_id, *ids]])
    with torch.no_grad():
        logits = model(input_ids=x[:, :-1]).logits
    return float(torch.nn.functional.cross_entropy(logits[0], x[0, 1:]))


def test_losses_are_each_sampled_documents_mean_token_loss_scored_once(setup, monkeypatch):
    config = DriftConfig(ref_model=setup["model"], ref_max_docs=12)
    old, new = load_store(setup["old"]), load_store(setup["new"])
    section = ReferenceSection(config)
    scored = []
    real = CheckpointScorer.mean_losses
    monkeypatch.setattr(CheckpointScorer, "mean_losses", lambda self, docs: scored.append(len(docs)) or real(self, docs))
    measures = section.measure(old, new, detail=True)
    model = section.scorer(old).model
    eos = section.scorer(old).eos_id
    for side in (old, new):
        docs = side.domains["prose"]
        rows, losses = section.losses(side, docs)
        assert len(rows) == 12 and list(rows) == sorted(set(rows.tolist()))  # a sample of 12 of the 30
        want = [direct_loss(model, eos, d.tolist()) for d in docs.documents(rows)]
        assert np.allclose(losses, want, rtol=1e-5, atol=1e-6)
    got = {(m.domain, m.statistic): m for m in measures}
    assert set(got) == {(d, s) for d in ("code", "prose") for s in ("mean_loss", "wasserstein/ref_loss")}
    prose = got[("prose", "mean_loss")]
    (_, lo), (rows_n, ln) = section.losses(old, old.domains["prose"]), section.losses(new, new.domains["prose"])
    assert prose.value == pytest.approx(abs(ln.mean() - lo.mean()))
    assert (prose.n_old, prose.n_new) == (12, 12)
    assert prose.detail["new_mean"] == pytest.approx(ln.mean(), abs=1e-6)
    hardest = prose.detail["harder"]
    assert [h["loss"] for h in hardest] == pytest.approx(sorted(ln, reverse=True)[:5], abs=1e-6)
    assert hardest[0]["doc_id"] == f"prose-{rows_n[np.argmax(ln)]}"
    # the halves of OLD read the cached losses: nothing is scored again
    a, b = old.halves(np.random.default_rng(0))
    section.measure(a, b, detail=False)
    assert scored == [12, 12, 12, 12]


def test_reference_runs_only_with_ref_model(setup):
    assert not {"reference", "pass_rate"} & set(DriftConfig().section_names())
    assert DriftConfig(ref_model=setup["model"], sections=["mixture"]).section_names() == ["mixture", "reference",
                                                                                           "pass_rate"]
    with pytest.raises(CurricleError, match="sections: 'reference' needs ref_model"):
        parse_drift_config({"sections": ["reference"]}, "drift.yaml")
    result = compare(load_store(setup["old"]), load_store(setup["new"]), DriftConfig(null_splits=3))
    assert not [c for c in result["checks"] if c["section"] == "reference"]


def test_the_verb_takes_ref_model(setup, tmp_path):
    out = tmp_path / "out"
    config = tmp_path / "drift.yaml"
    config.write_text("drift:\n  sections: [mixture]\n  null_splits: 5\n  ref_max_docs: 10\n")
    res = CliRunner().invoke(app, ["drift", str(setup["old"]), str(setup["new"]), "--out", str(out),
                                   "--config", str(config), "--ref-model", str(setup["model"])])
    assert res.exit_code == 0, res.output
    result = json.loads((out / "drift.json").read_text())
    assert result["settings"]["ref_model"] == str(setup["model"])
    checks = {(c["section"], c["domain"], c["statistic"]): c for c in result["checks"]}
    assert {k for k in checks if k[0] == "reference"} == {
        ("reference", d, s) for d in ("code", "prose") for s in ("mean_loss", "wasserstein/ref_loss")}
    assert checks[("reference", "prose", "mean_loss")]["null_n"] == 5
    res = CliRunner().invoke(app, ["drift", str(setup["old"]), str(setup["new"]), "--out", str(out),
                                   "--config", str(config), "--ref-model", str(tmp_path / "nowhere")])
    assert res.exit_code == 2 and "--ref-model: no such directory" in res.output


class MeanTokenScorer:
    """A stand-in for the checkpoint: a document's "loss" is its mean token id / 100."""

    def mean_losses(self, docs):
        return np.array([float(np.mean(d)) / 100 for d in docs])


def test_a_shuffled_corpus_scores_the_same_documents_and_does_not_drift(monkeypatch, tmp_path):
    monkeypatch.setattr(ReferenceSection, "scorer", lambda self, corpus: MeanTokenScorer())
    docs = random_docs(np.random.default_rng(4), 400, 50)
    perm = np.random.default_rng(5).permutation(400)
    old, new = literal_corpus({"web": docs}), literal_corpus({"web": [docs[i] for i in perm]}, "n")
    config = DriftConfig(ref_model=tmp_path, ref_max_docs=50, sections=["mixture"], null_splits=5)
    section = ReferenceSection(config)
    (rows_o, loss_o), (rows_n, loss_n) = (section.losses(old, old.domains["web"]),
                                          section.losses(new, new.domains["web"]))
    assert len(rows_o) == 50 and sorted(perm[rows_n].tolist()) == rows_o.tolist()  # the same 50 documents
    assert sorted(loss_n) == sorted(loss_o)
    checks = {c["statistic"]: c for c in compare(old, new, config)["checks"] if c["section"] == "reference"}
    assert {k: c["verdict"] for k, c in checks.items()} == {"mean_loss": "OK", "wasserstein/ref_loss": "OK"}
    assert checks["mean_loss"]["value"] == pytest.approx(0.0, abs=1e-12)
    assert checks["wasserstein/ref_loss"]["value"] == 0.0
