"""``curricle mine`` on a literal checkpoint over a prepared store (a planted hard dialect), on
k-means clusters of a checkpoint's hidden states, on a run the trainer wrote, and its errors."""

import json
import shutil

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml
from safetensors.numpy import save_file as save_arrays
from typer.testing import CliRunner

from curricle.cli import app
from curricle.errors import CurricleError
from curricle.mine.command import mine_run
from curricle.mine.config import MineConfig
from curricle.model.build import build_model
from curricle.model.config import ModelConfig
from curricle.store import TokenStore
from curricle.train.checkpoint import seal
from curricle.train.command import train_run
from curricle.train.parts import ARRAYS_FILE
from tests.controllers.test_in_training import _ctrl

NAN = np.nan


@pytest.fixture
def store_dir(tmp_path, prepared_dir):
    """The shared prepared store, copied, with a ``dialect`` column on copy's documents:
    every fifth is ``b``."""
    data = tmp_path / "data"
    shutil.copytree(prepared_dir, data)
    split = TokenStore(data).split("copy")
    table = split.meta()
    dialect = ["b" if i % 5 == 0 else "a" for i in range(split.n_docs)]
    pq.write_table(table.append_column("dialect", pa.array(dialect)), split.path / "meta.parquet")
    return data


def write_state(run, data_dir, arrays, step=30, controller="hard-examples", model=None):
    """A run directory whose one checkpoint holds ``arrays`` as the controller's state, sealed
    as the checkpointer seals it."""
    run.mkdir(parents=True)
    (run / "config.yaml").write_text(yaml.safe_dump({"name": "r", "data_dir": str(data_dir),
                                                     "controller": {"kind": controller}}))
    ck = run / "checkpoints" / f"step_{step}"
    ck.mkdir(parents=True)
    save_arrays({f"controller/{k}": np.ascontiguousarray(v) for k, v in arrays.items()}, str(ck / ARRAYS_FILE))
    if model is not None:
        model.save_pretrained(str(ck))
    seal(ck, {"step": step, "controller": {"name": controller}})
    return run


