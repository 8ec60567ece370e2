import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from curricle.cli import COMMANDS, app
from curricle.config import load_config
from curricle.demo.command import demo_config

ROOT = Path(__file__).resolve().parents[1]
runner = CliRunner()


def test_every_verb_has_help():
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    verbs = [c.name or c.callback.__name__ for c in app.registered_commands]
    assert verbs == ["curate", "prepare", "prune", "sample", "train", "finetune", "rl", "rft", "dpo", "pipeline", "select", "mix-search", "demo", "probe", "map", "study",
                     "mine", "drift", "report", "compare"]
    for verb in verbs:
        r = runner.invoke(app, [verb, "--help"])
        assert r.exit_code == 0, verb
        assert "Usage:" in r.output


@pytest.mark.parametrize("path", sorted((ROOT / "configs").glob("*.yaml")) + [ROOT / "configs" / "doremi" / "proxy.yaml"],
                         ids=lambda p: p.name)
def test_shipped_configs_validate(path):
    from curricle.finetune.config import load_finetune_config

    if "curriculum" in yaml.safe_load(path.read_text()):
        load_finetune_config(path)  # curricle finetune's file
    else:
        load_config(path)


def test_the_post_training_configs_validate_as_the_pipeline_reads_them():
    from curricle.config import parse_model, read_yaml
    from curricle.finetune.config import FinetuneConfig
    from curricle.pipeline.config import load_pipeline_config
    from curricle.rft.config import load_rft_config
    from curricle.rl.config import load_rl_config

    line = load_pipeline_config(ROOT / "configs/post/pipeline.yaml")
    assert [(s.name, s.kind) for s in line.stages] == [("sft", "finetune"), ("grpo", "rl"), ("rft", "rft"),
                                                       ("sft2", "finetune")]
    for stage in line.stages:
        path = ROOT / stage.config
        if stage.kind == "rl":
            load_rl_config(path)
        elif stage.kind == "rft":
            load_rft_config(path)
        else:  # as run_stage does: an rft stage's file joins the tasks under the rft stage's name
            data = read_yaml(path, "finetune config")
            if stage.tasks_from:
                data["tasks"].append({"name": stage.tasks_from, "source": {"kind": "jsonl", "path": "rft.jsonl",
                                                                           "split_field": "split"}})
            parse_model(data, FinetuneConfig, str(path))


def test_demo_config_validates(tmp_path):
    cfg = demo_config(tmp_path)
    assert cfg.data_dir == tmp_path / "data"
    assert [p.name for p in cfg.mixture.schedule.phases] == ["warmup", "ramp", "consolidation"]


def test_demo_probes_each_skill_at_the_levels_it_trains(tmp_path):
    from curricle.demo.command import demo_suite
    from curricle.probes.builtin import builtin_task_configs

    suite = demo_suite(demo_config(tmp_path))
    assert suite.levels["copy"] == ["2", "4", "8", "16"] and suite.levels["agreement"] == ["0", "1", "2", "3"]
    names = [t.task for t in builtin_task_configs(suite, ["code", "prose"])]
    assert names[:4] == ["copy@2", "copy@4", "copy@8", "copy@16"]
    assert {"compose@3", "reverse+uppercase@6", "facts@200", "brackets@8", "code-syntax", "prose-loss"} <= set(names)
    assert not {"copy", "sort-letters", "arithmetic-hard"} & set(names)  # untrained skills are not probed
    families = {n.split("@")[0] for n in names if "@" in n}
    assert len(families) == 9 and all(len(suite.levels[f]) >= 3 for f in families)


def test_bad_config_is_one_line_and_exit_2(tmp_path):
    p = tmp_path / "run.yaml"
    p.write_text(yaml.safe_dump({"sources": [{"kind": "jsonl", "path": "x", "domain": "a"}], "mixtur": {}}))
    r = runner.invoke(app, ["prepare", str(p)])
    assert r.exit_code == 2
    assert r.output.strip() == f"error: {p}: mixtur: unknown key"


