"""Bootstrap intervals of emergence and saturation, on hand-made curves and through map_runs."""

import csv

import numpy as np
import pytest

from curricle.emergence.config import MapConfig
from curricle.emergence.map import map_runs
from curricle.emergence.curves import CROSSINGS, CurveSettings, analyze, analyze_many, at_index
from curricle.emergence.intervals import point_intervals, skill_rng
from curricle.probes.results import SCHEMA, write_rows

TOKENS = np.geomspace(1e6, 2**11 * 1e6, 12)  # 12 checkpoints, doubling
X = np.log(TOKENS)
RISE = 0.25 + 0.7 / (1 + np.exp(-1.5 * (np.arange(12) - 5.5)))  # a logistic rise from chance (0.25)
FLAT = np.array([0.25, 0.26, 0.24, 0.25, 0.26, 0.25] * 2)
SMOOTH = CurveSettings()  # the map's defaults: sigma 0.15


def intervals(y, se, seed=0, skill="a", draws=1000, settings=SMOOTH, variant="fixed"):
    return point_intervals(X, y, np.full(len(y), se) if np.isscalar(se) else se, 0.25, settings, variant, draws,
                           skill_rng(seed, skill))


def width(ci):
    return ci[1] - ci[0]


def test_each_draw_is_read_exactly_as_analyze_reads_it():
    rng = np.random.default_rng(3)
    se = np.full(12, 0.04)
    se[[2, 7]] = np.nan  # a missing standard error: no noise there, and no weight in the gain test
    weak = 0.25 + 0.1 * (RISE - 0.25)  # a gain near min_gain: some draws emerge, some do not
    ys = weak + np.nan_to_num(se) * rng.standard_normal((200, 12))
    batch = analyze_many(X, ys, 0.25, SMOOTH, se)
    # Every kind of draw is checked: censored, emerged, emerged without a stable crossing,
    # emerged at the first checkpoint.
    emerged = batch.emerged
    assert 0 < emerged.sum() < 200
    assert (emerged & np.isnan(batch.crossings["stable"])).any() and (batch.crossings["fixed"] == 0).any()
    for b, y in enumerate(ys):
        r = analyze(X, y, 0.25, SMOOTH, se)
        assert batch.emerged[b] == r.emerged and batch.best_index[b] == r.best_index
        for name in CROSSINGS:
            want = r.crossings[name]
            assert (np.isnan(batch.crossings[name][b]) if want is None else batch.crossings[name][b] == want)
        assert np.isnan(batch.saturation[b]) if r.saturation is None else batch.saturation[b] == r.saturation
        assert (batch.smoothed[b] == r.smoothed).all()


def test_no_noise_gives_the_point_estimate_itself():
    r = analyze(X, RISE, 0.25, SMOOTH)
    p = intervals(RISE, 0.0)
    assert p.emergence_probability == 1.0
    assert p.emergence == (r.crossings["fixed"], r.crossings["fixed"])
    assert p.saturation == (r.saturation, r.saturation)


def test_tiny_se_gives_a_narrow_interval_around_the_point_and_large_se_widens_it():
    r = analyze(X, RISE, 0.25, SMOOTH)
    tiny, small, large = intervals(RISE, 0.001), intervals(RISE, 0.01), intervals(RISE, 0.05)
    assert tiny.emergence_probability == small.emergence_probability == large.emergence_probability == 1.0
    assert tiny.emergence[0] <= r.crossings["fixed"] <= tiny.emergence[1]
    assert tiny.saturation[0] <= r.saturation <= tiny.saturation[1]
    assert width(tiny.emergence) < 0.05  # checkpoints: within 5% of one doubling of tokens
    assert width(tiny.emergence) < width(small.emergence) < width(large.emergence)
    assert width(tiny.saturation) < width(small.saturation) < width(large.saturation)
    assert width(large.emergence) > 5 * width(small.emergence)


def test_same_seed_same_intervals_other_seed_or_skill_other_draws():
    a = intervals(RISE, 0.05, seed=7, skill="sort")
    assert a == intervals(RISE, 0.05, seed=7, skill="sort")
    assert a.emergence != intervals(RISE, 0.05, seed=8, skill="sort").emergence
    assert a.emergence != intervals(RISE, 0.05, seed=7, skill="reverse").emergence


def test_no_draws_no_intervals():
    assert intervals(RISE, 0.05, draws=0) is None


def test_a_flat_curve_never_emerges():
    p = intervals(FLAT, 0.02)
    assert p.emergence_probability == 0.0 and p.emergence is None and p.saturation is None


def test_an_interval_needs_a_tenth_of_the_draws_to_emerge():
    # Only the last point is noisy (se 0.02), 1.645 standard errors below the 0.1 minimal gain:
    # about 5% of the draws emerge, too few for an interval. Centred on it, half of them do.
    se = np.zeros(12)
    se[-1] = 0.02
    rare = np.array([0.25] * 11 + [0.35 - 1.645 * 0.02])
    p = intervals(rare, se, settings=CurveSettings(sigma=0.0))
    assert p.emergence_probability == pytest.approx(0.05, abs=0.02) and p.emergence is None and p.saturation is None
    half = np.array([0.25] * 11 + [0.35])
    p = intervals(half, se, settings=CurveSettings(sigma=0.0))
    assert p.emergence_probability == pytest.approx(0.5, abs=0.06)
    assert p.emergence[0] == p.emergence[1] == pytest.approx(10.5)  # the jump is at the last step, half way


