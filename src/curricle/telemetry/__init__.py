"""Run telemetry: exact per-domain loss, and the sinks metrics are written to."""

from curricle.telemetry.sinks import SINKS, MetricsSink, TelemetryConfig, open_sinks
from curricle.telemetry.tracker import DomainLossTracker

__all__ = ["DomainLossTracker", "MetricsSink", "SINKS", "TelemetryConfig", "open_sinks"]