def planted_arrays(store):
    """copy: dialect b (every fifth document) has loss about 4, stays flat and is 80% wrong;
    the rest about 2, falling, 30% wrong. arithmetic: the first half seen, loss only."""
    n = store.split("copy").n_docs
    b = np.arange(n) % 5 == 0
    wobble = np.where(np.arange(n) % 2 == 0, 0.05, -0.05) * (1 + np.arange(n) / n)
    loss = np.where(b, 4.0, 2.0) + wobble
    hist = np.stack([np.where(b, loss, loss + 1.0), np.where(b, loss, loss + 0.5), loss], axis=1)
    m = store.split("arithmetic").n_docs
    a_loss = np.where(np.arange(m) < m // 2, 1.0 + np.arange(m) / m, NAN)
    return {"last/copy": loss, "hist/copy": hist, "acc/copy": np.where(b, 0.2, 0.7),
            "margin/copy": np.where(b, -0.5, 1.5), "served/copy": np.full(n, 3, np.int32),
            "seen/copy": np.full(n, 28, np.int64),
            "last/arithmetic": a_loss, "served/arithmetic": np.isfinite(a_loss).astype(np.int32),
            "seen/arithmetic": np.where(np.isfinite(a_loss), 20, 0).astype(np.int64)}


def test_mine_finds_the_planted_dialect_and_writes_every_file(tmp_path, store_dir):
    store = TokenStore(store_dir)
    arrays = planted_arrays(store)
    run = write_state(tmp_path / "run", store_dir, arrays)
    result = mine_run(run, MineConfig(top=3, by=["dialect"]))
    out = run / "mine"
    assert result["out"] == str(out) and sorted(p.name for p in out.iterdir()) == [
        "hardest.jsonl", "regions.json", "regions.md"]
    regions = json.loads((out / "regions.json").read_text())
    assert regions["step"] == 30 and regions["data_dir"] == str(store_dir) and list(regions["domains"]) == [
        "arithmetic", "copy"]

    copy = regions["domains"]["copy"]
    n = store.split("copy").n_docs
    n_b = len(range(0, n, 5))
    assert copy["ranked_by"] == "error_rate" and copy["seen"] == n and copy["unseen"] == 0
    top = copy["regions"][0]
    assert (top["column"], top["value"], top["count"]) == ("dialect", "b", n_b)
    assert top["error_rate"]["mean"] == pytest.approx(0.8) and top["separated"]
    assert top["error_rate"]["ci95"][0] > top["rest"]["error_rate"]["ci95"][1]
    assert top["loss"]["mean"] == pytest.approx(float(arrays["last/copy"][::5].mean()))
    assert "minhash:minhash" in copy["groupings"] and "meta:source" not in copy["groupings"]  # one source

    # The hardest tenth of copy are all dialect b documents, whose loss is flat: stuck.
    split = copy["hard_split"]
    assert split["hard"] == int(np.ceil(0.1 * n)) and split["stuck"]["count"] == split["hard"]
    assert split["learning"]["count"] == 0 and len(split["stuck"]["examples"]) == min(5, split["hard"])
    assert all(e["meta"]["dialect"] == "b" and e["trend_class"] == "stuck" for e in split["stuck"]["examples"])

    # hardest.jsonl: 3 a domain, hardest first, with every signal and the decoded text.
    rows = [json.loads(line) for line in (out / "hardest.jsonl").read_text().splitlines()]
    assert [(r["domain"], r["rank"]) for r in rows] == [("arithmetic", 1), ("arithmetic", 2), ("arithmetic", 3),
                                                        ("copy", 1), ("copy", 2), ("copy", 3)]
    loss = arrays["last/copy"]
    hardest = np.argsort(-loss, kind="stable")[:3].tolist()
    c = [r for r in rows if r["domain"] == "copy"]
    assert [r["index"] for r in c] == hardest and [r["loss"] for r in c] == loss[hardest].tolist()
    tokenizer = store.load_tokenizer()
    meta = store.split("copy").meta().to_pylist()
    for r in c:
        assert r["doc_id"] == meta[r["index"]]["doc_id"] and r["source"] == "synthetic copy"
        full = tokenizer.decode(store.split("copy").document(r["index"]).tolist())
        assert r["truncated"] == (len(full) > 1000) and r["text"] == (full[:1000] + "…" if r["truncated"] else full)
        assert r["trend"] == pytest.approx(0.0) and r["accuracy"] == 0.2 and r["margin"] == -0.5
        assert r["loss_ema"] is None and r["meta"]["dialect"] == "b" and r["served"] == 3
    # arithmetic keeps losses only: ranked by mean loss, unseen documents counted.
    ar = regions["domains"]["arithmetic"]
    m = store.split("arithmetic").n_docs
    assert ar["ranked_by"] == "loss" and ar["seen"] == m // 2 and ar["unseen"] == m - m // 2
    assert ar["hard_split"]["unknown"]["count"] == ar["hard_split"]["hard"]  # no visit history: no trend
    md = (out / "regions.md").read_text()
    assert "## copy" in md and f"| dialect = b | {n_b} | 0.800 [" in md


def test_kmeans_clusters_from_a_checkpoints_hidden_states(tmp_path, store_dir):
    store = TokenStore(store_dir)
    model = build_model(ModelConfig(preset="micro", max_position_embeddings=64), store.vocab_size, store.eos_id)
    run = write_state(tmp_path / "run", store_dir, planted_arrays(store), model=model)
    cfg = MineConfig(clusters=3, embed_tokens=32, minhash=False, min_count=1)
    first = mine_run(run, cfg, out=tmp_path / "a")
    copy = first["domains"]["copy"]
    assert copy["groupings"][-1] == "kmeans:kmeans" and "minhash:minhash" not in copy["groupings"]
    km = [r for r in copy["regions"] if r["kind"] == "kmeans"]
    assert 2 <= len(km) <= 3 and sum(r["count"] for r in km) == copy["seen"]
    assert first["embedding_model"] == str(run / "checkpoints" / "step_30")
    again = mine_run(run, cfg, out=tmp_path / "b")  # seeded: the same clusters
    assert [(r["value"], r["count"]) for r in again["domains"]["copy"]["regions"] if r["kind"] == "kmeans"] == \
        [(r["value"], r["count"]) for r in km]


def test_mine_a_run_the_trainer_wrote_from_the_cli(tmp_path, make_config):
    ctrl = _ctrl({"kind": "hard-examples", "domains": ["copy"], "update_every": 5, "warmup_steps": 5})
    cfg = make_config(steps=10).model_copy(update={"controller": ctrl})
    train_run(cfg, tmp_path / "run", progress=False)
    r = CliRunner().invoke(app, ["mine", str(tmp_path / "run"), "--top", "2", "--out", str(tmp_path / "m")])
    assert r.exit_code == 0, r.output
    assert "hard documents:" in r.output and "regions.json" in r.output
    regions = json.loads((tmp_path / "m" / "regions.json").read_text())
    rows = (tmp_path / "m" / "hardest.jsonl").read_text().splitlines()
    assert regions["step"] == 10 and list(regions["domains"]) == ["copy"] and len(rows) == 2
    assert 0 < regions["domains"]["copy"]["seen"] <= TokenStore(cfg.data_dir).split("copy").n_docs


def test_mine_errors_are_one_line(tmp_path, store_dir):
    store = TokenStore(store_dir)
    run = write_state(tmp_path / "odm", store_dir, {}, controller="odm")
    with pytest.raises(CurricleError, match="its controller is odm, not one that keeps document state"):
        mine_run(run)
    bare = tmp_path / "bare"
    bare.mkdir()
    (bare / "config.yaml").write_text("controller: {kind: hard-examples}\n")
    with pytest.raises(CurricleError, match="no complete checkpoint under"):
        mine_run(bare)
    run = write_state(tmp_path / "run", store_dir, planted_arrays(store))
    with pytest.raises(CurricleError, match="by: no metadata column quality in the mined domains"):
        mine_run(run, MineConfig(by=["quality"]))
    with pytest.raises(CurricleError, match="no token store"):
        mine_run(run, data_dir=tmp_path / "nowhere")
    short = write_state(tmp_path / "short", store_dir, {"last/copy": np.ones(3), "served/copy": np.ones(3, np.int32),
                                                               "seen/copy": np.ones(3, np.int64)})
    with pytest.raises(CurricleError, match="the run's state has 3 documents, the store's train split"):
        mine_run(short)
    r = CliRunner().invoke(app, ["mine", str(run), "--model", str(run)])
    assert r.exit_code == 2 and r.output.count("\n") == 1
    assert "model is set but clusters is not" in r.output
