"""``curricle finetune`` end to end on a tiny checkpoint: TRL's SFTTrainer in the curriculum's
order, per-task evaluation, the logs, a SIGKILL resume, and the sampler and callback in a
user's own SFTTrainer."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from curricle.errors import CurricleError
from curricle.runinfo import code_record
from tests.finetune.conftest import finetune_config

pytestmark = pytest.mark.slow


def rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def write(tmp_path: Path, cfg: dict) -> Path:
    path = tmp_path / "ft.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def cli(*args, **kw) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "curricle.cli", "finetune", *map(str, args)], env=env,
                          capture_output=True, text=True, **kw)


def test_finetune_end_to_end(tmp_path, checkpoint):
    from transformers import AutoModelForCausalLM

    cfg = finetune_config(checkpoint, steps=12, review={"kind": "leitner", "items_per_task": 4})
    cfg["train"]["tensorboard"] = True
    cfg["probes"] = {"suite": {"tasks": ["reverse", "copy"], "n": 8, "text_domains": []}}
    r = cli(write(tmp_path, cfg), "--run-dir", tmp_path / "run")
    assert r.returncode == 0, r.stderr[-3000:]
    run = tmp_path / "run"
    assert "fine-tuned: step 12 (stage composite)" in r.stdout
    log = rows(run / "curriculum_log.jsonl")
    assert [e["event"] for e in log][:3] == ["start", "stage", "review-added"]
    assert log[1] == {**log[1], "step": 6, "from": "components", "to": "composite", "reason": "max_steps"}
    evals = [m for m in rows(run / "metrics.jsonl") if "eval/mean" in m]
    assert [m["step"] for m in evals] == [0, 2, 4, 6, 8, 10, 12]
    for m in evals:
        for task in ("reverse", "uppercase", "rev-upper"):
            assert 0 <= m[f"eval/{task}/exact_match"] <= 1 and m[f"eval/{task}/n"] == 8
            assert f"eval/{task}/exact_match_se" in m and f"eval/{task}/prob_se" in m
        assert "eval/probe:reverse/acc" in m and "eval/probe:copy/exact_match" in m
    assert evals[-1]["served/reverse"] + evals[-1]["served/uppercase"] + evals[-1]["served/rev-upper"] == 48
    losses = [m["train/loss"] for m in rows(run / "metrics.jsonl") if "train/loss" in m]
    assert len(losses) == 12 and losses[-1] < losses[0]
    f = json.loads((run / "forgetting.json").read_text())
    assert f["final"] and f["stages"] == ["components", "composite"] and f["steps"] == [6, 12]
    assert f["tasks"] == ["reverse", "uppercase", "rev-upper", "probe:copy", "probe:reverse"]
    assert f["learned_at"]["rev-upper"] == 1 and f["learned_at"]["probe:copy"] is None
    assert set(f["change_from_baseline"]) == {"probe:reverse", "probe:copy"} and len(f["R"]) == 2
    assert f["metrics"]["probe:reverse"] == "acc"
    final = json.loads((run / "final_scores.json").read_text())
    assert set(final["test"]) >= {"reverse", "uppercase", "rev-upper"} and final["test"]["reverse"]["n"] == 8
    assert list((run / "tb").glob("events.out.tfevents.*"))
    model = AutoModelForCausalLM.from_pretrained(run / "final")
    assert model.config.num_hidden_layers == 2
    from curricle.report.command import report_command
    from tests.report.conftest import embedded

    page = report_command(run)
    data = embedded(page.read_text())
    assert data["kind"] == "finetune" and data["eval"]["step"] == [0, 2, 4, 6, 8, 10, 12]
    assert [r["on_disk"] for r in data["checkpoints"]][-1] is True
    summary = json.loads((run / "tasks.json").read_text())
    assert [t["task"] for t in summary["tasks"]] == ["reverse", "uppercase", "rev-upper"]
    assert summary["probes"] == ["probe:copy", "probe:reverse"]


def test_a_killed_run_resumes_to_the_same_data_order_and_losses(tmp_path, checkpoint):
    """The components stage ends at step 8 (its 6 steps, the next evaluation), before the
    checkpoint there: the resumed run carries on the composite stage's review (its decks, the
    held-out items its tests took, the floor) and its halved learning rate."""
    cfg = finetune_config(checkpoint, steps=40, review={"kind": "leitner", "items_per_task": 4},
                          revisit_when={"margin_se": 1.0, "weight": 0.2})
    cfg["curriculum"]["eval_every"] = 4
    cfg["curriculum"]["stages"][0]["max_steps"] = 6
    cfg["curriculum"]["stages"][1]["lr_scale"] = 0.5
    cfg["train"].update(trace=True, checkpoint={"every": 8}, max_steps=40)
    config = write(tmp_path, cfg)
    assert cli(config, "--run-dir", tmp_path / "full").returncode == 0
    run = tmp_path / "killed"
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "curricle.cli", "finetune", str(config), "--run-dir", str(run)],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 180
    while not (run / "checkpoints" / "checkpoint-8" / "curricle_curriculum.json").is_file():
        assert proc.poll() is None, "the run ended before its step-8 checkpoint"
        assert time.time() < deadline
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (run / "final").exists()
    assert cli(config, "--run-dir", run).returncode == 2  # it has checkpoints: --resume is needed
    r = cli(config, "--run-dir", run, "--resume")
    assert r.returncode == 0, r.stderr[-3000:]
    full, resumed = tmp_path / "full", run
    assert rows(resumed / "trace/examples.jsonl") == rows(full / "trace/examples.jsonl")
    assert len(rows(full / "trace/examples.jsonl")) == 40
    assert rows(resumed / "curriculum_log.jsonl") == rows(full / "curriculum_log.jsonl")
    a, b = rows(full / "metrics.jsonl"), rows(resumed / "metrics.jsonl")
    assert [m["step"] for m in a] == [m["step"] for m in b]
    for x, y in zip(a, b):
        assert x.keys() == y.keys()
        for k in x:
            want = x[k] if isinstance(x[k], str) else pytest.approx(x[k], rel=1e-5, abs=1e-6)
            assert y[k] == want, (x["step"], k)
    assert json.loads((full / "forgetting.json").read_text())["R"] == \
        json.loads((resumed / "forgetting.json").read_text())["R"]
    lrs = {m["step"]: m["train/learning_rate"] for m in a if "train/learning_rate" in m}
    assert lrs[9] == 3e-3 and lrs[10] == 3e-3 * 0.5 and lrs[40] == 3e-3 * 0.5  # from step 8 + 2
    events = [e["event"] for e in rows(full / "curriculum_log.jsonl")]
    assert events[:3] == ["start", "stage", "review-added"] and "review" in events


def test_a_resume_after_the_task_file_changed_is_refused(tmp_path, checkpoint):
    """The checkpoint's data order indexes the items it was drawn from: with one completion of
    the task file edited, --resume refuses in one line, naming the task; unedited, it resumes."""
    from curricle.config import parse_model
    from curricle.finetune.command import finetune_run
    from curricle.finetune.config import FinetuneConfig

    path = tmp_path / "rev.jsonl"
    recs = [{"id": i, "prompt": f"reverse: {w} ->", "completion": " " + w[::-1]}
            for i, w in enumerate(f"{a}{b}" for a in "abcdefgh" for b in "abcdefgh")]
    path.write_text("".join(json.dumps(r) + "\n" for r in recs))
    cfg = finetune_config(checkpoint, steps=4)
    cfg["tasks"][0] = {"name": "reverse", "source": {"kind": "jsonl", "path": str(path), "heldout_share": 0.25},
                       "eval_items": 8}
    cfg["train"].update(batch_size=2, checkpoint={"every": 2})
    config = parse_model(cfg, FinetuneConfig, "ft")
    run = tmp_path / "run"
    finetune_run(config, run)  # checkpoints at steps 2 and 4
    recs[5]["completion"] = " edited"
    path.write_text("".join(json.dumps(r) + "\n" for r in recs))
    files = {name: (run / name).read_bytes() for name in ("config.yaml", "run.json", "tasks.json")}
    with pytest.raises(CurricleError, match=r"^--resume: task 'reverse' has other items \(its file or generator "
                                            r"changed\) since the checkpoint was saved") as err:
        finetune_run(config, run, resume=True)
    assert "\n" not in str(err.value)
    # Refused before the run rewrote anything: its config, run.json and task summary as they were.
    assert {name: (run / name).read_bytes() for name in files} == files
    recs[5]["completion"] = " " + recs[5]["prompt"].split()[1][::-1]
    path.write_text("".join(json.dumps(r) + "\n" for r in recs))
    result = finetune_run(config, run, resume=True)
    assert result["final"]["step"] == 4
    # The resume that ran is on record, with an unchanged config; the refused one is not.
    assert json.loads((run / "run.json").read_text())["resumes"] == [
        {"checkpoint": "checkpoint-4", "config_changed": [], "code": code_record()}]


def test_checkpoint_every_and_trace_write_where_they_say(tmp_path, checkpoint):
    """``train.checkpoint.every`` / ``keep_last`` set the checkpoints' steps and how many stay;
    ``train.trace`` writes each step's rows to ``RUN/trace/examples.jsonl``."""
    from curricle.config import parse_model
    from curricle.finetune.command import finetune_run
    from curricle.finetune.config import FinetuneConfig

    cfg = finetune_config(checkpoint, steps=4)
    cfg["train"].update(batch_size=2, checkpoint={"every": 1, "keep_last": 3}, trace=True)
    run = tmp_path / "run"
    finetune_run(parse_model(cfg, FinetuneConfig, "ft"), run)
    assert sorted(p.name for p in (run / "checkpoints").glob("checkpoint-*")) == [
        "checkpoint-2", "checkpoint-3", "checkpoint-4"]
    trace = rows(run / "trace" / "examples.jsonl")
    assert [t["step"] for t in trace] == [1, 2, 3, 4] and all(len(t["rows"]) == 2 for t in trace)
    assert not (run / "data_order.jsonl").exists()


