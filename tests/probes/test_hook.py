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
    shutil.rmtree(tmp_path / "run" / "checkpoints" / "step_6")  # as if killed before the last save,
    with open(tmp_path / "run" / "probes.jsonl", "a") as f:  # while appending a row
        f.write('{"schema": "curricle.probe/1", "st')
    build_trainer(config, tmp_path / "run", resume=True, hooks=[hook()], progress=False).fit()
    rows = read_rows(tmp_path / "run" / "probes.jsonl")
    assert [r["step"] for r in first] == [r["step"] for r in rows] == [2, 4, 6]
    assert [r["metrics"] for r in rows[:2]] == [r["metrics"] for r in first[:2]]


def test_probe_scores_reach_later_hooks_the_same_step_and_their_tokens_count(probe_run, tmp_path):
    from curricle.controllers.base import ProbeSignal
    from curricle.train.hooks import Hook

    _, data_dir = probe_run
    config = parse_config(run_config_dict(data_dir, steps=6))
    seen = {}

    class Reader(Hook):
        def on_step_end(self, state, batch, metrics):
            if state.probes_step == state.step:
                seen[state.step] = (dict(state.probes), state.eval_tokens)

    probe = ProbeHook(ProbeHookConfig(every=4, suite=SuiteConfig(n=4, tasks=["copy", "agreement"])), data_dir)
    trainer = build_trainer(config, tmp_path / "run", hooks=[probe, Reader()], progress=False)
    trainer.fit()
    assert sorted(seen) == [4, 6]
    rows = read_rows(tmp_path / "run" / "probes.jsonl")
    for step, (signals, _) in seen.items():
        assert sorted(signals) == ["agreement", "copy"]
        for row in (r for r in rows if r["step"] == step):
            s = signals[row["task"]]
            assert isinstance(s, ProbeSignal) and s.step == step and s.n == row["n"]
            assert (s.metric, s.score, s.stderr) == (row["discrete"], row["metrics"][row["discrete"]],
                                                     row["metrics"][row["discrete"] + "_se"])
            assert s.chance == row["chance"][row["discrete"]]
    metrics = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    spent = 0
    for m in metrics:  # evaluation (every 5 steps and the last) and probing (4 and 6) both count
        spent += int(m.get("eval/tokens", 0)) + m.get("probe/tokens", 0)
        assert m["eval_tokens"] == spent
    assert [m["step"] for m in metrics if "probe/tokens" in m] == [4, 6]
    assert all(m["probe/tokens"] > 0 for m in metrics if "probe/tokens" in m)
    # every held-out label of every domain's rows (a row of L + 1 tokens has L labels)
    assert metrics[-1]["eval/tokens"] == sum(r.shape[0] * (r.shape[1] - 1) for r in trainer.eval_rows.values())


def test_a_run_a_later_hook_stops_is_probed_at_its_last_step(probe_run, tmp_path):
    """The probes run before the controller, so a hook after them that ends the run (a
    controller's targets met, a plateau) does so after this step's probe point: the run is
    probed at its last step all the same (step 3 here, between probes every 4), before the
    step's line is written; a stop at a probed step (4) probes once."""
    from curricle.train.hooks import Hook

    _, data_dir = probe_run
    config = parse_config(run_config_dict(data_dir, steps=8))

    class StopAt(Hook):
        def __init__(self, step):
            self.step = step

        def on_step_end(self, state, batch, metrics):
            if state.step == self.step:
                state.stop(state.step, "test")

    for stop, probed in ((3, [3]), (4, [4])):
        run = tmp_path / f"run{stop}"
        probe = ProbeHook(ProbeHookConfig(every=4, suite=SuiteConfig(n=3, tasks=["agreement"])), data_dir)
        trainer = build_trainer(config, run, hooks=[probe, StopAt(stop)], progress=False)
        trainer.fit()
        assert trainer.step == stop and probe.lm is not None
        assert [r["step"] for r in read_rows(run / "probes.jsonl")] == probed
        metrics = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
        assert [m["step"] for m in metrics if "probe/agreement/acc" in m] == probed
