import numpy as np
import pytest
from pydantic import ValidationError

from curricle.config import parse_model
from curricle.errors import CurricleError
from curricle.mixture.config import (MixtureConfig, PacingConfig, PhasesConfig, SeqLenSchedule, StaticConfig,
                                     TemperatureConfig)
from curricle.mixture.pacing import DomainPacing
from curricle.mixture.schedules import build_schedule

DOMAINS = ["a", "b", "c"]
SIZES = {"a": 100, "b": 400, "c": 900}


def test_static_and_temperature_weights():
    s = build_schedule(StaticConfig(weights={"a": 1, "b": 3}), DOMAINS, SIZES)
    assert s.weights(0).tolist() == [0.25, 0.75, 0.0]
    natural = build_schedule(TemperatureConfig(temperature=1), DOMAINS, SIZES)
    assert np.allclose(natural.weights(7), np.array([100, 400, 900]) / 1400)
    flat = build_schedule(TemperatureConfig(temperature=2), DOMAINS, SIZES)
    assert np.allclose(flat.weights(0), np.array([10, 20, 30]) / 60)  # sqrt of sizes
    assert np.allclose(build_schedule(StaticConfig(temperature=1), DOMAINS, SIZES).weights(0),
                       np.array([100, 400, 900]) / 1400)


def phased():
    return build_schedule(PhasesConfig(phases=[
        {"name": "warmup", "steps": 100, "weights": {"a": 1}},
        {"name": "ramp", "steps": 200, "ramp": 100, "weights": {"a": 1, "b": 1, "c": 2}},
        {"name": "consolidation", "weights": {"c": 1}},
    ]), DOMAINS, SIZES)


def test_phase_values_at_boundaries():
    s = phased()
    assert s.phases() == [(0, "warmup"), (100, "ramp"), (300, "consolidation")]
    assert s.weights(0).tolist() == [1, 0, 0]
    assert s.weights(99).tolist() == [1, 0, 0]
    assert s.weights(100).tolist() == [1, 0, 0]          # a ramp starts at the previous weights
    assert np.allclose(s.weights(150), [0.625, 0.125, 0.25])  # halfway
    assert s.weights(200).tolist() == [0.25, 0.25, 0.5]  # and reaches its own at start + ramp
    assert s.weights(299).tolist() == [0.25, 0.25, 0.5]
    assert s.weights(300).tolist() == [0, 0, 1]          # no ramp: switches at the boundary
    assert s.weights(10**6).tolist() == [0, 0, 1]
    assert [s.phase_at(t) for t in (0, 99, 100, 299, 300)] == ["warmup", "warmup", "ramp", "ramp", "consolidation"]


@pytest.mark.parametrize("bad, match", [
    ({"weights": {"a": -1}}, "must be finite and >= 0"),
    ({"weights": {"a": 0, "b": 0}}, "all weights are zero"),
    ({"weights": {"a": 1}, "temperature": 2}, "exactly one of"),
    ({}, "exactly one of"),
])
def test_bad_weights_are_rejected(bad, match):
    with pytest.raises(ValidationError, match=match):
        StaticConfig(**bad)


def test_bad_phases_are_rejected():
    with pytest.raises(ValidationError, match="only the last phase"):
        PhasesConfig(phases=[{"name": "x", "weights": {"a": 1}}, {"name": "y", "weights": {"a": 1}}])
    with pytest.raises(ValidationError, match="ramp 20 is longer"):
        PhasesConfig(phases=[{"name": "x", "steps": 5, "weights": {"a": 1}},
                             {"name": "y", "steps": 10, "ramp": 20, "weights": {"a": 1}}])
    with pytest.raises(ValidationError, match="unique"):
        PhasesConfig(phases=[{"name": "x", "steps": 5, "weights": {"a": 1}}, {"name": "x", "weights": {"a": 1}}])


def test_seq_len_schedule():
    s = SeqLenSchedule(points=[(0, 64), (100, 256)], multiple_of=16)
    assert [s.at(t) for t in (0, 50, 99, 100, 500)] == [64, 160, 256 - 16, 256, 256]
    step = SeqLenSchedule(points=[(10, 32), (20, 64)], interpolate="step")
    assert [step.at(t) for t in (0, 10, 19, 20)] == [32, 32, 32, 64]
    with pytest.raises(ValidationError, match="strictly increasing"):
        SeqLenSchedule(points=[(10, 32), (10, 64)])


def test_each_point_holds_its_exact_length_and_rounding_never_leaves_the_neighbouring_points():
    # A point's length holds at its step, unrounded (100 used to be 96 at step 0).
    up = SeqLenSchedule(points=[(0, 100), (10, 200)])
    assert [up.at(t) for t in (0, 1, 5, 9, 10, 11)] == [100, 104, 144, 184, 200, 200]
    # No multiple of 8 lies between 4 and 6: the lower point's length, never 8 (above both).
    short = SeqLenSchedule(points=[(0, 4), (100, 6)])
    assert [short.at(t) for t in (0, 50, 99, 100)] == [4, 4, 4, 6]
    assert max(short.at(t) for t in range(120)) == short.max_len == 6
    down = SeqLenSchedule(points=[(0, 250), (100, 60)], multiple_of=16)
    assert [down.at(t) for t in (0, 1, 50, 99, 100)] == [250, 240, 144, 60, 60]