def test_a_users_own_sft_trainer_with_the_sampler_and_callback(tmp_path, checkpoint):
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import SFTConfig, SFTTrainer

    from curricle.finetune.config import CurriculumConfig
    from curricle.finetune.curriculum import Curriculum
    from curricle.finetune.hf import train_dataset, use_curriculum
    from curricle.tasks.config import TaskConfig
    from curricle.tasks.load import build_tasks

    cfg = finetune_config(checkpoint)
    tokenizer = AutoTokenizer.from_pretrained(checkpoint)
    tasks = build_tasks([TaskConfig.model_validate(t) for t in cfg["tasks"]], tokenizer)
    curriculum = Curriculum(CurriculumConfig.model_validate(cfg["curriculum"]), tasks, seed=1)
    args = SFTConfig(output_dir=str(tmp_path / "out"), max_steps=8, per_device_train_batch_size=2,
                     gradient_accumulation_steps=2, learning_rate=3e-3, logging_steps=2, save_steps=100,
                     report_to=[], use_cpu=True, ignore_data_skip=True, activation_checkpointing=False)
    trainer = SFTTrainer(model=AutoModelForCausalLM.from_pretrained(checkpoint), args=args,
                         train_dataset=train_dataset(curriculum), processing_class=tokenizer)
    callback = use_curriculum(trainer, curriculum, tensorboard=False, trace=True)
    seen = []  # the prompts the model was given, micro-batch by micro-batch

    def capture(module, args, kwargs):
        if module.training:
            for ids in kwargs["input_ids"]:
                seen.append(tokenizer.decode([t for t in ids.tolist() if t != tokenizer.pad_token_id]))

    handle = trainer.model.register_forward_pre_hook(capture, with_kwargs=True)
    trainer.train()
    handle.remove()
    out = tmp_path / "out"
    order = rows(out / "trace/examples.jsonl")
    assert [o["step"] for o in order] == list(range(1, 9)) and all(len(o["rows"]) == 4 for o in order)
    drawn = [curriculum.rows[r].item for o in order for r in o["rows"]]
    assert len(seen) == 32 and all(text.startswith(i.prompt + i.completion) for text, i in zip(seen, drawn))
    # What the trainer fed the model is what the curriculum drew: replay the curriculum alone.
    again = Curriculum(CurriculumConfig.model_validate(cfg["curriculum"]), tasks, seed=1, batch_size=4)
    mix = again.initial_mix()
    assert [again.draw(mix) for _ in range(6)][:4] == [o["rows"] for o in order[:4]]  # stage 1 until step 6
    evals = [m for m in rows(out / "metrics.jsonl") if "eval/mean" in m]
    assert [m["step"] for m in evals] == [0, 2, 4, 6, 8]
    assert all("eval/rev-upper/exact_match" in m for m in evals)
    assert callback.history[-1]["step"] == 8
    assert [e["event"] for e in rows(out / "curriculum_log.jsonl")] == ["start", "stage"]


