"""In-loop probing: the ProbeHook inside a real (micro) training run."""

import json

from curricle.config import parse_config
from curricle.probes import read_rows
from curricle.probes.config import ProbeHookConfig, SuiteConfig
from curricle.probes.hook import ProbeHook
from curricle.train.command import build_trainer
from tests.probes.conftest import run_config_dict


def test_probe_hook_writes_rows_and_metrics(probe_run, tmp_path):
    _, data_dir = probe_run
    config = parse_config(run_config_dict(data_dir, steps=6))
    hook = ProbeHook(ProbeHookConfig(every=4, suite=SuiteConfig(n=4, tasks=["copy", "agreement"], text_passages=2,
                                                                  text_domains=["prose"])), data_dir)
    trainer = build_trainer(config, tmp_path / "run", hooks=[hook], progress=False)
    trainer.fit()
    rows = read_rows(tmp_path / "run" / "probes.jsonl")
    assert [(r["step"], r["task"]) for r in rows] == [(s, t) for s in (4, 6) for t in ("copy", "agreement")]
    assert all(r["checkpoint"] is None and r["tokens"] == r["step"] * 8 * 32 for r in rows)
    metrics = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    probed = [m for m in metrics if "probe/agreement/acc" in m]
    assert [m["step"] for m in probed] == [4, 6]
    assert "probe/copy/exact_match" in probed[0] and probed[0]["probe/seconds"] > 0
    assert trainer.model.training  # put back in training mode after probing


def test_resumed_run_drops_probe_rows_after_its_checkpoint(probe_run, tmp_path):
    import shutil

    _, data_dir = probe_run
    config = parse_config(run_config_dict(data_dir, steps=6))  # checkpoints at 4 and 6

    def hook():
        return ProbeHook(ProbeHookConfig(every=2, suite=SuiteConfig(n=3, tasks=["agreement"])), data_dir)

    build_trainer(config, tmp_path / "run", hooks=[hook()], progress=False).fit()
    first = read_rows(tmp_path / "run" / "probes.jsonl")
    shutil.rmtree(tmp_path / "run" / "checkpoints" / "step_6")  # as if killed before the last save
    build_trainer(config, tmp_path / "run", resume=True, hooks=[hook()], progress=False).fit()
    rows = read_rows(tmp_path / "run" / "probes.jsonl")
    assert [r["step"] for r in first] == [r["step"] for r in rows] == [2, 4, 6]
    assert [r["metrics"] for r in rows[:2]] == [r["metrics"] for r in first[:2]]
