"""The lm-evaluation-harness export, and lm-eval agreeing with curricle on a checkpoint."""

import json
import os

import pytest
import yaml

from curricle.errors import CurricleError
from curricle.probes import SCORERS, SuiteConfig, builtin_tasks, export_lm_eval, parse_task
from curricle.probes.lm_eval_export import COMPARABLE, lm_eval_name


@pytest.fixture(scope="module")
def tasks(probe_run):
    _, data_dir = probe_run
    return builtin_tasks(SuiteConfig(n=8, tasks=["agreement", "arithmetic", "brackets", "prose-loss"],
                                     text_passages=3), data_dir=data_dir)


def test_export_writes_task_yaml_and_items(tasks, tmp_path):
    manifest = export_lm_eval(tmp_path, tasks)
    assert set(manifest) == {"curricle_agreement", "curricle_arithmetic", "curricle_brackets", "curricle_prose_loss"}
    assert lm_eval_name("reverse+uppercase") == "curricle_reverse_uppercase"
    cfg = yaml.safe_load((tmp_path / "curricle_brackets.yaml").read_text())
    assert cfg["output_type"] == "multiple_choice" and cfg["tag"] == ["curricle"]
    assert cfg["target_delimiter"] == "" and cfg["doc_to_choice"] == "choices" and cfg["doc_to_target"] == "gold"
    data = cfg["dataset_kwargs"]["data_files"]["test"]
    records = [json.loads(line) for line in open(data)]
    by_name = {t.name: t for t in tasks}
    item = by_name["brackets"].items[0]
    assert records[0] == {"id": item.id, "prompt": item.prompt, "target": item.target,
                          "choices": list(item.choices), "gold": 0}
    gen = yaml.safe_load((tmp_path / "curricle_arithmetic.yaml").read_text())
    budget = by_name["arithmetic"].gen_tokens
    assert gen["generation_kwargs"] == {"until": ["\n"], "max_gen_toks": budget, "do_sample": False}
    text = yaml.safe_load((tmp_path / "curricle_prose_loss.yaml").read_text())
    assert text["output_type"] == "loglikelihood_rolling" and text["doc_to_target"] == "target"
    saved = json.loads((tmp_path / "curricle_tasks.json").read_text())
    assert saved["curricle_prose_loss"]["metric"] == "bits_per_byte"


def test_two_tasks_with_the_same_lm_eval_name_are_an_error(tmp_path):
    tasks = [parse_task({"task": name, "output_type": "loglikelihood", "items": [{"prompt": "a", "target": " b"}]},
                        "t") for name in ("reverse+uppercase", "reverse_uppercase")]
    with pytest.raises(CurricleError, match=r"^tasks 'reverse\+uppercase' and 'reverse_uppercase' are both exported "
                                            r"as lm-eval task curricle_reverse_uppercase; rename one$"):
        export_lm_eval(tmp_path, tasks)
    assert list(tmp_path.iterdir()) == []  # nothing written


def test_lm_eval_agrees_with_curricle(tasks, lm, checkpoint, tmp_path):
    lm_eval = pytest.importorskip("lm_eval")
    from lm_eval.tasks import TaskManager

    os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
    manifest = export_lm_eval(tmp_path, tasks)
    res = lm_eval.simple_evaluate(model="hf", model_args=f"pretrained={checkpoint},dtype=float32",
                                  tasks=["curricle"], task_manager=TaskManager(include_path=str(tmp_path),
                                                                               include_defaults=False),
                                  device="cpu", batch_size=4, log_samples=False)
    for task in tasks:
        metric = COMPARABLE[task.output_type]
        ours = SCORERS[task.output_type].score(lm, task).metrics[metric]
        theirs = res["results"][lm_eval_name(task)][f"{metric},none"]
        assert ours == pytest.approx(theirs, abs=1e-6), (task.name, manifest[lm_eval_name(task)])
