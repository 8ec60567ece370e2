"""Telemetry: exact per-domain losses (:mod:`~curricle.telemetry.tracker`) and the metric sinks
(:mod:`~curricle.telemetry.sinks`); ``train.telemetry`` is :mod:`~curricle.telemetry.config`."""
