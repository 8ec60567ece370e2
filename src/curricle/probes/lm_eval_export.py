"""Writing probe tasks as lm-evaluation-harness tasks: one YAML file and one data file each.

``export_lm_eval(DIR, tasks)`` writes, per task, ``DIR/curricle_<name>.yaml`` and
``DIR/curricle_<name>.jsonl`` (the items), all tagged ``curricle``, plus
``DIR/curricle_tasks.json`` mapping each lm-eval task to the curricle task, its hash and the
metric both report. Run them with::

    lm_eval --model hf --model_args pretrained=RUN/checkpoints/step_2500,dtype=float32 \\
        --include_path DIR --tasks curricle --device cpu --batch_size 64

The exported settings reproduce curricle's scoring: the prompt is ``doc_to_text``, choices
carry their own leading space (``target_delimiter: ""``), the gold choice is index 0,
generation is greedy until the same stop strings with the same token budget, and text probes
are ``loglikelihood_rolling``. The metric to compare is ``acc`` for multiple choice and
loglikelihood, ``exact_match`` for generation and ``bits_per_byte`` for text probes. The
data files are referenced by absolute path: export again after moving the directory.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Sequence

import yaml

from curricle import atomic
from curricle.errors import CurricleError
from curricle.probes.task import ProbeTask

TAG = "curricle"
#: The metric lm-eval reports that equals curricle's, per output type.
COMPARABLE = {
    "multiple_choice": "acc",
    "loglikelihood": "acc",
    "generate_until": "exact_match",
    "loglikelihood_rolling": "bits_per_byte",
}


def lm_eval_name(task: ProbeTask | str) -> str:
    """``reverse+uppercase`` -> ``curricle_reverse_uppercase`` (lm-eval task names are
    listed comma-separated on its command line, so only word characters)."""
    name = task if isinstance(task, str) else task.name
    return f"{TAG}_" + re.sub(r"[^A-Za-z0-9_]", "_", name)


def _record(task: ProbeTask, item) -> dict[str, Any]:
    rec: dict[str, Any] = {"id": item.id, "prompt": item.prompt, "target": item.target}
    if task.output_type == "multiple_choice":
        rec["choices"] = list(item.choices)
        rec["gold"] = 0
    return rec


def _config(task: ProbeTask, data_file: Path) -> dict[str, Any]:
    cfg: dict[str, Any] = {
        "task": lm_eval_name(task),
        "tag": [TAG],
        "dataset_path": "json",
        "dataset_kwargs": {"data_files": {"test": str(data_file.resolve())}},
        "test_split": "test",
        "output_type": task.output_type,
        "doc_to_text": "prompt",
        "doc_to_target": "target",
        "target_delimiter": "",
    }
    kind = task.output_type
    if kind == "multiple_choice":
        cfg.update(doc_to_target="gold", doc_to_choice="choices",
                   metric_list=[{"metric": "acc", "aggregation": "mean", "higher_is_better": True}])
    elif kind == "loglikelihood":
        cfg["metric_list"] = [{"metric": "acc", "aggregation": "mean", "higher_is_better": True},
                              {"metric": "perplexity", "aggregation": "perplexity", "higher_is_better": False}]
    elif kind == "generate_until":
        cfg["generation_kwargs"] = {"until": list(task.until), "max_gen_toks": task.gen_tokens,
                                    "do_sample": False}
        cfg["metric_list"] = [{"metric": "exact_match", "aggregation": "mean", "higher_is_better": True,
                               "ignore_case": False, "ignore_punctuation": False}]
    elif kind == "loglikelihood_rolling":
        cfg["doc_to_text"] = ""
        cfg["metric_list"] = [{"metric": m, "aggregation": a, "higher_is_better": False} for m, a in (
            ("word_perplexity", "weighted_perplexity"), ("byte_perplexity", "weighted_perplexity"),
            ("bits_per_byte", "bits_per_byte"))]
    cfg["metadata"] = {"version": 1.0, "curricle_task": task.name, "curricle_task_hash": task.hash}
    return cfg


def export_lm_eval(out_dir: Path | str, tasks: Sequence[ProbeTask]) -> dict[str, dict[str, str]]:
    """Write ``tasks`` as lm-eval task YAML + JSON Lines data under ``out_dir``; returns the
    manifest ``{lm-eval task: {task, task_hash, output_type, metric}}``. Two tasks whose names
    are the same lm-eval name (``reverse+uppercase``, ``reverse_uppercase``) are an error,
    before anything is written."""
    named: dict[str, str] = {}
    for task in tasks:
        other = named.setdefault(lm_eval_name(task), task.name)
        if other != task.name:
            raise CurricleError(f"tasks {other!r} and {task.name!r} are both exported as lm-eval task "
                                f"{lm_eval_name(task)}; rename one")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    manifest = {}
    for task in tasks:
        name = lm_eval_name(task)
        data = out_dir / f"{name}.jsonl"
        atomic.write_text(data, "".join(json.dumps(_record(task, i), ensure_ascii=False) + "\n" for i in task.items))
        atomic.write_text(out_dir / f"{name}.yaml",
                          f"# Written by curricle (curricle probe --export-lm-eval); task hash {task.hash}.\n"
                          + yaml.safe_dump(_config(task, data), sort_keys=False, allow_unicode=True))
        manifest[name] = {"task": task.name, "task_hash": task.hash, "output_type": task.output_type,
                          "metric": COMPARABLE[task.output_type]}
    atomic.write_json(out_dir / "curricle_tasks.json", manifest)
    return manifest


def curricle_metric(output_type: str) -> str:
    """The curricle metric that equals :data:`COMPARABLE`'s lm-eval one."""
    return COMPARABLE[output_type]
