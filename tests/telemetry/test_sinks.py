"""The sinks' shared parts (the run's name in W&B and MLflow), and the tracker sinks' runs: the
first start records them in RUN/trackers.json, a resume continues them, a fresh start makes new
ones (with stand-in wandb and mlflow modules: tests/telemetry/fake_trackers.py)."""

import json
import logging

from curricle.telemetry.config import TelemetryConfig
from curricle.telemetry.sinks.base import TRACKERS, run_name
from curricle.telemetry.sinks.mlflow import MlflowSink
from curricle.telemetry.sinks.wandb import WandbSink
from tests.telemetry import fake_trackers

CONFIG = TelemetryConfig(tensorboard=False, wandb=True, mlflow=True)


def test_the_run_name_is_the_configured_one_else_the_run_directorys(tmp_path):
    assert run_name(tmp_path / "seed3", TelemetryConfig()) == "seed3"
    assert run_name(tmp_path / "seed3", TelemetryConfig(run_name="odm-seed3")) == "odm-seed3"


def log_steps(sink, steps, attempt):
    for step in steps:
        sink.write(step, {"step": step, "loss": 10 * attempt + step, "phase": "main"})
    sink.close()


def trackers(run):
    return json.loads((run / TRACKERS).read_text())


def test_wandb_resumes_the_run_it_recorded_and_a_fresh_start_makes_a_new_one(tmp_path, monkeypatch):
    wandb, _ = fake_trackers.install(monkeypatch)
    run = tmp_path / "run"
    run.mkdir()
    log_steps(WandbSink(run, 0, CONFIG), range(1, 7), attempt=1)  # killed after step 6; checkpoint at 4
    first = {"project": "curricle", "name": "run", "dir": str(run), "mode": "offline"}
    assert wandb.inits == [first]
    assert trackers(run) == {"wandb": {"id": "wandb-1", "project": "curricle"}}

    log_steps(WandbSink(run, 4, CONFIG), range(5, 9), attempt=2)  # --resume from step 4
    assert wandb.inits[1] == {**first, "id": "wandb-1", "resume": "must"}
    # One run, each step once: 5 and 6 as the killed run logged them, never sent again.
    assert {s: m["loss"] for s, m in wandb.runs["wandb-1"].items()} == {1: 11, 2: 12, 3: 13, 4: 14, 5: 15, 6: 16,
                                                                        7: 27, 8: 28}
    assert [s for _, s in wandb.sent] == [1, 2, 3, 4, 5, 6, 7, 8]
    assert trackers(run) == {"wandb": {"id": "wandb-1", "project": "curricle"}}  # kept as it was

    log_steps(WandbSink(run, 0, CONFIG), range(1, 3), attempt=3)  # a fresh start: a new W&B run
    assert wandb.inits[2] == first
    assert trackers(run) == {"wandb": {"id": "wandb-2", "project": "curricle"}}
    assert wandb.runs["wandb-2"] == {1: {"step": 1, "loss": 31}, 2: {"step": 2, "loss": 32}}


def test_wandb_resumes_in_the_recorded_project_and_says_so_when_the_config_changed(tmp_path, monkeypatch, caplog):
    wandb, _ = fake_trackers.install(monkeypatch)
    log_steps(WandbSink(tmp_path, 0, CONFIG), [1, 2], attempt=1)
    moved = CONFIG.model_copy(update={"project": "elsewhere"})
    with caplog.at_level(logging.WARNING):
        WandbSink(tmp_path, 2, moved).close()
    assert wandb.inits[1]["project"] == "curricle" and wandb.inits[1]["id"] == "wandb-1"
    assert "telemetry.project is now elsewhere, but this run's W&B run wandb-1 is in curricle" in caplog.text


def test_a_resume_whose_first_start_had_no_tracker_starts_and_records_one(tmp_path, monkeypatch):
    wandb, mlflow = fake_trackers.install(monkeypatch)
    WandbSink(tmp_path, 10, CONFIG).close()
    MlflowSink(tmp_path, 10, CONFIG).close()
    assert "id" not in wandb.inits[0] and "run_id" not in mlflow.started[0]
    assert trackers(tmp_path) == {"wandb": {"id": "wandb-1", "project": "curricle"},
                                  "mlflow": {"run_id": "mlflow-1", "experiment": "curricle", "tracking_uri": None}}


