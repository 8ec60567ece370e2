"""``curricle demo``'s post-training line: the shipped stage configs as the pipeline reads them,
the summary's post-training figures, the pretraining page's link panel, and (slow) the line
itself, scaled down, on a tiny checkpoint."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from curricle.config import parse_model, read_yaml
from curricle.demo.command import POST_CONFIGS, demo_config, demo_pipeline, post_summary
from curricle.finetune.config import FinetuneConfig
from curricle.report.page import render_report
from curricle.report.pipeline import post_training_links
from curricle.rft.config import load_rft_config
from curricle.rl.config import load_rl_config
from tests.report.conftest import embedded, write_fake_run


def test_the_demo_post_trains_sft_grpo_rft_then_sft_on_the_successes(tmp_path):
    start = tmp_path / "run" / "checkpoints" / "step_2500"
    config = demo_pipeline(start, tmp_path / "post")
    assert [(s.name, s.kind, s.tasks_from) for s in config.stages] == [
        ("sft", "finetune", None), ("grpo", "rl", None), ("rft", "rft", None), ("sft2", "finetune", "rft")]
    assert config.model.path == start and config.select == "best-mean"
    assert sorted(p.name for p in (tmp_path / "post" / "configs").iterdir()) == sorted(POST_CONFIGS)
    written = read_yaml(tmp_path / "post" / "pipeline.yaml")
    assert written["model"] == {"path": str(start)}  # `curricle pipeline` reruns it alone
    assert [s["config"] for s in written["stages"]] == [str(tmp_path / "post" / "configs" / f)
                                                        for f in ("sft.yaml", "grpo.yaml", "rft.yaml", "sft2.yaml")]
    # Each stage's config validates as run_stage reads it; the grpo stage draws by learnability.
    sft, grpo, rft, sft2 = config.stages
    assert parse_model(read_yaml(sft.config), FinetuneConfig, "sft").curriculum.stages[0].max_steps == 500
    assert load_rl_config(grpo.config).curriculum.kind == "learnability"
    assert load_rft_config(rft.config).samples == 8
    data = read_yaml(sft2.config)
    data["tasks"].append({"name": "rft", "source": {"kind": "jsonl", "path": "rft.jsonl", "split_field": "split"}})
    assert parse_model(data, FinetuneConfig, "sft2").curriculum.stages[0].tasks["rft"] == 2
    # The tasks are skills the demo's model was pretrained on.
    pretrained = {s.skill for s in demo_config(tmp_path).sources if s.kind == "synthetic"}
    assert {t.source.skill for t in config.evaluate.tasks} == {"reverse", "uppercase", "reverse+uppercase"} <= pretrained
    # A rerun keeps an edited copy of a stage's config.
    (tmp_path / "post" / "configs" / "rft.yaml").write_text(yaml.safe_dump(
        {**read_yaml(rft.config), "samples": 2}))
    again = demo_pipeline(start, tmp_path / "post")
    assert load_rft_config(again.stages[2].config).samples == 2


PIPELINE_RESULT = {
    "name": "demo-post", "best": "grpo", "rule": "highest mean",
    "stages": [{"stage": "sft", "kind": "finetune"}, {"stage": "grpo", "kind": "rl"}, {"stage": "rft", "kind": "rft"},
               {"stage": "sft2", "kind": "finetune"}],
    "table": [{"stage": "start", "checkpoint": "run/checkpoints/step_2500", "mean": 0.0, "worst": 0.0,
               "probe_change": 0.0},
              {"stage": "sft", "checkpoint": "post/sft/checkpoints/checkpoint-500", "mean": 0.81234, "worst": 0.7,
               "probe_change": -0.01},
              {"stage": "grpo", "checkpoint": "post/grpo/final", "mean": 0.86666, "worst": 0.78125,
               "probe_change": 0.03125},
              {"stage": "sft2", "checkpoint": "post/sft2/final", "mean": 0.85, "worst": 0.8, "probe_change": None}],
}


def test_the_summary_gains_the_chosen_stage_and_its_scores():
    assert post_summary(PIPELINE_RESULT) == {
        "post_chosen": "grpo", "post_checkpoint": "post/grpo/final", "post_mean_test": 0.867,
        "post_worst_test": 0.781, "post_start_mean_test": 0.0, "post_probe_change": 0.031}


def test_the_pretraining_page_links_the_pipeline_and_each_stage_page(tmp_path):
    from curricle.report.data import collect_run

    out = tmp_path / "demo" / "report.html"
    pl = {**PIPELINE_RESULT, "stage_reports": {"sft": "sft/report.html", "grpo": "grpo/report.html",
                                               "sft2": "sft2/report.html"}}
    post = post_training_links(pl, tmp_path / "demo" / "post" / "report.html", out)
    assert post["page"] == "post/report.html"
    assert [(s["stage"], s["page"]) for s in post["stages"]] == [
        ("sft", "post/sft/report.html"), ("grpo", "post/grpo/report.html"), ("rft", None),
        ("sft2", "post/sft2/report.html")]
    assert [(r["stage"], r["kind"], r["page"]) for r in post["rows"]] == [
        ("start", "start", None), ("sft", "finetune", "post/sft/report.html"), ("grpo", "rl", "post/grpo/report.html"),
        ("sft2", "finetune", "post/sft2/report.html")]
    run = collect_run(write_fake_run(tmp_path / "run"))
    assert 'data-panel="post_training"' not in render_report(run)  # a run nothing went on from
    run["post_training"] = post
    text = render_report(run)
    assert embedded(text)["post_training"]["best"] == "grpo"
    panel = text[text.index('data-panel="post_training"'):]
    assert '<a href="post/report.html">demo-post</a>' in panel
    assert '<tr class="best"><td data-v="grpo" class="text"><a href="post/grpo/report.html">grpo</a>' in panel
    assert "rft (rft)" in panel  # rft writes a task file and has no page


@pytest.mark.slow
def test_the_post_training_line_runs_on_a_tiny_checkpoint(tmp_path):
    """The demo's own configs, cut to a few steps, prompts and items: every stage runs from the
    previous one's chosen checkpoint, the table and the pages are written."""
    from rich.console import Console

    from curricle.demo.command import post_train
    from curricle.pipeline.config import load_pipeline_config
    from tests.finetune.conftest import tiny_checkpoint

    start = tiny_checkpoint(tmp_path / "ckpt")
    post_dir = tmp_path / "post"
    demo_pipeline(start, post_dir)
    configs = post_dir / "configs"
    fast = {"use_cpu": True, "tensorboard": False}
    small = {"n_train": 40, "n_heldout": 8, "n_test": 8}

    def edit(name, change):
        data = read_yaml(configs / name)
        change(data)
        for t in data.get("tasks", []):
            t["source"].update(small)
            t["eval_items"] = 8
        (configs / name).write_text(yaml.safe_dump(data, sort_keys=False))

    def sft(d, steps=4):
        d["curriculum"]["eval_every"] = 2
        d["curriculum"]["stages"][0]["max_steps"] = steps
        d["train"].update(batch_size=4, checkpoint={"every": 2}, **fast)

    def grpo(d):
        d["grpo"].update(steps=4, num_generations=4, prompts_per_step=2, max_completion_length=5)
        d["eval"]["every"] = 2
        d["train"].update(checkpoint={"every": 2}, **fast)

    def rft(d):
        d.update(samples=2, max_prompts=4, max_new_tokens=5)
        for t in d["tasks"]:  # an untrained model passes nothing: any character passes here
            t["grader"] = {"kind": "regex", "pattern": "."}

    edit("sft.yaml", sft)
    edit("grpo.yaml", grpo)
    edit("rft.yaml", rft)
    edit("sft2.yaml", sft)
    line = read_yaml(configs / "pipeline.yaml")
    for t in line["evaluate"]["tasks"]:
        t["source"].update(small)
    line["evaluate"]["probes"]["suite"]["n"] = 8
    (configs / "pipeline.yaml").write_text(yaml.safe_dump(line, sort_keys=False))
    config = demo_pipeline(start, post_dir)
    assert config == load_pipeline_config(post_dir / "pipeline.yaml")

    result = post_train(config, post_dir, Console(width=200))
    sft_, grpo_, rft_, sft2_ = result["stages"]
    assert sft_["from"] == str(start) and grpo_["from"] == sft_["chosen"] and rft_["from"] == grpo_["chosen"]
    assert sft2_["from"] == grpo_["chosen"]  # rft passes the model on unchanged
    assert [r["stage"] for r in result["table"]] == ["start", "sft", "grpo", "sft2"]
    kept = read_yaml(post_dir / "sft2" / "config.yaml")["tasks"][-1]
    assert kept["name"] == "rft" and kept["source"]["path"] == str(post_dir / "rft" / "rft.jsonl")
    assert result["best"] in ("start", "sft", "grpo", "sft2")
    assert result["report"] == post_dir / "report.html" and result["report"].is_file()
    assert result["pl"]["stage_reports"] == {"sft": "sft/report.html", "grpo": "grpo/report.html",
                                             "sft2": "sft2/report.html"}
    summary = post_summary(result)
    assert summary["post_chosen"] == result["best"]
    assert summary["post_start_mean_test"] == round(result["table"][0]["mean"], 3)


