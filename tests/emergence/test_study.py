"""Studies: the shipped example validates; a micro study trains, probes and maps."""

import json
from pathlib import Path

import pytest
import torch
import yaml

from curricle.emergence.study import load_study, run_study
from curricle.errors import CurricleError

EXAMPLE = Path(__file__).parents[2] / "examples" / "seeds_order.yaml"


def test_shipped_seeds_order_example_validates():
    study = load_study(EXAMPLE)
    assert study.seeds == [0, 1, 2]
    configs = [study.run_config(s) for s in study.seeds]
    assert [c.seed for c in configs] == [0, 1, 2]
    assert len({str(c.data_dir) for c in configs}) == 1  # the seeds share one token store
    assert study.probe.suite.tasks and "shift-letters" in study.probe.suite.tasks  # the untrained control


def test_shipped_implicit_curriculum_study_validates():
    study = load_study(EXAMPLE.parent / "implicit_curriculum.yaml")
    assert [name for name, _, _ in study.runs()] == [f"{v}-seed{s}" for v in ("small", "base") for s in (0, 1, 2)]
    small, base = study.run_config(0, "small"), study.run_config(0, "base")
    assert small.model.overrides == {"hidden_size": 64, "intermediate_size": 192} and base.model.overrides == {}
    assert study.probe.suite.levels["reverse+uppercase"] == "all"


def test_variants_run_every_seed_with_their_changes_merged_into_the_run(tmp_path):
    from tests.probes.conftest import run_config_dict

    run = run_config_dict(tmp_path / "data", steps=8)
    (tmp_path / "s.yaml").write_text(yaml.safe_dump({
        "out_dir": str(tmp_path / "out"), "seeds": [0, 1], "run": run,
        "variants": {"small": {"model": {"preset": "micro"}},
                     "large": {"model": {"preset": "tiny-1m"}, "train": {"lr": 0.001}}}}, sort_keys=False))
    study = load_study(tmp_path / "s.yaml")
    assert study.runs() == [("small-seed0", "small", 0), ("small-seed1", "small", 1),
                            ("large-seed0", "large", 0), ("large-seed1", "large", 1)]
    small, large = study.run_config(1, "small"), study.run_config(1, "large")
    assert (small.model.preset, large.model.preset) == ("micro", "tiny-1m")
    assert small.model.max_position_embeddings == large.model.max_position_embeddings  # merged, not replaced
    assert large.train.lr == 0.001 and small.train.lr == study.run_config(1).train.lr
    assert large.train.steps == small.train.steps == 8 and large.seed == 1
    assert large.data_dir == small.data_dir  # one token store for every run


def test_bad_study_names_the_field(tmp_path):
    (tmp_path / "s.yaml").write_text(yaml.safe_dump({"out_dir": "x", "seeds": [1, 1], "run": {}}))
    with pytest.raises(CurricleError, match="seeds: seeds must be distinct"):
        load_study(tmp_path / "s.yaml")
    (tmp_path / "s.yaml").write_text(yaml.safe_dump({"out_dir": "x", "seeds": [1, 2], "run": {"sources": []}}))
    with pytest.raises(CurricleError, match="sources"):
        load_study(tmp_path / "s.yaml")


@pytest.mark.slow
def test_micro_study_end_to_end(tmp_path):
    from tests.probes.conftest import run_config_dict

    run = run_config_dict(tmp_path / "data", steps=8)
    del run["data_dir"]  # defaults to OUT/data
    (tmp_path / "study.yaml").write_text(yaml.safe_dump({
        "name": "micro", "out_dir": str(tmp_path / "out"), "seeds": [0, 1], "run": run,
        "probe": {"suite": {"n": 6, "tasks": ["copy", "agreement", "brackets", "prose-loss"], "text_passages": 2}},
        "map": {"bootstrap": 50, "permutations": 50},
    }))
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        result = run_study(tmp_path / "study.yaml", progress=False)
        again = run_study(tmp_path / "study.yaml", progress=False)  # nothing retrained or rescored
    finally:
        torch.set_num_threads(before)
    out = tmp_path / "out"
    assert sorted(p.name for p in (out / "seed0" / "checkpoints").iterdir()) == ["step_4", "step_8"]
    assert set(result["runs"]) == {str(out / "seed0"), str(out / "seed1")}
    assert result["ordering"]["skills"] == ["agreement", "brackets", "copy", "prose-loss"]
    assert (out / "map" / "ordering.csv").is_file()
    assert json.dumps(again["ordering"]) == json.dumps(result["ordering"])  # NaN-safe: nothing emerged in 8 steps