def test_mlflow_resumes_the_run_it_recorded_in_its_store_and_a_fresh_start_makes_a_new_one(tmp_path, monkeypatch):
    _, mlflow = fake_trackers.install(monkeypatch)
    run = tmp_path / "run"
    run.mkdir()
    own = (run / "mlruns").resolve().as_uri()
    log_steps(MlflowSink(run, 0, CONFIG), range(1, 7), attempt=1)  # killed after step 6; checkpoint at 4
    # No tracking URI set (MLflow 3's default would be ./mlflow.db): the run's own RUN/mlruns.
    assert mlflow.started == [{"run_name": "run", "uri": own}] and mlflow.experiment == "curricle"
    assert trackers(run) == {"mlflow": {"run_id": "mlflow-1", "experiment": "curricle", "tracking_uri": None}}

    mlflow.uri = None  # a new process
    log_steps(MlflowSink(run, 4, CONFIG), range(5, 9), attempt=2)  # --resume from step 4
    assert mlflow.started[1] == {"run_id": "mlflow-1", "uri": own}
    # Each step once: 5 and 6 as the killed run logged them (MLflow would keep both values).
    assert mlflow.steps(own, "mlflow-1") == [1, 2, 3, 4, 5, 6, 7, 8]
    assert mlflow.values(own, "mlflow-1") == {1: 11, 2: 12, 3: 13, 4: 14, 5: 15, 6: 16, 7: 27, 8: 28}
    assert mlflow.steps(own, "mlflow-1", "step") == [1, 2, 3, 4, 5, 6, 7, 8]
    assert trackers(run) == {"mlflow": {"run_id": "mlflow-1", "experiment": "curricle", "tracking_uri": None}}

    log_steps(MlflowSink(run, 0, CONFIG), [1], attempt=3)  # a fresh start: a new MLflow run
    assert mlflow.started[2] == {"run_name": "run", "uri": own}
    assert trackers(run)["mlflow"]["run_id"] == "mlflow-2" and mlflow.ended == 3


def test_mlflow_resumes_in_the_store_it_started_in_whatever_is_set_now(tmp_path, monkeypatch, caplog):
    _, mlflow = fake_trackers.install(monkeypatch)
    mlflow.uri = "http://tracking:5000"  # MLFLOW_TRACKING_URI
    log_steps(MlflowSink(tmp_path, 0, CONFIG), [1, 2], attempt=1)
    assert mlflow.started == [{"run_name": tmp_path.name, "uri": "http://tracking:5000"}]
    assert trackers(tmp_path)["mlflow"]["tracking_uri"] == "http://tracking:5000"

    mlflow.uri = None  # resumed where the variable is not set
    with caplog.at_level(logging.WARNING):
        log_steps(MlflowSink(tmp_path, 2, CONFIG), [3], attempt=2)
    assert mlflow.started[1] == {"run_id": "mlflow-1", "uri": "http://tracking:5000"}
    assert mlflow.steps("http://tracking:5000", "mlflow-1") == [1, 2, 3]
    assert "the MLflow tracking URI is now unset, but this run's MLflow run mlflow-1 is in http://tracking:5000" \
        in caplog.text


def test_mlflow_takes_the_runs_own_store_over_a_local_one_an_earlier_run_of_the_process_set(tmp_path, monkeypatch):
    _, mlflow = fake_trackers.install(monkeypatch)
    MlflowSink(tmp_path / "a", 0, CONFIG).close()
    MlflowSink(tmp_path / "b", 0, CONFIG).close()
    assert [s["uri"] for s in mlflow.started] == [(tmp_path / p / "mlruns").resolve().as_uri() for p in "ab"]
    assert trackers(tmp_path / "b")["mlflow"]["tracking_uri"] is None
