"""A run resumed on another snapshot of its data: one ``snapshot-changed`` event with the
changed domain's document counts, and the unchanged domains' streams carry on exactly."""

from __future__ import annotations

import json

from curricle.config import parse_config
from curricle.mixture.sampler import MixtureSampler
from curricle.store import TokenStore
from curricle.store.snapshot import unit_digest
from curricle.train.command import train_run
from tests.train.conftest import run_config_dict


def events(run) -> list[dict]:
    path = run / "events.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_a_run_resumed_on_a_store_whose_domain_gained_documents_logs_it_and_continues(tmp_path, make_config):
    config = make_config()
    old = TokenStore(config.data_dir)
    spec = run_config_dict(tmp_path / "data2")
    spec["sources"][2]["n_docs"] = 50  # agreement gains ten documents
    moved = parse_config(spec)
    run = tmp_path / "run"
    train_run(config, run, max_steps=20, progress=False)
    assert not [e for e in events(run) if e["event"] == "snapshot-changed"]

    result = train_run(moved, run, max_steps=30, resume=True, progress=False)
    new = TokenStore(moved.data_dir)
    assert new.snapshot_id != old.snapshot_id
    for d in ("arithmetic", "copy"):  # the same documents, so the same streams
        assert unit_digest(new.snapshot, f"{d}/train") == unit_digest(old.snapshot, f"{d}/train")
    changed = [e for e in events(run) if e["event"] == "snapshot-changed"]
    meta = changed[0].pop("metadata")["agreement"]  # how the new documents' metadata moved
    assert set(meta) >= {"n_tokens", "compression_ratio", "mean_token_rarity"}
    assert meta["n_tokens"]["old"] == round(float(old.split("agreement").column("n_tokens").mean()), 6)
    assert meta["n_tokens"]["new"] == round(float(new.split("agreement").column("n_tokens").mean()), 6)
    assert changed == [{"step": 20, "event": "snapshot-changed", "old": old.snapshot_id, "new": new.snapshot_id,
                        "domains_changed": ["agreement"],
                        "docs": {"agreement": {"old": old.split("agreement").n_docs,
                                               "new": new.split("agreement").n_docs}}}]
    assert new.split("agreement").n_docs > old.split("agreement").n_docs
    assert json.loads((run / "run.json").read_text())["data"]["snapshot"] == new.snapshot_id

    # The unchanged domains stand where an uninterrupted run on the old store would after 30 steps.
    trainer = result["trainer"]
    assert trainer.step == 30
    uninterrupted = MixtureSampler(old, config.mixture, seed=config.seed)
    for _ in range(30):
        uninterrupted.next_batch()
    resumed = trainer.sampler.state_dict()
    expected = uninterrupted.state_dict()
    for d in ("arithmetic", "copy"):
        i = trainer.domains.index(d)
        assert resumed["positions"][i] == expected["positions"][i]
    assert resumed["served_tokens"] == expected["served_tokens"]
    agreement = trainer.domains.index("agreement")
    # agreement restarted at the resume: its position counts only what it served since step 20.
    since = resumed["served_tokens"][agreement] - json.loads(
        (run / "checkpoints" / "step_20" / "trainer_state.json").read_text())["sampler"]["served_tokens"][agreement]
    assert resumed["positions"][agreement] == since
    assert resumed["snapshot"]["id"] == new.snapshot_id and list(resumed["reseeded"]) == ["agreement"]


def test_a_drift_aware_run_reads_the_new_data_s_metadata_shift_at_the_resume(tmp_path):
    spec = run_config_dict(tmp_path / "data")
    spec["controller"] = {"kind": "drift-aware", "inner": {"kind": "schedule"}, "shift_alarm": 1e-9, "hold_steps": 3,
                          "warmup_steps": 0}
    moved = run_config_dict(tmp_path / "data2")
    moved["controller"] = spec["controller"]
    moved["sources"][2]["n_docs"] = 50
    run = tmp_path / "run"
    train_run(parse_config(spec), run, max_steps=10, progress=False)
    train_run(parse_config(moved), run, max_steps=14, progress=False, resume=True)
    lines = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    shifts = [(x["step"], {k: v for k, v in x.items() if k.startswith("drift/shift/")}) for x in lines]
    assert [(step, sorted(v)) for step, v in shifts if v] == [(11, ["drift/shift/agreement"])]
    log = [json.loads(x) for x in (run / "mixture_log.jsonl").read_text().splitlines()]
    starts = [x for x in log if "new data" in str(x.get("reason", ""))]
    assert len(starts) == 1 and "'agreement' (new data: a metadata mean moved" in starts[0]["reason"]