def test_a_file_a_command_could_not_read_or_write_is_one_line_naming_it(monkeypatch):
    def replace_fails(*args, **kwargs):  # what atomic.write_text's rename onto a directory raises
        raise IsADirectoryError(21, "Is a directory", "/tmp/.r.html.x.tmp", None, "/tmp/out")

    monkeypatch.setitem(COMMANDS._loaded, "report", replace_fails)  # the verb's command, as looked up
    r = runner.invoke(app, ["report", "runs/x"])
    assert (r.exit_code, r.output.strip()) == (2, "error: /tmp/out: Is a directory")

    def unnamed(*args, **kwargs):
        raise OSError("device not ready")

    monkeypatch.setitem(COMMANDS._loaded, "report", unnamed)
    r = runner.invoke(app, ["report", "runs/x"])
    assert (r.exit_code, r.output.strip()) == (2, "error: device not ready")


def test_missing_source_path_is_one_line(tmp_path):
    p = tmp_path / "run.yaml"
    p.write_text(yaml.safe_dump({"data_dir": str(tmp_path / "d"),
                                 "sources": [{"kind": "jsonl", "path": str(tmp_path / "none.jsonl"), "domain": "a"}]}))
    r = runner.invoke(app, ["prepare", str(p)])
    assert r.exit_code == 2
    assert r.output.strip() == f"error: source 'jsonl {tmp_path / 'none.jsonl'}': no such file or directory: {tmp_path / 'none.jsonl'}"
    assert not (tmp_path / "d" / "manifest.json").exists()


def test_prepare_then_sample_on_the_tiny_config(tmp_path):
    cfg = yaml.safe_load((ROOT / "configs" / "tiny.yaml").read_text())
    cfg["data_dir"] = str(tmp_path / "data")
    p = tmp_path / "tiny.yaml"
    p.write_text(yaml.safe_dump(cfg))
    r = runner.invoke(app, ["prepare", str(p)])
    assert r.exit_code == 0, r.output
    assert "tokenizer trained; done" in r.output
    r = runner.invoke(app, ["prepare", str(p)])
    assert "tokenizer up to date; nothing to do" in r.output
    r = runner.invoke(app, ["sample", str(p), "--steps", "30"])
    assert r.exit_code == 0, r.output
    assert "mixture preview: 30 steps of 8 rows" in r.output


@pytest.mark.slow
def test_demo_end_to_end(tmp_path):
    r = runner.invoke(app, ["demo", "--out", str(tmp_path / "demo"), "--max-steps", "20"])
    assert r.exit_code == 0, r.output
    assert "consolidation" in r.output and "done" in r.output
    assert (tmp_path / "demo" / "data" / "manifest.json").is_file()


@pytest.mark.slow
def test_the_doremi_recipe_trains_a_proxy_then_a_fresh_run_on_its_weights(tmp_path):
    stages = {}
    for stage in ("proxy", "main"):
        cfg = yaml.safe_load((ROOT / "configs" / "doremi" / f"{stage}.yaml").read_text())
        cfg["data_dir"] = str(tmp_path / "data")
        cfg["train"].update(steps=8, eval_every=8, checkpoint={"every": 8, "keep_last": 1})
        if stage == "proxy":
            cfg["controller"]["reference"] = {"steps": 8}
        else:
            cfg["mixture"]["schedule"]["weights_from"] = str(tmp_path / "proxy" / "doremi_weights.json")
        stages[stage] = tmp_path / f"{stage}.yaml"
        stages[stage].write_text(yaml.safe_dump(cfg))
        r = runner.invoke(app, ["train", str(stages[stage]), "--run-dir", str(tmp_path / stage)])
        assert r.exit_code == 0, r.output
    weights = json.loads((tmp_path / "proxy" / "doremi_weights.json").read_text())["weights"]
    first = json.loads((tmp_path / "main" / "metrics.jsonl").read_text().splitlines()[0])
    assert {d: first[f"weight/{d}"] for d in weights} == pytest.approx(weights)
    assert len((tmp_path / "proxy" / "reference" / "metrics.jsonl").read_text().splitlines()) == 8
