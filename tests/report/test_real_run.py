"""The report of a run the trainer wrote: an adaptive controller, a rolled-back spike and
in-loop probes, so every panel reads the files as the trainer writes them."""

import json
import shutil

import pytest

from curricle.config import parse_config
from curricle.report import PANELS, write_report
from curricle.train.command import train_run
from curricle.train.hooks import Hook
from tests.report.conftest import embedded, figures
from tests.report.test_page import panels
from tests.train.conftest import run_config_dict
from tests.train.kill import KillAt, Killed


@pytest.mark.slow
def test_report_of_a_trained_run(tmp_path, prepared_dir):
    data = run_config_dict(prepared_dir, steps=30, guard={"inject": {22: "spike", 23: "spike", 24: "spike"}},
                           probe={"every": 5, "suite": {"tasks": ["copy", "arithmetic"], "n": 4,
                                                        "text_domains": []}})
    data["controller"] = {"kind": "odm", "update_every": 3, "warmup_steps": 12, "max_change": 0.2}
    run_dir = tmp_path / "run"
    train_run(parse_config(data), run_dir, progress=False)

    text = write_report(run_dir).read_text()
    # No curation block and no hard examples in this config: every panel but those two.
    assert panels(text) == [p for p in PANELS if p not in ("funnel", "hard_examples")]
    run = embedded(text)
    metrics = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    audit = [json.loads(line) for line in (run_dir / "mixture_log.jsonl").read_text().splitlines()]
    assert run["progress"]["finished"] and run["progress"]["step"] == 30
    assert run["series"]["step"] == [m["step"] for m in metrics]
    assert run["series"]["weights"]["copy"] == [m["weight/copy"] for m in metrics]
    assert [a["step"] for a in run["audit"]] == [a["step"] for a in audit] and len(audit) >= 1
    assert [(e["step"], e["event"]) for e in run["events"]] == [(22, "skip"), (23, "skip"), (24, "skip"),
                                                                (24, "rollback")]
    assert run["eval"]["step"] == [10, 20, 30]
    assert sorted(run["skills"]["skills"]) == ["arithmetic", "copy"]
    table = {r["step"]: r for r in run["checkpoints"]}
    assert sorted(table) == [5, 10, 15, 20, 25, 30] and table[30]["on_disk"]
    assert set(table[30]["probes"]) == {"copy", "arithmetic"}
    assert table[30]["eval_loss"]["copy"] == metrics[-1]["eval/loss/copy"]
    # Every audit entry has a marker on the weights plot, at the tokens of its step.
    tokens = {m["step"]: m["tokens"] for m in metrics}
    mix = next(f for k, f in figures(text).items() if k.startswith("fig-mixture"))
    marker = next(t for t in mix["data"] if t["name"].startswith("controller changes"))
    assert marker["x"] == [tokens[a["step"]] for a in audit]


class StopAt(Hook):
    """Ends the run after ``step``, as a controller whose targets are met does."""

    def __init__(self, step):
        self.step = step

    def on_step_end(self, state, batch, metrics):
        if state.step == self.step:
            state.stop(state.step, "targets met")


def test_a_run_stopped_early_is_finished_at_its_stop(tmp_path, make_config):
    run_dir = tmp_path / "run"
    train_run(make_config(steps=20), run_dir, progress=False, hooks=[StopAt(7)])
    run = embedded(write_report(run_dir).read_text())
    p = run["progress"]
    assert (p["step"], p["steps"], p["finished"], p["stopped"]) == (7, 7, True, {"step": 7, "reason": "targets met"})
    assert run["phases"][-1]["end_step"] == 7


def test_a_run_with_max_steps_is_finished_at_its_own_length_a_resumed_one_at_the_length_it_kept(
        tmp_path, make_config):
    short = tmp_path / "short"
    train_run(make_config(steps=20), short, max_steps=6, progress=False)  # config.yaml says 20
    p = embedded(write_report(short).read_text())["progress"]
    assert (p["step"], p["steps"], p["finished"], p["stopped"]) == (6, 6, True, None)
    # Lengthened on resume (--max-steps 10), killed at step 8: the run-length event says 10, the
    # newest checkpoint (step 6) still 6.
    with pytest.raises(Killed):
        train_run(make_config(steps=20), short, max_steps=10, resume=True, progress=False, hooks=[KillAt(8)])
    p = embedded(write_report(short).read_text())["progress"]
    assert (p["step"], p["steps"], p["finished"], p["latest_checkpoint"]) == (7, 10, False, 6)

    kept = tmp_path / "kept"
    train_run(make_config(steps=20), kept, progress=False)
    shutil.rmtree(kept / "checkpoints" / "step_20")  # killed after its step-10 checkpoint
    train_run(make_config(steps=30), kept, resume=True, progress=False)  # keeps its 20 steps; config.yaml says 30
    p = embedded(write_report(kept).read_text())["progress"]
    assert (p["step"], p["steps"], p["finished"]) == (20, 20, True)