@pytest.mark.parametrize("seq_len", [0, -4, 1])
def test_a_fixed_seq_len_below_two_is_a_one_line_error(seq_len):
    with pytest.raises(CurricleError) as err:
        parse_model({"seq_len": seq_len}, MixtureConfig, "mixture")
    assert str(err.value) == f"mixture: seq_len: expected at least 2 tokens per row, got {seq_len}"
    assert parse_model({"seq_len": 2}, MixtureConfig, "mixture").seq_len == 2


@pytest.mark.parametrize("seq_len, message", [
    # A schedule's mistakes are its own, not that it is no integer.
    ({"points": [[10, 64], [5, 128]]}, "seq_len.points: steps must be strictly increasing, got [10, 5]"),
    ({"points": [[-1, 64]]}, "seq_len.points: steps must be >= 0"),
    ({"points": [[0, 1]]}, "seq_len.points: every length must be >= 2"),
    ({"points": [[0, 64]], "multipl": 32}, "seq_len.multipl: unknown key"),
    ({"points": []}, "seq_len.points: List should have at least 1 item after validation, not 0"),
    ("long", "seq_len: expected tokens per row (an integer) or a schedule (a mapping with points:)"),
    (True, "seq_len: expected tokens per row (an integer) or a schedule (a mapping with points:)"),
])
def test_a_bad_seq_len_is_blamed_on_its_own_field(seq_len, message):
    with pytest.raises(CurricleError) as err:
        parse_model({"seq_len": seq_len}, MixtureConfig, "mixture")
    assert str(err.value) == f"mixture: {message}"
    schedule = parse_model({"seq_len": {"points": [[0, 64], [10, 128]]}}, MixtureConfig, "mixture").seq_len
    assert isinstance(schedule, SeqLenSchedule) and schedule.at(10) == 128


@pytest.mark.parametrize("given, other", [
    ({"weights": {"a": 1}}, "weights"),
    ({"temperature": 2.0}, "temperature"),
    ({"weights": {"a": 1}, "temperature": 2.0}, "weights and temperature"),
])
def test_weights_from_with_weights_or_temperature_is_refused_not_ignored(tmp_path, given, other):
    missing = tmp_path / "never-read.json"
    with pytest.raises(CurricleError) as err:
        parse_model({"schedule": {"kind": "static", "weights_from": str(missing), **given}}, MixtureConfig, "mixture")
    assert str(err.value) == (f"mixture: schedule.weights_from: exclusive with weights and temperature "
                              f"(got {other} too)")


def test_weights_from_reads_the_weights_and_a_written_config_validates_again(tmp_path):
    path = tmp_path / "doremi_weights.json"
    path.write_text('{"weights": {"a": 0.25, "b": 0.75}}')
    mixture = parse_model({"schedule": {"kind": "static", "weights_from": str(path)}}, MixtureConfig, "mixture")
    assert (mixture.schedule.weights, mixture.schedule.weights_from) == ({"a": 0.25, "b": 0.75}, None)
    path.unlink()  # RUN/config.yaml holds the weights, not the file
    again = parse_model(mixture.model_dump(mode="json"), MixtureConfig, "mixture")
    assert again.schedule.weights == {"a": 0.25, "b": 0.75}


@pytest.mark.parametrize("kind, values", [
    ("fixed_linear", [0.2, 0.6, 1.0, 1.0]),
    ("fixed_root", [0.2, (0.04 + 0.96 * 0.5) ** 0.5, 1.0, 1.0]),
    ("fixed_discrete", [0.2, 0.6, 1.0, 1.0]),
])
def test_pacing_competence(kind, values):
    p = PacingConfig(kind=kind, start=0.2, steps=100, buckets=2)
    assert np.allclose([p.competence(t) for t in (0, 50, 100, 200)], values)


def test_discrete_pacing_holds_between_buckets_and_ranks_easiest_first():
    p = PacingConfig(kind="fixed_discrete", start=0.0 + 0.25, steps=100, buckets=3)
    assert p.competence(32) == p.competence(0) == 0.25
    pacing = DomainPacing(PacingConfig(steps=10, start=0.5), np.array([5.0, 1.0, 3.0, 2.0]))
    assert pacing.order.tolist() == [1, 3, 2, 0]
    assert pacing.available(0) == 2 and pacing.max_difficulty(0) == 2.0
    desc = DomainPacing(PacingConfig(steps=10, start=0.5, descending=True), np.array([5.0, 1.0, 3.0, 2.0]))
    assert desc.order.tolist() == [0, 2, 3, 1]
