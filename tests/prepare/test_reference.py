"""``prepare.reference_model``: each document's mean token loss under a checkpoint, in
``meta.parquet`` as ``reference_loss``, recomputed only for domains that are rewritten."""

import json
import shutil

import numpy as np
import pytest
import torch

from curricle.config import parse_config
from curricle.errors import CurricleError
from curricle.model.build import build_model
from curricle.model.config import ModelConfig
from curricle.prepare import reference as reference_mod
from curricle.prepare.command import prepare_run
from curricle.prepare.reference import CheckpointScorer, resolve_checkpoint
from curricle.store import TokenStore

A_DOCS = [f"alpha document number {i} says hello to the world of tokens." for i in range(12)]
B_DOCS = [f"def f{i}(x):\n    return x * {i} + {i * 7}\n" for i in range(10)]


def write_jsonl(path, texts):
    path.write_text("".join(json.dumps({"text": t, "id": f"{path.stem}-{i}"}) + "\n" for i, t in enumerate(texts)))


def config(root, **prepare):
    return parse_config({
        "data_dir": str(root / "data"),
        "sources": [{"kind": "jsonl", "path": str(root / "a.jsonl"), "domain": "prose"},
                    {"kind": "jsonl", "path": str(root / "b.jsonl"), "domain": "code"}],
        "tokenizer": {"kind": "pretrained", "path": str(root / "tok")},
        "prepare": {"heldout_fraction": 0.2, **prepare},
    })


@pytest.fixture
def corpus(tmp_path):
    """Two JSONL sources, a fixed tokenizer (so a changed source rewrites only its domain) and
    a micro Llama (2 layers, d=32) saved with that tokenizer."""
    write_jsonl(tmp_path / "a.jsonl", A_DOCS)
    write_jsonl(tmp_path / "b.jsonl", B_DOCS)
    first = parse_config({"data_dir": str(tmp_path / "first"), "tokenizer": {"vocab_size": 300},
                          "sources": [{"kind": "jsonl", "path": str(tmp_path / "a.jsonl"), "domain": "prose"},
                                      {"kind": "jsonl", "path": str(tmp_path / "b.jsonl"), "domain": "code"}]})
    prepare_run(first, progress=False)
    store = TokenStore(tmp_path / "first")
    shutil.copytree(store.tokenizer_dir, tmp_path / "tok")
    torch.manual_seed(0)
    model = build_model(ModelConfig(preset="micro", max_position_embeddings=64), store.vocab_size, store.eos_id)
    model.save_pretrained(tmp_path / "model")
    store.load_tokenizer().save_pretrained(tmp_path / "model")
    return tmp_path


def direct_loss(model, eos_id, ids):
    """Mean loss of ``ids`` after an EOS, computed plainly."""
    x = torch.tensor([[eos_id, *ids]])
    with torch.no_grad():
        logits = model(input_ids=x[:, :-1]).logits
    return float(torch.nn.functional.cross_entropy(logits[0], x[0, 1:]))


def test_reference_loss_is_each_documents_mean_token_loss(corpus):
    prepare_run(config(corpus, reference_model=str(corpus / "model"), reference_batch_docs=3), progress=False)
    store = TokenStore(corpus / "data")
    model = build_model(ModelConfig(path=corpus / "model"), store.vocab_size, store.eos_id).eval()
    for domain in ("prose", "code"):
        for split in ("train", "heldout"):
            s = store.split(domain, split)
            got = s.column("reference_loss")
            want = [direct_loss(model, store.eos_id, s.document(i).tolist()) for i in range(s.n_docs)]
            assert s.n_docs > 0 and np.allclose(got, want, rtol=1e-5, atol=1e-6)


def test_long_documents_are_read_in_windows(corpus):
    store_dir = corpus / "first"
    store = TokenStore(store_dir)
    scorer = CheckpointScorer(corpus / "model", store.vocab_size, store.tokenizer_dir, batch_docs=2, max_tokens=4)
    model = scorer.model
    ids = store.split("code").document(0).tolist()
    assert len(ids) > 8
    seq = [store.eos_id, *ids]
    # Windows of 4 predictions: [eos, t0..t3] predicts t0..t3, [t3..t7] predicts t4..t7, ...
    total = 0.0
    for start in range(0, len(seq) - 1, 4):
        piece = seq[start : start + 5]
        total += direct_loss(model, piece[0], piece[1:]) * (len(piece) - 1)
    assert scorer.mean_losses([np.array(ids), np.array(ids[:2])])[0] == pytest.approx(total / len(ids), rel=1e-5)


def test_a_changed_source_recomputes_only_its_domain(corpus, monkeypatch):
    cfg = config(corpus, reference_model=str(corpus / "model"))
    prepare_run(cfg, progress=False)
    before = TokenStore(corpus / "data").split("prose").column("reference_loss")
    scored = []
    real = CheckpointScorer.mean_losses
    monkeypatch.setattr(CheckpointScorer, "mean_losses", lambda self, docs: scored.append(len(docs)) or real(self, docs))
    again = prepare_run(cfg, progress=False)
    assert not again.did_work and scored == []
    write_jsonl(corpus / "b.jsonl", B_DOCS + ["def extra():\n    pass\n"])
    report = prepare_run(cfg, progress=False)
    assert {d.domain: d.up_to_date for d in report.domains} == {"code": False, "prose": True}
    assert sum(scored) == 11  # the code domain's documents, train and held out
    assert TokenStore(corpus / "data").split("prose").column("reference_loss").tolist() == before.tolist()
    # A changed checkpoint is another reference: every domain is rewritten.
    torch.manual_seed(1)
    build_model(ModelConfig(preset="micro", max_position_embeddings=64), 300, 0).save_pretrained(corpus / "model")
    report = prepare_run(cfg, progress=False)
    assert not any(d.up_to_date for d in report.domains)


def test_reference_errors_are_one_line(corpus, tmp_path):
    with pytest.raises(CurricleError, match=r"^prepare.reference_model: no such directory: .*nowhere$"):
        resolve_checkpoint(tmp_path / "nowhere", "prepare.reference_model")
    (tmp_path / "empty").mkdir()
    with pytest.raises(CurricleError, match=r"is neither an HF checkpoint \(no config.json\) nor a curricle run"):
        prepare_run(config(corpus, reference_model=str(tmp_path / "empty")), progress=False)
    small = build_model(ModelConfig(preset="micro", max_position_embeddings=64), 100, 0)
    small.save_pretrained(tmp_path / "small")
    with pytest.raises(CurricleError) as err:
        prepare_run(config(corpus, reference_model=str(tmp_path / "small")), progress=False)
    assert "\n" not in str(err.value) and str(err.value).startswith("prepare.reference_model:")


def test_a_run_directory_means_its_newest_complete_checkpoint(corpus, tmp_path):
    run = tmp_path / "run" / "checkpoints"
    for step in (10, 20):
        shutil.copytree(corpus / "model", run / f"step_{step}")
        (run / f"step_{step}" / "trainer_state.json").write_text(json.dumps({"step": step}))
    assert resolve_checkpoint(tmp_path / "run", "k") == run / "step_20"
    assert reference_mod.reference_fingerprint(tmp_path / "run")[0] == str(run / "step_20")