def test_a_stages_lr_scale_applies_from_the_step_its_examples_start(tmp_path, checkpoint):
    """Stage 2 at lr_scale 0.25, its switch decided at the evaluation after step 4: steps 1-5
    train at the trainer's rate (step 5's examples were drawn already), steps 6-8 at a quarter
    of it; the rate each step's optimizer update used, read before the update."""
    from transformers import AutoModelForCausalLM, AutoTokenizer, TrainerCallback
    from trl import SFTConfig, SFTTrainer

    from curricle.finetune.config import CurriculumConfig
    from curricle.finetune.curriculum import Curriculum
    from curricle.finetune.hf import train_dataset, use_curriculum
    from curricle.tasks.config import TaskConfig
    from curricle.tasks.load import build_tasks

    cfg = finetune_config(checkpoint, steps=8)
    cfg["curriculum"]["stages"][1]["lr_scale"] = 0.25
    tokenizer = AutoTokenizer.from_pretrained(checkpoint)
    tasks = build_tasks([TaskConfig.model_validate(t) for t in cfg["tasks"]], tokenizer)
    curriculum = Curriculum(CurriculumConfig.model_validate(cfg["curriculum"]), tasks, seed=0)
    args = SFTConfig(output_dir=str(tmp_path / "out"), max_steps=8, per_device_train_batch_size=2,
                     learning_rate=1e-3, lr_scheduler_type="constant", save_steps=100, report_to=[], use_cpu=True,
                     ignore_data_skip=True, activation_checkpointing=False)
    trainer = SFTTrainer(model=AutoModelForCausalLM.from_pretrained(checkpoint), args=args,
                         train_dataset=train_dataset(curriculum), processing_class=tokenizer)
    used = []

    class Rates(TrainerCallback):
        def on_step_begin(self, args, state, control, optimizer=None, **kwargs):
            used.append(optimizer.param_groups[0]["lr"])

    use_curriculum(trainer, curriculum, tensorboard=False)
    trainer.add_callback(Rates())
    trainer.train()
    assert used == [1e-3] * 5 + [1e-3 * 0.25] * 3
    stage = [e for e in rows(tmp_path / "out" / "curriculum_log.jsonl") if e["event"] == "stage"]
    assert [(e["step"], e["effective_from_step"], e["lr_scale"]) for e in stage] == [(4, 6, 0.25)]


