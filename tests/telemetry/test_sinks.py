"""The sinks' shared parts: the run's name in W&B and MLflow."""

from curricle.telemetry.config import TelemetryConfig
from curricle.telemetry.sinks.base import run_name


def test_the_run_name_is_the_configured_one_else_the_run_directorys(tmp_path):
    assert run_name(tmp_path / "seed3", TelemetryConfig()) == "seed3"
    assert run_name(tmp_path / "seed3", TelemetryConfig(run_name="odm-seed3")) == "odm-seed3"