def test_a_short_demo_cuts_every_post_training_stage(tmp_path):
    from curricle.demo.command import demo_pipeline
    from curricle.finetune.config import load_finetune_config
    from curricle.rft.config import load_rft_config
    from curricle.rl.config import load_rl_config

    config = demo_pipeline(tmp_path / "start", tmp_path / "post", max_steps=6)
    stages = {s.name: s.config for s in config.stages}
    ft = load_finetune_config(stages["sft"])
    assert [st.max_steps for st in ft.curriculum.stages] == [6] and ft.curriculum.eval_every == 6
    sft2 = yaml.safe_load(stages["sft2"].read_text())  # its "rft" task is the pipeline's to add
    assert [st["max_steps"] for st in sft2["curriculum"]["stages"]] == [6] and sft2["train"]["checkpoint"]["every"] == 6
    assert load_rl_config(stages["grpo"]).grpo.steps == 6
    assert load_rft_config(stages["rft"]).max_prompts == 24


def test_step_logs_are_not_printed_inside_the_demo_and_are_again_after(capsys):
    """transformers' ProgressCallback prints each logging step's dict; within the demo's
    post-training it does not, and the callback is as it was afterwards."""
    from types import SimpleNamespace

    from transformers.trainer_callback import ProgressCallback

    from curricle.demo.command import step_logs_unprinted

    original = ProgressCallback.on_log
    state = SimpleNamespace(is_world_process_zero=True)
    bar = ProgressCallback()
    bar.training_bar = SimpleNamespace(write=print)
    with step_logs_unprinted():
        bar.on_log(None, state, None, logs={"loss": 1.5})
    assert capsys.readouterr().out == ""
    assert ProgressCallback.on_log is original
    bar.on_log(None, state, None, logs={"loss": 1.5})
    assert capsys.readouterr().out == "{'loss': '1.5'}\n"