def test_every_stage_ends_after_its_own_max_steps(tmp_path, checkpoint):
    """Three stages of 4 steps, evaluations every 2: they end at steps 4 and 8, each later stage
    counted from the evaluation that began it, not from its first examples a step later (the
    loader draws a step ahead). So each later stage trains 4 steps of its own examples: steps
    6-9, then 10-12 and the run's end; the first, 1-5 (the step drawn ahead at its end too)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import SFTConfig, SFTTrainer

    from curricle.finetune.config import CurriculumConfig
    from curricle.finetune.curriculum import Curriculum
    from curricle.finetune.hf import train_dataset, use_curriculum
    from curricle.tasks.config import TaskConfig
    from curricle.tasks.load import build_tasks

    cfg = finetune_config(checkpoint, steps=12)
    cfg["curriculum"]["stages"] = [{"name": n, "tasks": {n: 1}, "max_steps": 4}
                                   for n in ("reverse", "uppercase", "rev-upper")]
    tokenizer = AutoTokenizer.from_pretrained(checkpoint)
    tasks = build_tasks([TaskConfig.model_validate(t) for t in cfg["tasks"]], tokenizer)
    curriculum = Curriculum(CurriculumConfig.model_validate(cfg["curriculum"]), tasks, seed=0)
    assert curriculum.config.steps == 12
    args = SFTConfig(output_dir=str(tmp_path / "out"), max_steps=12, per_device_train_batch_size=2,
                     learning_rate=1e-3, save_steps=100, report_to=[], use_cpu=True, ignore_data_skip=True,
                     activation_checkpointing=False)
    trainer = SFTTrainer(model=AutoModelForCausalLM.from_pretrained(checkpoint), args=args,
                         train_dataset=train_dataset(curriculum), processing_class=tokenizer)
    use_curriculum(trainer, curriculum, tensorboard=False, trace=True)
    trainer.train()
    out = tmp_path / "out"
    stage = [e for e in rows(out / "curriculum_log.jsonl") if e["event"] == "stage"]
    assert [(e["step"], e["from"], e["to"], e["steps_in_stage"], e["effective_from_step"]) for e in stage] == [
        (4, "reverse", "uppercase", 4, 6), (8, "uppercase", "rev-upper", 4, 10)]
    trained = [{curriculum.task_of[r] for r in o["rows"]} for o in rows(out / "trace/examples.jsonl")]
    assert trained == [{"reverse"}] * 5 + [{"uppercase"}] * 4 + [{"rev-upper"}] * 3


def test_a_revisit_still_open_at_the_runs_end_is_logged_as_ended(tmp_path, checkpoint):
    """Scripted held-out scores: reverse at 1.0 when its stage ends (step 4), 0.5 at steps 6 and
    8, so its revisit opens at 6 and is still open when the run ends at 8: the log closes it."""
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import SFTConfig, SFTTrainer

    from curricle.finetune.config import CurriculumConfig
    from curricle.finetune.curriculum import Curriculum
    from curricle.finetune.hf import train_dataset, use_curriculum
    from curricle.posttrain.evaluate import Evaluator
    from curricle.tasks.config import TaskConfig
    from curricle.tasks.load import build_tasks

    cfg = finetune_config(checkpoint, steps=8, revisit_when={"margin_se": 1.0, "weight": 0.2})
    tokenizer = AutoTokenizer.from_pretrained(checkpoint)
    tasks = build_tasks([TaskConfig.model_validate(t) for t in cfg["tasks"]], tokenizer)
    curriculum = Curriculum(CurriculumConfig.model_validate(cfg["curriculum"]), tasks, seed=0)
    reverse = iter([0.0, 0.5, 1.0, 0.5, 0.5])  # the baseline, then steps 2, 4, 6 and 8

    class Scripted(Evaluator):
        def evaluate(self, model, split="heldout"):
            v = next(reverse) if split == "heldout" else 0.0
            return {t.name: {"exact_match": v if t.name == "reverse" else 0.0, "exact_match_se": 0.05}
                    for t in tasks}

    args = SFTConfig(output_dir=str(tmp_path / "out"), max_steps=8, per_device_train_batch_size=2,
                     learning_rate=1e-3, save_steps=100, report_to=[], use_cpu=True, ignore_data_skip=True,
                     activation_checkpointing=False)
    trainer = SFTTrainer(model=AutoModelForCausalLM.from_pretrained(checkpoint), args=args,
                         train_dataset=train_dataset(curriculum), processing_class=tokenizer)
    use_curriculum(trainer, curriculum, tensorboard=False, evaluator=Scripted(tasks, tokenizer))
    trainer.train()
    log = rows(tmp_path / "out" / "curriculum_log.jsonl")
    assert [(e["event"], e["step"]) for e in log] == [("start", 0), ("stage", 4), ("revisit", 6), ("revisit-end", 8)]
    assert log[-1] == {"event": "revisit-end", "step": 8, "task": "reverse", "score": 0.5, "reference": 1.0,
                       "why": "the run ended"}
    assert curriculum.revisiting == []


def test_the_trainer_arguments_are_checked(tmp_path, checkpoint):
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import SFTConfig, SFTTrainer

    from curricle.finetune.config import CurriculumConfig
    from curricle.finetune.curriculum import Curriculum
    from curricle.finetune.hf import train_dataset, use_curriculum
    from curricle.tasks.config import TaskConfig
    from curricle.tasks.load import build_tasks

    cfg = finetune_config(checkpoint)
    tokenizer = AutoTokenizer.from_pretrained(checkpoint)
    tasks = build_tasks([TaskConfig.model_validate(t) for t in cfg["tasks"]], tokenizer)
    curriculum = Curriculum(CurriculumConfig.model_validate(cfg["curriculum"]), tasks)
    args = SFTConfig(output_dir=str(tmp_path / "o"), max_steps=4, report_to=[], use_cpu=True,
                     activation_checkpointing=False)
    trainer = SFTTrainer(model=AutoModelForCausalLM.from_pretrained(checkpoint), args=args,
                         train_dataset=train_dataset(curriculum), processing_class=tokenizer)
    with pytest.raises(CurricleError, match=r"ignore_data_skip=True .*\(got ignore_data_skip=False\)"):
        use_curriculum(trainer, curriculum)
    trainer.args.ignore_data_skip = True
    trainer.train_dataset = trainer.train_dataset.remove_columns("curricle_row")
    with pytest.raises(CurricleError, match="has no 'curricle_row' column"):
        use_curriculum(trainer, curriculum)


@pytest.mark.parametrize("on", [True, False])
def test_train_tf32_sets_the_flags_the_built_trainer_keeps(tmp_path, checkpoint, on):
    """On a GPU, the flags ``train.tf32`` asks for; on CPU, none changed. TRL's own ``tf32`` stays
    unset, so building the trainer leaves them as they were set."""
    import torch

    from curricle.finetune.command import build_finetune
    from curricle.finetune.config import FinetuneConfig

    def flags():
        return torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32

    cuda, before = torch.cuda.is_available(), flags()
    cfg = finetune_config(checkpoint)
    cfg["train"].update(use_cpu=not cuda, tf32=on)
    try:
        trainer, _, _ = build_finetune(FinetuneConfig.model_validate(cfg), tmp_path / "run")
        assert trainer.args.tf32 is None
        assert flags() == ((on, on) if cuda else before)
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = before


def test_bad_configs_are_one_line_errors(tmp_path, checkpoint):
    cfg = finetune_config(tmp_path / "nowhere")
    r = cli(write(tmp_path, cfg), "--run-dir", tmp_path / "run")
    assert r.returncode == 2 and "model.path:" in r.stderr and "not an HF checkpoint directory" in r.stderr
    cfg = finetune_config(checkpoint)
    cfg["curriculum"]["stages"][0]["tasks"]["typo"] = 1
    r = cli(write(tmp_path, cfg), "--run-dir", tmp_path / "run")
    assert r.returncode == 2 and "curriculum.stages.0.tasks: unknown task 'typo'" in r.stderr
    cfg = finetune_config(checkpoint)
    cfg["curriculum"]["stages"][0]["advance_when"] = {"task": "reverse", "metric": "acc", "at_least": 0.5}
    r = cli(write(tmp_path, cfg), "--run-dir", tmp_path / "run")
    assert r.returncode == 2 and "task reverse reports exact_match, prob, margin, logprob, not 'acc'" in r.stderr
    r = cli(write(tmp_path, finetune_config(checkpoint)), "--run-dir", tmp_path / "run", "--resume")
    assert r.returncode == 2 and "--resume: no complete checkpoint" in r.stderr


def test_a_plain_hf_trainer_that_tokenizes_the_data_itself(tmp_path, checkpoint):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, Trainer, TrainingArguments

    from curricle.finetune.config import CurriculumConfig
    from curricle.finetune.curriculum import Curriculum
    from curricle.finetune.hf import train_dataset, use_curriculum
    from curricle.tasks.config import TaskConfig
    from curricle.tasks.load import build_tasks

    cfg = finetune_config(checkpoint)
    tokenizer = AutoTokenizer.from_pretrained(checkpoint)
    tasks = build_tasks([TaskConfig.model_validate(t) for t in cfg["tasks"]], tokenizer)
    curriculum = Curriculum(CurriculumConfig.model_validate(cfg["curriculum"]), tasks, seed=0)

    def tokenize(r):  # the loss on the completion only; curricle_row is kept (map keeps columns)
        p, c = tokenizer(r["prompt"]).input_ids, tokenizer(r["completion"] + tokenizer.eos_token).input_ids
        return {"input_ids": p + c, "labels": [-100] * len(p) + c}

    data = train_dataset(curriculum).map(tokenize).shuffle(seed=0)  # its own order: positions differ from rows

    def collate(rows):
        n = max(len(r["input_ids"]) for r in rows)
        pad = tokenizer.pad_token_id
        return {"input_ids": torch.tensor([r["input_ids"] + [pad] * (n - len(r["input_ids"])) for r in rows]),
                "labels": torch.tensor([r["labels"] + [-100] * (n - len(r["labels"])) for r in rows]),
                "attention_mask": torch.tensor([[1] * len(r["input_ids"]) + [0] * (n - len(r["input_ids"]))
                                                for r in rows])}

    args = TrainingArguments(output_dir=str(tmp_path / "out"), max_steps=6, per_device_train_batch_size=4,
                             learning_rate=3e-3, report_to=[], use_cpu=True, ignore_data_skip=True,
                             save_steps=100, logging_steps=1)
    trainer = Trainer(model=AutoModelForCausalLM.from_pretrained(checkpoint), args=args, train_dataset=data,
                      data_collator=collate)
    seen = []
    trainer.model.register_forward_pre_hook(
        lambda m, a, kw: seen.extend(tokenizer.decode(i[i != tokenizer.pad_token_id]) for i in kw["input_ids"])
        if m.training else None, with_kwargs=True)
    with pytest.raises(CurricleError, match="pass tokenizer="):
        use_curriculum(trainer, curriculum)
    use_curriculum(trainer, curriculum, tensorboard=False, trace=True, tokenizer=tokenizer)
    trainer.train()
    order = rows(tmp_path / "out" / "trace/examples.jsonl")
    drawn = [curriculum.rows[r].item for o in order for r in o["rows"]]
    assert len(seen) == len(drawn) == 24
    assert all(text == i.prompt + i.completion + tokenizer.eos_token for text, i in zip(seen, drawn))


def test_two_processes_train_on_the_same_examples_as_one(tmp_path, checkpoint):
    """Under torchrun (DDP, gloo on CPU), 2 processes x 2 examples take each step's 4 examples in
    the curriculum's order, decide the same and log the same losses as 1 process x 4."""
    cfg = finetune_config(checkpoint, steps=8, review={"kind": "leitner", "items_per_task": 4})
    cfg["train"].update(batch_size=2, trace=True)
    ddp = tmp_path / "ddp.yaml"
    ddp.write_text(yaml.safe_dump(cfg))
    cfg["train"]["batch_size"] = 4
    one = tmp_path / "one.yaml"
    one.write_text(yaml.safe_dump(cfg))
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    torchrun = Path(sys.executable).with_name("torchrun")
    r = subprocess.run([str(torchrun), "--nproc_per_node=2", "-m", "curricle.cli", "finetune", str(ddp), "--run-dir",
                        str(tmp_path / "ddp")], env=env, capture_output=True, text=True, cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    assert r.stdout.count("fine-tuned: step 8") == 1  # the table, from the main process only
    assert cli(one, "--run-dir", tmp_path / "one").returncode == 0
    a, b = tmp_path / "ddp", tmp_path / "one"
    assert rows(a / "trace/examples.jsonl") == rows(b / "trace/examples.jsonl")
    assert rows(a / "curriculum_log.jsonl") == rows(b / "curriculum_log.jsonl")
    la = [m["train/loss"] for m in rows(a / "metrics.jsonl") if "train/loss" in m]
    lb = [m["train/loss"] for m in rows(b / "metrics.jsonl") if "train/loss" in m]
    assert len(la) == 8 and la == pytest.approx(lb, abs=1e-5)