# Through map_runs: the entries, their positions and the CSV.

STEPS = [int(t // 1e6) for t in TOKENS]


def rows_for(run: str, curves: dict[str, tuple[np.ndarray, float]]) -> list[dict]:
    """Probe rows of one run: per skill a curve of normalized probabilities and its se."""
    out = []
    for skill, (y, se) in curves.items():
        for step, tokens, v in zip(STEPS, TOKENS, y):
            out.append({
                "schema": SCHEMA, "run": run, "run_name": run, "checkpoint": f"{run}/s{step}", "step": step,
                "tokens": int(tokens), "weights_hash": None, "duplicate_of": None, "task": skill, "skill": skill,
                "task_hash": "h", "output_type": "multiple_choice", "n": 100, "composite_of": [],
                "metrics": {"acc": float(v), "acc_se": se, "prob": float(v), "prob_se": se},
                "discrete": "acc", "continuous": "prob", "chance": {"acc": 0.25, "prob": 0.25},
                "seconds": 0.1, "cached": False,
            })
    return out


@pytest.fixture
def probe_file(tmp_path):
    f = tmp_path / "probes.jsonl"
    write_rows(f, rows_for("r", {"rise": (RISE, 0.02), "flat": (FLAT, 0.02), "unsure": (RISE, None)}))
    return f


def test_map_reports_intervals_as_positions(probe_file, tmp_path):
    config = MapConfig(metric="continuous", seed=3, permutations=0)
    result = map_runs([probe_file], tmp_path / "map", config)
    skills = result["runs"]["r"]["skills"]
    rise = skills["rise"]
    p = point_intervals(X, RISE, np.full(12, 0.02), 0.25, config.curve_settings(), "fixed", 1000,
                        skill_rng(3, "rise"))
    # Percentiles of the fractional index, then positions interpolated in log-space.
    assert rise["emergence_ci95"] == {"tokens": [at_index(TOKENS, p.emergence[0]), at_index(TOKENS, p.emergence[1])],
                                      "step": [at_index(STEPS, p.emergence[0]), at_index(STEPS, p.emergence[1])]}
    assert rise["saturation_ci95"]["step"] == [at_index(STEPS, p.saturation[0]), at_index(STEPS, p.saturation[1])]
    assert rise["emergence_probability"] == 1.0
    assert rise["emergence_ci95"]["tokens"][0] <= rise["emergence"]["tokens"] <= rise["emergence_ci95"]["tokens"][1]
    assert skills["flat"]["emergence_probability"] == 0.0
    assert skills["flat"]["emergence_ci95"] is None and skills["flat"]["saturation_ci95"] is None
    # A missing standard error is no noise: every draw is the curve itself.
    unsure = skills["unsure"]
    assert unsure["emergence_ci95"]["tokens"] == [unsure["emergence"]["tokens"]] * 2

    with open(tmp_path / "map" / "emergence.csv") as f:
        table = {row["skill"]: row for row in csv.DictReader(f)}
    assert float(table["rise"]["emergence_lo_tokens"]) == pytest.approx(rise["emergence_ci95"]["tokens"][0], rel=1e-5)
    assert float(table["rise"]["saturation_hi_step"]) == pytest.approx(rise["saturation_ci95"]["step"][1], rel=1e-5)
    assert table["rise"]["emergence_probability"] == "1"
    assert table["flat"]["emergence_probability"] == "0"
    assert table["flat"]["emergence_lo_tokens"] == table["flat"]["saturation_hi_step"] == ""


def test_a_skill_interval_does_not_depend_on_the_other_skills(tmp_path):
    both, alone = tmp_path / "both.jsonl", tmp_path / "alone.jsonl"
    write_rows(both, rows_for("r", {"a": (RISE, 0.03), "b": (RISE, 0.03)}))
    write_rows(alone, rows_for("r", {"b": (RISE, 0.03)}))
    config = MapConfig(metric="continuous", permutations=0)
    b_both = map_runs([both], None, config)["runs"]["r"]["skills"]["b"]
    b_alone = map_runs([alone], None, config)["runs"]["r"]["skills"]["b"]
    assert b_both["emergence_ci95"] == b_alone["emergence_ci95"]
    assert b_both["emergence_ci95"] != map_runs([both], None, config)["runs"]["r"]["skills"]["a"]["emergence_ci95"]


def test_bootstrap_zero_leaves_intervals_out(probe_file, tmp_path):
    result = map_runs([probe_file], tmp_path / "map", MapConfig(metric="continuous", bootstrap=0, permutations=0))
    rise = result["runs"]["r"]["skills"]["rise"]
    assert rise["emergence"] is not None
    assert rise["emergence_ci95"] is None and rise["saturation_ci95"] is None and rise["emergence_probability"] is None
    with open(tmp_path / "map" / "emergence.csv") as f:
        row = next(r for r in csv.DictReader(f) if r["skill"] == "rise")
    assert row["emergence_probability"] == row["emergence_lo_step"] == row["saturation_hi_tokens"] == ""


def test_draws_do_not_depend_on_the_process():
    # Seeded from a stable hash of the skill's name, not Python's salted hash().
    import os
    import subprocess
    import sys

    code = "from curricle.emergence.intervals import skill_rng; print(skill_rng(5, 'sort').standard_normal(3).tolist())"
    outs = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                           env={**os.environ, "PYTHONHASHSEED": str(salt)}).stdout for salt in (1, 2)}
    assert len(outs) == 1 and outs != {""}
