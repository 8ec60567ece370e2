"""Render the README's performance table from the benchmarks' results files.

Usage::

    .venv/bin/python benchmarks/render_tables.py            # rewrite the table in README.md
    .venv/bin/python benchmarks/render_tables.py --check    # exit 1, with a diff, if README.md differs

The table sits in README.md's "Performance" section between ``<!-- perf-table:start -->`` and
``<!-- perf-table:end -->``; nothing outside them is touched. Each benchmark program's last run
is ``benchmarks/results/<name>.json`` (``--quick``; ``<name>.full.json`` for a full run, see
``common.py``), and its rows come from it:

- *benchmark*, *what is compared*: the program and mode, and text kept here per benchmark,
  with the run's own sizes (repeats, seeds, items, budgets) from its JSON;
- *result*: the key figures of the JSON line the program printed last;
- *target*: met or missed, from the program's own verdicts where it reports them, else from
  the values against the program's thresholds;
- *measured*: the commit (``+dirty`` when the tree had changes), the date, and the machine
  (cores, torch threads, GPU, load) the figures came from. A file rebuilt from the README's
  figures (before results files existed) says so, with the commit that landed them.

A figure given as ``[low, high]`` (only in a file rebuilt from the README's ranges over
several runs) prints as ``low-high``. After a benchmark's rerun, render again; the test suite
fails while README.md and the results files disagree.
"""

from __future__ import annotations

import argparse
import difflib
import json
import re
import sys
from pathlib import Path
from typing import Any, Callable

BENCHMARKS = Path(__file__).resolve().parent
RESULTS = BENCHMARKS / "results"
README = BENCHMARKS.parent / "README.md"
START = "<!-- perf-table:start -->"
END = "<!-- perf-table:end -->"
HEADER = ("| benchmark | what is compared | result | target | measured |\n"
          "| --- | --- | --- | --- | --- |")
NOTE = ("<!-- Rendered by `python benchmarks/render_tables.py` from benchmarks/results/*.json: "
        "rerun a benchmark (or fix its results file) and render again; edits here are overwritten. -->")

WORDS = {1: "one", 2: "two", 3: "three"}

Files = dict[str, dict[str, Any]]
Row = tuple[str, str, str, str, str]


# -- formatting --------------------------------------------------------------------------------


def num(v: Any, spec: str, scale: float = 1.0) -> str:
    """``v`` formatted with ``spec``; a ``[low, high]`` pair (a range over runs) as ``low-high``."""
    if isinstance(v, (list, tuple)):
        lo, hi = (format(x * scale, spec) for x in v)
        return lo if lo == hi else f"{lo}-{hi}"
    return format(v * scale, spec)


def mtok(v: Any) -> str:
    return num(v, ".0f", 1e-6) + "M"


def sci(x: float) -> str:
    """5.499e-08 -> 5e-8."""
    return re.sub(r"e([+-])0*(\d)", r"e\1\2", format(x, ".0e")).replace("e+", "e")


def short(x: float) -> str:
    """At most three decimals, at least one: 1.0, 0.987."""
    s = f"{x:.3f}".rstrip("0")
    return s + "0" if s.endswith(".") else s


def low(v: Any) -> float:
    return min(v) if isinstance(v, (list, tuple)) else v


def high(v: Any) -> float:
    return max(v) if isinstance(v, (list, tuple)) else v


def mean_of(v: Any) -> float:
    """A spread's mean (``{"mean": ...}``), or the number itself (a line abridged to means)."""
    return v["mean"] if isinstance(v, dict) else v


def check(value: Any, spec: str) -> bool | str:
    """``value`` against a ``">= 1.3"``-style threshold; for a range, met only if both ends are."""
    op, threshold = spec.split()[:2]
    test: Callable[[float], bool] = (lambda x: x >= float(threshold)) if op == ">=" else (lambda x: x <= float(threshold))
    ends = [test(low(value)), test(high(value))]
    return True if all(ends) else False if not any(ends) else "met in some runs"


def verdict(met: bool | str | None) -> str:
    if isinstance(met, str):  # a verdict over several runs, in a rebuilt file
        return met
    return "met" if met else "**missed**"


def seeds_text(seeds: list[int]) -> str:
    if len(seeds) > 2 and seeds == list(range(seeds[0], seeds[-1] + 1)):
        return f"{seeds[0]}-{seeds[-1]}"
    return ", ".join(map(str, seeds))


def derived(r: dict[str, Any], key: str, compute: Callable[[dict[str, Any]], float]) -> float:
    """A figure the table derives from the result's fields; a rebuilt file whose README gave
    only the derived figure holds it under ``result["derived"]``."""
    return r["derived"][key] if key in r.get("derived", {}) else compute(r)


# -- provenance --------------------------------------------------------------------------------


def provenance(rec: dict[str, Any]) -> str:
    m = rec["machine"]
    commit = rec["commit"]
    ref = "no commit" if commit is None else f"`{commit[:7]}{'+dirty' if commit.endswith('+dirty') else ''}`"
    hw = [f"{m['cores']} cores"]
    if m.get("torch_threads"):
        hw.append(f"{m['torch_threads']} torch thread{'s' if m['torch_threads'] > 1 else ''}")
    hw.append(m["gpu"] or "no GPU")
    parts = [f"{ref} {rec['date'][:10]}", ", ".join(hw)]
    load = m.get("load")
    if isinstance(load, (int, float)):
        parts.append(f"load {load:.1f}")
    elif load:
        parts.append(load)  # the README's words, in a rebuilt file
    if "reconstructed_from" in rec:
        parts.append("rebuilt from the README")
    return "; ".join(parts)


def provenances(*labelled: tuple[str, dict[str, Any] | None]) -> str:
    """One provenance when the row's files share it, else each with its label."""
    present = [(label, provenance(rec)) for label, rec in labelled if rec is not None]
    if len({p for _, p in present}) == 1:
        return present[0][1]
    return "; ".join(f"{label}: {p}" for label, p in present)


def primary(files: Files, name: str) -> dict[str, Any]:
    """The benchmark's quick run, else its full run."""
    for stem in (name, f"{name}.full"):
        if stem in files:
            return files[stem]
    raise SystemExit(f"benchmarks/results/{name}.json is missing: run benchmarks/{name}.py --quick")


def companion(files: Files, rec: dict[str, Any], variant: str) -> dict[str, Any] | None:
    """The variant's file in the same mode as ``rec``."""
    return files.get(f"{rec['benchmark']}.{variant}" + ("" if rec["mode"] == "quick" else ".full"))


def label(rec: dict[str, Any], extra: str = "") -> str:
    return f"`{rec['benchmark']}.py{' --quick' if rec['mode'] == 'quick' else ''}`{extra}"


# -- one function per benchmark, in the README's order -----------------------------------------


def sampler_rows(files: Files) -> list[Row]:
    rec = primary(files, "sampler_throughput")
    r = rec["result"]
    runs = f" ({r['runs']} runs)" if r.get("runs") else ""
    t = r["targets"]
    lit = r.get("litdata_tokens_per_s")
    litdata = (f"**{num(r['speedup_vs_litdata'], '.1f')}x** litdata `CombinedStreamingDataset` ({mtok(lit)}, fixed weights)"
               if lit else f"litdata not timed ({r.get('litdata_skipped_reason')})")
    rows = [(
        label(rec),
        f"tokens/s served, 5 domains, weights changed every step, 32 x 1024-token rows{runs}",
        f"curricle {mtok(r['tokens_per_s'])} tok/s; **{num(r['ratio_vs_raw'], '.2f')}x** raw memmap reads "
        f"({mtok(r['raw_tokens_per_s'])}); **{num(r['speedup_vs_hf_interleave'], '.1f')}x** HF `interleave_datasets` "
        f"({mtok(r['hf_interleave_tokens_per_s'])}, fixed weights); {litdata}",
        f"{t['ratio_vs_raw']['target']:g}x raw: {verdict(t['ratio_vs_raw']['met'])}; "
        f"{t['speedup_vs_hf_interleave']['target']:g}x HF: {verdict(t['speedup_vs_hf_interleave']['met'])}",
        provenance(rec),
    )]
    s = r.get("domain_sweep")
    if s and "domain_cost" in t:  # a sweep of two or more domain counts
        counts = s["domain_counts"]
        lo, hi = min(counts), max(counts)
        medians, means = s["cost_ratio"], s[f"cost_{hi}_vs_{lo}_of_means"]
        result = (" / ".join(num(s["us_per_step"][str(n)], ".0f") for n in counts) + " µs a step; "
                  f"`cost_{hi}_vs_{lo}` **{num(medians, '.2f')}** on the median of rounds, {num(means, '.2f')} on their mean")
        if low(means) > high(medians):
            result += f" ({hi} domains' read-ahead layouts come in bursts)"
        if len(counts) > 2:
            mid = counts[-2]
            result += f"; {mid} to {hi} domains: {num(s[f'cost_{hi}_vs_{mid}'], '.2f')}x"
        cap = t["domain_cost"]["cost_ratio"]
        rows.append((
            label(rec, f", `--domains {','.join(map(str, counts))}`"),
            "one step's time as domains grow, the same 32 x 1025 tokens a step, synthetic stores, after every "
            f"domain's second epoch{runs}",
            result,
            f"<= {cap:g}: {verdict(t['domain_cost']['met'])} on the median, {verdict(check(means, f'<= {cap}'))} on the mean",
            provenance(rec),
        ))
    return rows


def train_memory_rows(files: Files) -> list[Row]:
    rec = primary(files, "train_memory")
    r = rec["result"]
    measure = "CPU peak RSS growth" if r["device"] == "cpu" else "CUDA max allocated"
    speed = [derived(r, f"step_speedup_{k}", lambda r, k=k: r[f"seconds_full_logits_{k}"] / r[f"seconds_curricle_{k}"])
             for k in ("32k", "128k")]
    faster = (f"the step is also {speed[0]:.1f}x / {speed[1]:.1f}x faster" if min(speed) >= 1
              else f"the step's speed: {speed[0]:.1f}x / {speed[1]:.1f}x the full-logits one")
    return [(
        label(rec),
        f"one training step's loss-path memory, curricle's fused chunked loss vs full fp32 logits, {r['rows']} x "
        f"{r['seq_len']} tokens, a small Llama body, vocabulary 32k and 128k ({measure}, {r['repeats']} repeats)",
        f"**{r['ratio_32k']:.3f}x** at 32k ({r['curricle_mb_32k']:,.0f} vs {r['full_logits_mb_32k']:,.0f} MB), "
        f"{r['ratio_128k']:.3f}x at 128k ({r['curricle_mb_128k']:,.0f} vs {r['full_logits_mb_128k']:,.0f} MB); {faster}",
        f"{r['target'].split(' ', 1)[1]}: {verdict(r['target_met'])}",
        provenance(rec),
    )]


def prepare_rows(files: Files) -> list[Row]:
    rec = primary(files, "prepare_throughput")
    r = rec["result"]
    t = r["targets"]
    x = r["speedup_vs_hf_map"]
    lo, hi = r["speedup_range"]
    if r["speedup_met"] == r["memory_met"]:
        target = f"{t['speedup_vs_hf_map']} and {t['rss_growth_ratio']}: {verdict(r['speedup_met'])}"
    else:
        target = (f"{t['speedup_vs_hf_map']}: {verdict(r['speedup_met'])}; "
                  f"{t['rss_growth_ratio']}: {verdict(r['memory_met'])}")
    return [(
        label(rec),
        f"{r['corpus_text_mb']:.0f} MB of JSONL ({r['corpus_docs']:,} standard-library documents) tokenized by "
        "`curricle prepare` and by `datasets.load_dataset` + `.map(tokenizer, batched=True, num_proc=2)`, the same "
        f"8192-token BPE ({r['repeats']} repeats)",
        f"**{x:.2f}x** {'faster' if x >= 1 else 'as fast'} ({r['curricle_seconds']:.1f} s vs {r['hf_map_seconds']:.1f} s; "
        f"{lo:.2f}-{hi:.2f}x); peak RSS {r['peak_rss_mb']:.0f} MB (each worker {r['workers_peak_rss_mb']:.0f} MB); "
        f"at {2 * r['corpus_text_mb']:.0f} MB {r['peak_rss_mb_2x']:.0f} MB: growth **{r['rss_growth_ratio']:.3f}**",
        target,
        provenance(rec),
    )]


def curation_rows(files: Files) -> list[Row]:
    rec = primary(files, "curation")
    r = rec["result"]
    met = r["targets_met"]
    # The thresholds are curation.py's TARGET_F1 and TARGET_DECONTAM_RECALL.
    if met["dedup_f1"] == met["decontam_recall"]:
        target = f"F1 >= 0.95, recall >= 0.99: {verdict(met['dedup_f1'])}"
    else:
        target = f"F1 >= 0.95: {verdict(met['dedup_f1'])}; recall >= 0.99: {verdict(met['decontam_recall'])}"
    return [(
        label(rec),
        "near-duplicate removal on a built-in corpus with planted copies (0-3 % edits: duplicates; 10 %: distinct) "
        "and planted contamination, vs datatrove's MinHash deduplication on the same corpus",
        f"dedup F1 **{r['dedup_f1']:.3f}** (precision {r['dedup_precision']:.3f}, recall {r['dedup_recall']:.3f}) vs "
        f"datatrove {r['datatrove_minhash']['f1']:.3f}; decontamination recall **{short(r['decontam_recall'])}** "
        f"({r['decontam_false_positives']} false positives); {r['docs_per_s']:.0f} docs/s for the whole funnel (2 workers)",
        target,
        provenance(rec),
    )]


def probe_rows(files: Files) -> list[Row]:
    rec = primary(files, "probe_speed")
    r = rec["result"]
    full = files.get("probe_speed.full") if rec["mode"] == "quick" else None
    extra = ""
    if full:
        f = full["result"]
        extra = (f"; full mode, {f['checkpoints']} checkpoints: {f['speedup_vs_lm_eval']:.2f}x, "
                 f"{f['scores_compared'] - f['scores_outside_one_se']}/{f['scores_compared']} within one SE")
    agree = r["scores_compared"] - r["scores_outside_one_se"]
    return [(
        label(rec),
        f"the built-in suite ({r['tasks']} tasks, {r['items']:,} items) over {r['checkpoints']} checkpoints, curricle "
        f"vs lm-evaluation-harness {r['versions']['lm_eval']} on the exported tasks",
        f"**{r['speedup_vs_lm_eval']:.2f}x** faster ({r['curricle_s']:.1f} s vs {r['lm_eval_s']:.1f} s{extra}); "
        f"{agree}/{r['scores_compared']} scores within one standard error, max difference {sci(r['max_abs_score_diff'])}",
        f"{r['target_speedup']:g}x: {verdict(r['meets_target'])}",
        provenances(("quick", rec), ("full", full)),
    )]


def mixing_rows(files: Files) -> list[Row]:
    rec = primary(files, "mixing")
    r = rec["result"]
    suites = r["suites"]
    # The line abridged in a closing note keeps the verdicts as targets itself; the program's as targets.met.
    met = r["targets"].get("met", r["targets"])
    parts, target = [], []
    if "builtin" in suites:
        oracle = r.get("details", {}).get("builtin", {}).get("oracle", {}).get("weights")
        itself = " (uniform itself)" if oracle and max(oracle.values()) - min(oracle.values()) < 1e-4 else ""
        ci, wci = r["best_speedup_ci"], r["worst_domain_delta_ci"]
        word = "worse" if wci[0] > 0 else "better" if wci[1] < 0 else "no different"
        captured = "n/a" if r["captured_fraction"] is None else f"{r['captured_fraction']:.2f}"
        oracle_s = "n/a" if r["oracle_speedup"] is None else f"{r['oracle_speedup']:.3f}"
        parts.append(f"builtin: best `{r['best_method']}` **S {r['best_speedup']:.3f}** [{ci[0]:.3f}, {ci[1]:.3f}], "
                     f"oracle {oracle_s}{itself}, captured {captured}, {r['worst_domain']} "
                     f"{r['worst_domain_delta']:+.3f} {word} [{wci[0]:.3f}, {wci[1]:.3f}]")
        builtin_met = all(met[k] for k in ("builtin_best_speedup", "builtin_captured_fraction", "builtin_no_domain_worse"))
        target.append(f"builtin S >= 1.15 with CI above 1, captured >= 0.5, no domain worse: {verdict(builtin_met)}")
    if "null" in suites:
        parts.append(f"null: max abs log S **{r['null_max_abs_log_speedup']:.3f}** "
                     f"({r['null_max_abs_log_speedup_calibrated']:.3f} calibrated)")
        target.append(f"null within 5%: {verdict(met['null_within_5pct'])}")
    if "entropy" in suites:
        e = suites["entropy"]
        ci = e["doremi_speedup_ci"]
        parts.append(f"entropy: two-stage DoReMi **S {e['doremi_speedup']:.3f}** [{ci[0]:.3f}, {ci[1]:.3f}] "
                     f"({e['doremi_speedup_calibrated']:.3f} calibrated), oracle {e['oracle_speedup']:.3f}")
        target.append(f"entropy DoReMi >= 1.2: {verdict(met['entropy_doremi'])} ({e['doremi_speedup']:.2f})")
    aioli = {name: h for name, h in suites.items() if "aioli_speedup" in h}
    if aioli:  # its evaluations charged to its budget, beside uniform T's own S
        parts.append("aioli (evaluations charged): " + ", ".join(
            f"{name} **S {h['aioli_speedup']:.3f}** [{h['aioli_speedup_ci'][0]:.3f}, {h['aioli_speedup_ci'][1]:.3f}] "
            f"vs uniform T {h['uniform_own_speedup']:.3f}"
            + (f" (its ceiling at eta {h['aioli_reach_eta']:g}: {h['aioli_reach_speedup']:.3f})"
               if "aioli_reach_speedup" in h else "") for name, h in aioli.items()))
        judged = [k for k in met if k.endswith("_aioli_at_or_above_uniform")]
        if judged:
            names = ", ".join(k.removesuffix("_aioli_at_or_above_uniform") for k in judged)
            target.append(f"aioli at or above uniform T, interval not below 1 ({names}): "
                          f"{verdict(all(met[k] for k in judged))}")
    preset = r["settings"]["preset"]
    methods = ("10 mixing methods (static, phased, ODM, ADO, two-stage DoReMi, Aioli, hard examples, mix-search)"
               if aioli else "9 mixing methods (static, phased, ODM, ADO, two-stage DoReMi, hard examples, mix-search)")
    return [(
        label(rec),
        f"{methods} and an oracle of "
        f"static mixtures against uniform, {preset} model, {len(r['settings']['seeds'])} seeds paired with uniform, "
        "test half of held-out documents, `S` from uniform's power-law curve at 0.5-2x the budget; "
        f"{WORDS.get(len(suites), len(suites))} suites (details under \"Adapting the mixture\")",
        "; ".join(parts),
        "; ".join(target),
        provenance(rec),
    )]


def finetune_rows(files: Files) -> list[Row]:
    rec = primary(files, "finetune_curriculum")
    r = rec["result"]
    sp, bc, bs, met = r["curriculum_speedup_vs_mixed"], r["bwt_curriculum"], r["bwt_sequential"], r["targets"]["met"]
    em = r["mean_em"]

    def ci(x: dict[str, Any]) -> str:
        return f"[{x['ci'][0]:.2f}, {x['ci'][1]:.2f}]"

    per_seed = " / ".join(x if isinstance(x, str) else "n/a" if x is None else f"{x:.2f}" for x in sp["per_seed"])
    half = (bc["ci"][1] - bc["ci"][0]) / 2
    schedule = r.get("lr_scheduler", "constant_with_warmup")
    constant = companion(files, rec, "constant-with-warmup") if schedule != "constant_with_warmup" else None
    beside = ""
    if constant is not None:
        c = constant["result"]
        cs, cb, cem = c["curriculum_speedup_vs_mixed"], c["bwt_curriculum"], c["mean_em"]
        other = (f" (run at {constant['commit'][:7]})"
                 if constant.get("commit", "")[:7] != rec.get("commit", "")[:7] else "")
        beside = (f". At a constant rate (`--lr-scheduler constant_with_warmup`){other}: {cs['mean']:.2f}x {ci(cs)}, BWT "
                   f"curriculum {cb['mean']:.3f} {ci(cb)}, mean EM curriculum {cem['curriculum']['mean']:.3f}, mixed "
                   f"{cem['mixed']['mean']:.3f}")
    checks, resolved = [], ""
    for n in (2, 6):  # the checks at twice and six times the seeds
        more = companion(files, rec, f"seeds-{n * len(r['seeds'])}")
        if more is not None:
            m = more["result"]
            ms, mb = m["curriculum_speedup_vs_mixed"], m["bwt_curriculum"]
            checks.append(f"seeds {seeds_text(m['seeds'])}: {ms['mean']:.2f}x {ci(ms)}, BWT curriculum "
                          f"{mb['mean']:.3f} {ci(mb)} (half-width {(mb['ci'][1] - mb['ci'][0]) / 2:.3f}; targets met: "
                          f"speedup {verdict(m['targets']['met']['curriculum_speedup_vs_mixed'])}, BWT "
                          f"{verdict(m['targets']['met']['bwt_curriculum'])})")
            if n == 6:  # enough seeds to resolve BWT: its verdict beside the primary's
                resolved = (f"; at seeds {seeds_text(m['seeds'])}: speedup "
                            f"{verdict(m['targets']['met']['curriculum_speedup_vs_mixed'])}, BWT "
                            f"{verdict(m['targets']['met']['bwt_curriculum'])} (half-width "
                            f"{(mb['ci'][1] - mb['ci'][0]) / 2:.3f})")
    if checks:
        beside += ". Checks at more seeds: " + "; ".join(checks)
    return [(
        label(rec),
        "curriculum fine-tuning (pacing, milestones, Leitner review with a floor and held-out tests, revisits at 2 "
        "standard errors) against mixed and sequential training, TRL `SFTTrainer`, equal examples "
        f"({r['steps']} x {r['examples'] // r['steps']}), `{schedule}` learning-rate schedule for every method, "
        f"tiny-1m base, {r['heldout_items_per_task']} held-out items "
        f"a task, seeds {seeds_text(r['seeds'])} paired, means with 95% bootstrap intervals over seeds (details under "
        "\"Fine-tuning with a curriculum\")",
        f"**{sp['mean']:.2f}x** {ci(sp)} fewer examples to mixed's final mean held-out exact match ({per_seed} per "
        f"seed; never counts as 0); BWT curriculum **{bc['mean']:.3f}** {ci(bc)}, sequential {bs['mean']:.3f} "
        f"{ci(bs)}; mean EM " + ", ".join(f"{m} {em[m]['mean']:.3f}" for m in ("curriculum", "mixed", "sequential"))
        + beside,
        f"speedup >= 1.3 with its interval above 1: {verdict(met['curriculum_speedup_vs_mixed'])}; BWT curriculum "
        f">= -0.02 with half-width < 0.04: {verdict(met['bwt_curriculum'])} (half-width {half:.3f}){resolved}",
        provenance(rec),
    )]


def rl_best(r: dict[str, Any], methods: dict[str, Any]) -> str | None:
    """The headline's best of an RL results file's ``methods``: the fastest by mean speedup of those
    whose worst rung is no lower than uniform's (a reference, ``oracle-gate``, never)."""
    kept = [m for m, v in methods.items() if "speedup" in v and m != "oracle-gate"
            and v["worst_rung"] >= r["uniform_worst_rung"] - 1e-12]
    return max(kept, key=lambda m: methods[m]["speedup"]["mean"]) if kept else None


def batch_met(r: dict[str, Any], methods: dict[str, Any] | None = None) -> bool:
    """The speedup target, by the headline's rule: its best (:func:`rl_best`) at >= 1.5x with its
    interval above 1."""
    methods = r["methods"] if methods is None else methods
    best = rl_best(r, methods)
    return best is not None and methods[best]["speedup"]["mean"] >= 1.5 and methods[best]["speedup"]["ci"][0] > 1


def rl_rows(files: Files) -> list[Row]:
    rec = primary(files, "rl_curriculum")
    more = companion(files, rec, "more-methods")  # the other methods, against the same uniform runs
    oracle = companion(files, rec, "oracle")  # the measured gate ceiling (a reference, never a method of the row)
    r = rec["result"]
    methods = dict(r["methods"])
    if more:
        methods.update({m: v for m, v in more["result"]["methods"].items() if m not in methods})

    def ci(x: dict[str, Any], digits: int = 2) -> str:
        lo, hi = x["ci"]
        return f"{x['mean']:.{digits}f} ({lo:.{digits}f}-{hi:.{digits}f})"

    def speed(m: str, of: dict[str, Any] = methods) -> str:
        per_seed = of[m].get("speedup_per_seed") or []
        return "never" if per_seed and all(x == "never" for x in per_seed) else ci(of[m]["speedup"])

    curricula = [m for m in methods if "speedup" in methods[m]]
    ranked = sorted(curricula, key=lambda m: -methods[m]["speedup"]["mean"])
    best = rl_best(r, methods)
    if best is not None:
        head = (f"best: **`{best}`**, **{ci(methods[best]['speedup'])}x** fewer rollouts to uniform's final sampled "
                f"pass@1 (95% interval over seeds), its worst rung kept")
    else:
        head = "**no method keeps uniform's worst rung**"
    speeds = "; speedups " + ", ".join(f"{m} {speed(m)}" for m in ranked)
    u = methods["uniform"]["final_pass1"]
    finals = (f"; uniform's final sampled pass@1 {u['mean']:.3f} (base {r['base']['pass1']['mean']:.3f}), uniform "
              f"wastes {r['uniform_zero_variance_share']:.0%} of its groups (ceiling {r['ceiling']:.2f}x)")
    if oracle:
        finals += (f"; a gate that knew which groups come out all right or all wrong (`oracle-gate`, its extra "
                   f"rollouts free) gets there **{ci(oracle['result']['gate_ceiling'])}x** sooner in steps (the "
                   "gate ceiling, measured)")
    # The same steps at B prompts a step (B x 8 rollouts a step).
    batches = [b for b in (companion(files, rec, f"batch-{n}") for n in (16, 64)) if b]
    for b in batches:
        br = b["result"]
        gate = ", ".join(f"{m} {speed(m, br['methods'])}" for m in br["methods"] if "speedup" in br["methods"][m])
        finals += (f"; at {br['prompts_per_step']} prompts a step (`--batch {br['prompts_per_step']}`, "
                   f"{br['rollout_budget']:,} rollouts): uniform wastes {br['uniform_zero_variance_share']:.0%} "
                   f"(ceiling {br['ceiling']:.2f}x), gate ceiling **{ci(br['gate_ceiling'])}x**, {gate}")
    gap = r.get("random_reward_gap")
    control = f"; graded minus coin **{ci(gap, 3)}**" if gap else ""
    speed_met = batch_met(r, methods)
    gap_met = gap is not None and gap["ci"][0] > 0
    extra = "".join(f" and `--methods ... --variant {v}`" for v, f in (("more-methods", more), ("oracle", oracle)) if f)
    extra += "".join(f" and `--batch {b['result']['prompts_per_step']} ...`" for b in batches)
    return [(
        label(rec, extra),
        f"{len(curricula)} prompt curricula and gates and a random-reward control against uniform sampling, TRL "
        f"`GRPOTrainer`, equal rollouts ({r['rollout_budget']:,}), tiny-1m base after SFT on a ladder of `reverse` "
        f"lengths 2-7, RL prompts disjoint from it, sampled pass@1 ({r['samples_per_item']} samples x "
        f"{r['test_items_per_rung']} test items a rung), seeds {seeds_text(r['seeds'])} (details under \"Post-training\")",
        f"{head}{speeds}{finals}{control}",
        f"speedup >= 1.5 with its interval above 1 and the worst rung kept: {verdict(speed_met)}"
        + "".join(f" (at --batch {b['result']['prompts_per_step']}: {verdict(batch_met(b['result']))})"
                  for b in batches)
        + "; graded minus coin "
        f"above 0 with its interval: {verdict(gap_met)}",
        provenances(("quick", rec), ("more methods", more), ("oracle", oracle),
                    *((f"batch {b['result']['prompts_per_step']}", b) for b in batches)),
    )]


def train_overhead_rows(files: Files) -> list[Row]:
    rec = primary(files, "train_overhead")
    r = rec["result"]
    like = companion(files, rec, "unchunked-loss")

    def interval(x: dict[str, Any]) -> str:
        ci = x.get("overhead_ratio_ci95")
        return f" (95% interval {ci[0]:.3f}-{ci[1]:.3f})" if ci else ""

    result = f"overhead ratio **{r['overhead_ratio']:.3f}**{interval(r)} with the default loss"
    if r["overhead_ratio"] < 1:
        result += " (curricle's fused chunked loss is faster than the bare loop's full-logits one)"
    met = r["target_met"]
    if like:
        v = like["result"]
        result += (f"; **{v['overhead_ratio']:.3f}**{interval(v)} with `train.loss_chunk_tokens: null`, the same loss "
                   "as the bare loop")
        met = met and v["target_met"]
    signals = companion(files, rec, "hard-examples-margin")
    plain = companion(files, rec, "hard-examples-loss-no-signals")
    if signals and plain:
        v, w = signals["result"], plain["result"]
        result += (f"; `hard-examples` ranking by `score: margin` with every difficulty signal "
                   f"**{v['overhead_ratio']:.3f}**{interval(v)}, by loss without signals {w['overhead_ratio']:.3f}"
                   f"{interval(w)}")
    return [(
        label(rec),
        "steps/s of `Trainer.fit()` with all per-step telemetry (per-domain loss, guard, metrics.jsonl, TensorBoard, "
        f"progress) vs a bare PyTorch loop on the same batches, {r['model_preset']}, {r['batch_rows']} x {r['seq_len']}",
        result,
        f"<= {r['target']:g}: {verdict(met)}",
        provenances(("default loss", rec), ("unchunked loss", like), ("hard-examples", signals)),
    )]


def hard_examples_rows(files: Files) -> list[Row]:
    rec = primary(files, "hard_examples")
    r = rec["result"]
    s = r["settings"]

    def ci(x: list[float]) -> str:
        return f"[{x[0]:.2f}, {x[1]:.2f}]"

    prune = ", ".join(f"{m} {v['speedup']:.2f} {ci(v['ci'])}" for m, v in r["prune_speedups"].items())
    g = r["augment_gain"]
    w = r["worst_group_loss"]
    d = r["worst_group_delta_vs_uniform"]
    vs = r["prune_best_over_random"]
    result = (f"pruning: best `{r['prune_best_metric']}` **{r['prune_best_speedup']:.2f}x** {ci(r['prune_best_speedup_ci'])} "
              f"fewer tokens to the full data's held-out loss, random pruning's best {r['prune_random_speedup']:.2f}x "
              f"{ci(r['prune_random_speedup_ci'])}, paired ratio to random at the same fraction {vs['ratio']:.2f} "
              f"{ci(vs['ci'])} ({prune})"
              + (f"; estimated ceiling (a pruned arm's prose losses with the full data's boilerplate losses, no run) "
                 f"{r['prune_composite_bound']['speedup']:.2f}x {ci(r['prune_composite_bound']['ci'])}, from "
                 f"`{r['prune_composite_bound']['source']}`" if "prune_composite_bound" in r else "")
              + f"; augmentation: failing levels' final accuracy **{g['mean']:+.3f}** "
              f"(standard error {g['stderr']:.3f}"
              + (f" over the {len(g['per_seed'])} seeds with a level failing at the start; "
                 f"{r['augment_final_acc']['start']:.3f} at the start, {r['augment_final_acc']['base']:.3f} without, "
                 f"{r['augment_final_acc']['augment']:.3f} with" if "augment_start_acc" in r
                 else f"; {r['augment_final_acc']['base']:.3f} without")
              + (f"; the skill's {r['augment_skill_docs']} documents read {r['augment_skill_passes']:g} times in a run"
                 if "augment_skill_docs" in r else "") + "); worst-group held-out "
              f"loss uniform {w['uniform']:.3f}, hard-examples {w['hard-examples']:.3f} ({d['hard-examples']['mean']:+.3f} "
              f"{ci(d['hard-examples']['ci'])}), with floors **{w['floors']:.3f}** ({d['floors']['mean']:+.3f} "
              f"{ci(d['floors']['ci'])})")
    fair, fair_met = companion(files, rec, "fairness.seeds-30"), ""  # the floors' check at thirty seeds
    if fair is not None:
        fw, fd = fair["result"]["worst_group_loss"], fair["result"]["worst_group_delta_vs_uniform"]
        seeds = seeds_text(fair["result"]["settings"]["seeds"])
        result += (f"; at seeds {seeds} (a check): uniform {fw['uniform']:.3f}, hard-examples "
                   f"{fw['hard-examples']:.3f} ({fd['hard-examples']['mean']:+.3f} {ci(fd['hard-examples']['ci'])}), "
                   f"floors {fw['floors']:.3f} ({fd['floors']['mean']:+.3f} {ci(fd['floors']['ci'])})")
        fair_met = f" (at seeds {seeds}: {verdict(fair['result']['targets']['met']['floors_worst_group'])})"
    met = r["targets"]["met"]
    names = {"prototype": "prototype distance"}
    metrics = [names.get(m, m) for m in s.get("prune_metrics", ["loss", "prototype", "near-duplicate", "random"])]
    metrics = ", ".join(metrics[:-1]) + " and " + metrics[-1]
    return [(
        label(rec),
        f"(a) pruning 50% / 70% of a web-like domain (half boilerplate) by {metrics} vs all the data, {s['preset']}, {s['steps']} steps of {s['batch_rows']} x {s['seq_len']}, `S` from the "
        "full data's power-law curve at 0.5-2x; (b) generator augmentation of a skill's failing levels vs none, "
        f"{r['augment_model']}, {r['augment_steps']} steps"
        + (f" from a {r['augment_start_steps']}-step start per seed" if "augment_start_steps" in r else "") + "; (c) uniform vs hard-examples vs group floors on a 5% minority group; "
        f"seeds {seeds_text(s['seeds'])} paired, equal training tokens (details under \"Hard examples\")",
        result,
        f"best pruning >= 1.2x and above random: {verdict(met.get('prune_best_speedup'))}; augmentation gain > 2 "
        f"standard errors: {verdict(met.get('augment_gain'))}; floors' worst group <= uniform's: "
        f"{verdict(met.get('floors_worst_group'))}{fair_met}",
        provenances(("quick", rec)),
    )]


def learner(c: dict[str, Any]) -> str:
    """What the quality model read: fastText alone (results before its signals) or the combiner."""
    features = c.get("features") or ["fasttext"]
    if features == ["fasttext"]:
        return "fastText via floret"
    names = {"fasttext": "fastText's score", "perplexity": "a reference bigram model's perplexity",
             "gopher": "Gopher's statistics"}
    return ", ".join(names[f] for f in features) + " in a logistic regression"


def by_kind(c: dict[str, Any], key: str = "auc_by_kind") -> str:
    k = c.get(key)
    return f" (against {', '.join(f'{n} {v:.3f}' for n, v in k.items())})" if k else ""


def fasttext_alone(c: dict[str, Any]) -> str:
    if "auc_fasttext_only" not in c:
        return "the model above"
    return f"{c['auc_fasttext_only']:.3f}{by_kind(c, 'auc_fasttext_only_by_kind')}"


def unseen(r: dict[str, Any]) -> str:
    u = r.get("unseen_junk_check")
    if not u:
        return ""
    return (f"; on junk kinds not seen while choosing the signals (decided before it ran) "
            f"{u['default']['auc']:.3f}{by_kind(u['default'])} against fastText alone's {u['fasttext_only']['auc']:.3f}")


def quality_filter_rows(files: Files) -> list[Row]:
    rec = primary(files, "quality_filter")
    r = rec["result"]
    s = r["settings"]
    loss = r["heldout_loss"]

    def arm(name: str) -> str:
        v = loss[name]
        if isinstance(v, str):
            return f"{name} {v}"
        d = v.get("minus_everything")
        return f"{name} {v['mean']:.3f} ± {v['stderr']:.3f}" + (f" ({d['mean']:+.3f})" if d else "")

    def per_seed(x: dict[str, Any]) -> str:
        return ", ".join("never" if v is None else f"{v:.2f}" for v in x["per_seed"])

    fs = r["filter_speedup_detail"]
    ci = fs.get("ci")
    speed = (f"**{r['filter_speedup']:.2f}x**" + (f" [{ci[0]:.2f}, {ci[1]:.2f}]" if ci else "")
             if r["filter_speedup"] is not None
             else f"**not reached** in {len(fs['per_seed']) - int(fs['reached'].split('/')[0])} of {len(fs['per_seed'])} seeds")
    speed += f" (per seed {per_seed(fs)}; random 50%: {per_seed(r['speedups']['random50'])})"
    c = r["classifier"]
    met = r["targets"]["met"]
    return [(
        label(rec),
        f"`curricle quality train` ({learner(c)}, DCLM's recipe: {c['trained_on']['positives']} reference "
        f"documents against the corpus's own sample) on a corpus of Python's documentation prose plus as much planted "
        f"junk (boilerplate, shuffled words, repetition: {100 * r['junk_token_share']:.0f}% of the tokens); held-out "
        f"reference loss of {s['preset']}, {s['steps']} steps of {s['batch_rows']} x {s['seq_len']} (equal tokens), "
        f"on everything, today's heuristics, classifier top-50%, random 50% and quality-weighted sampling; seeds "
        f"{seeds_text(s['seeds'])} paired; curate's docs/s with and without the step (details under \"Quality classifier\")",
        f"AUC **{r['auc']:.3f}** on the planted labels{by_kind(c)} (fastText alone {fasttext_alone(c)}; "
        f"at fastText's own defaults {c['auc_at_fasttext_defaults']:.3f}){unseen(r)}; "
        f"top-50% keeps precision {r['precision']:.3f}, recall {r['recall']:.3f}; tokens to the unfiltered run's final "
        f"loss {speed} (ceiling {r['ceiling']:.2f}x); held-out loss " + ", ".join(arm(a) for a in loss) +
        f"; curation {r['docs_per_s']:.0f} docs/s with the step vs {r['docs_per_s_without']:.0f} without "
        f"(paired ratio {100 * r['throughput_ratio']:.0f}%; the step itself, a model load and "
        f"{r['curation']['step_docs_per_s']:,} docs/s, {r['curation']['step_seconds']:.2f} s of a "
        f"{r['curation']['run_seconds_without']:.1f} s run)",
        f"AUC >= 0.95: {verdict(met['auc'])}; >= 1.2x fewer tokens: {verdict(met['filter_speedup'])}; throughput "
        f">= 90% of without: {verdict(met['throughput_ratio'])}",
        provenance(rec),
    )]


def reactive_rows(files: Files) -> list[Row]:
    rec = primary(files, "reactive")
    r = rec["result"]
    s = r["settings"]

    def iv(x: dict[str, Any], digits: int = 2, sign: bool = False) -> str:
        f = f"{{:{'+' if sign else ''}.{digits}f}}"
        return f"{f.format(x['mean'])} [{f.format(x['ci'][0])}, {f.format(x['ci'][1])}]"

    parts, why = [], []
    met = r["targets_met"]["met"]
    if "targets_speedup" in r:
        parts.append(f"targets: **{iv(r['targets_speedup'])}x** fewer tokens (training + evaluation) than uniform to "
                     f"meet every target (ceiling {r['targets_ceiling']:.2f}x)"
                     + (f", {iv(r['targets_speedup_vs_natural'])}x vs the natural mixture"
                        if "targets_speedup_vs_natural" in r else "")
                     + (" (the best static)" if r["targets_best_static"] == "natural" else
                        f", {iv(r['targets_speedup_vs_best_static'])}x vs the best static (`{r['targets_best_static']}`)"))
        why.append(f"targets >= 1.3x, interval above 1: {verdict(met.get('targets_speedup'))}")
    if "dro_worst_domain_delta" in r:
        parts.append(f"group-dro: worst domain's held-out loss **{iv(r['dro_worst_domain_delta'], 3, True)}**, mean "
                     f"{100 * r['dro_mean_delta']['mean']:+.1f}% [{100 * r['dro_mean_delta']['ci'][0]:+.1f}, "
                     f"{100 * r['dro_mean_delta']['ci'][1]:+.1f}] vs uniform"
                     + (f" (on the excess over a uniform reference run's final loss: worst "
                        f"{iv(r['dro_excess_worst_domain_delta'], 3, True)}, mean "
                        f"{100 * r['dro_excess_mean_delta']['mean']:+.1f}% "
                        f"[{100 * r['dro_excess_mean_delta']['ci'][0]:+.1f}, "
                        f"{100 * r['dro_excess_mean_delta']['ci'][1]:+.1f}]"
                        + (f"; over its loss at the same step: worst "
                           f"{iv(r['dro_excess_same_step_worst_domain_delta'], 3, True)}, mean "
                           f"{100 * r['dro_excess_same_step_mean_delta']['mean']:+.1f}%"
                           if "dro_excess_same_step_mean_delta" in r else "") + ")"
                        if "dro_excess_mean_delta" in r else ""))
        why.append(f"group-dro lowers the worst domain, mean at most 2% above uniform's: {verdict(met.get('dro'))}"
                   + (f" (on the excess: {verdict(met.get('dro_excess'))}, with an interval over 3 seeds that "
                      f"includes 0)" if "dro_excess" in met and met["dro_excess"]
                      and r["dro_excess_worst_domain_delta"]["ci"][1] > 0 else
                      f" (on the excess: {verdict(met.get('dro_excess'))})" if "dro_excess" in met else ""))
    if "frontier_levels_gain" in r:
        parts.append(f"frontier: **{iv(r['frontier_levels_gain'], 2, True)}** levels emerged vs uniform")
        why.append(f"frontier emerges more levels: {verdict(met.get('frontier_levels_gain'))}")
    if "plateau_speedup" in r:
        parts.append(f"plateau stop: **{iv(r['plateau_speedup'])}x** fewer fine-tuning examples to the plain "
                     f"curriculum's final score")
    return [(
        label(rec),
        f"(a) `targets` vs uniform, the natural mixture and a prose-heavy one on prose + two skills, {s['preset']}, up to "
        f"{int(s['steps'] * s['max_share'])} steps of {s['batch_rows']} x {s['seq_len']}; (b) `group-dro` "
        + ("(on held-out loss, and on its excess over a uniform reference run) " if "dro_excess_mean_delta" in r else "")
        + f"vs uniform on 4 domains; (c) `frontier` vs uniform on {s['frontier']['skill']}'s ladder, {s['frontier']['preset']}, "
        f"{s['frontier']['steps']} steps; (d) fine-tuning with `curriculum.plateau` vs without; evaluation and probe "
        f"tokens counted in every arm, seeds {seeds_text(s['seeds'])} paired (details under \"Steering from the evals\")",
        "; ".join(parts),
        "; ".join(why),
        provenances(("quick", rec)),
    )]


def drift_rows(files: Files) -> list[Row]:
    rec = primary(files, "drift")
    r = rec["result"]
    s = r["settings"]
    plants = ", ".join(f"{name} at {p['domain']} {'found' if p['detected'] else '**missed**'}"
                       for name, p in r["plants"].items())
    return [(
        label(rec),
        f"`curricle drift` at its defaults on a base store of {sum(s['base_docs'].values()):,} documents from the "
        f"built-in sources (prose, code, two skills) against four planted versions (a domain's share +2 points, 10% "
        f"of a domain boilerplate-heavy, a new source at 10%, 5% duplicates) and {r['null_pairs']} null pairs "
        f"(random halves of the base); sections {', '.join(s['sections'])}",
        f"false alarms **{r['false_alarms']}** of {r['null_checks']:,} checks on the null pairs ({r['null_warns']} "
        f"WARN); planted changes flagged DRIFT at their domain and statistic **{r['detected']}/{r['planted']}** "
        f"({plants}); {r['docs_per_s']:,.0f} documents/s (both sides, 20 split-halves included)",
        f"no false alarm: {verdict(r['targets']['false_alarms'])}; every plant found: {verdict(r['targets']['detected'])}",
        provenance(rec),
    )]


def preference_rows(files: Files) -> list[Row]:
    rec = primary(files, "preference")
    r = rec["result"]
    s, arms, met = r["settings"], r["arms"], r["targets_met"]

    def pm(x: dict[str, Any]) -> str:
        return f"{x['mean']:+.3f} ± {x['stderr']:.3f}"

    per_arm = "; ".join(f"{a} {arms[a]['pass1']['mean']:.3f} (worst task {arms[a]['worst']['mean']:.3f}, greedy "
                        f"{arms[a]['greedy']['mean']:.3f}, length {arms[a]['length']['mean']:.2f})" for a in arms)
    return [(
        label(rec),
        f"`curricle dpo` (TRL `DPOTrainer`, beta {s['beta']}, lr {s['lr']:g}, {s['steps']} steps x {s['batch']} pairs) "
        f"from rl_curriculum's cold-started tiny-1m base on pairs built from its own samples ({s['pair_samples']} a "
        f"train prompt, graded by edit-distance similarity), margin order (clear band first) vs the same pairs in "
        f"random order vs no DPO; `reverse` at 6 lengths, {s['test_items']} test items a length apart from the pair "
        f"prompts, sampled pass@1 ({s['samples']} samples at temperature 1), seeds {seeds_text(r['seeds'])} paired, "
        f"mean ± standard error over seeds",
        f"DPO gain (margin - none) **{pm(r['dpo_gain'])}**, margin - random **{pm(r['curriculum_vs_random'])}**"
        + (f"; with the chosen answers' NLL (`nll_weight: {s['nll_weight (+nll arms)']:g}`, Iterative RPO): gain "
           f"**{pm(r['dpo_nll_gain'])}**, margin - random **{pm(r['curriculum_vs_random_nll'])}**"
           if "dpo_nll_gain" in r else "")
        + (f"; the NLL alone (no preference term) **{pm(r['nll_only_gain'])}** over none, DPO + NLL - NLL alone "
           f"**{pm(r['dpo_nll_vs_nll_only'])}**" if "nll_only_gain" in r else "")
        + (f"; Curri-DPO (ranked pairs, 3 bands, the reference moved at each stage): gain **{pm(r['curri_gain'])}**, "
           f"margin - random **{pm(r['curri_vs_random'])}**; with the NLL gain **{pm(r['curri_nll_gain'])}**, "
           f"margin - random **{pm(r['curri_vs_random_nll'])}**, - the NLL alone **{pm(r['curri_nll_vs_nll_only'])}**"
           if "curri_gain" in r else "") + f"; sampled pass@1 {per_arm}",
        f"margin order >= random: {verdict(met['curriculum_vs_random'])}; DPO > none by 2 standard errors: "
        f"{verdict(met['dpo_gain'])}"
        + (f"; with NLL: margin >= random {verdict(met['curriculum_vs_random_nll'])}, > none by 2 standard errors "
           f"{verdict(met['dpo_nll_gain'])}" if "dpo_nll_gain" in met else "")
        + (f"; Curri-DPO: margin >= random {verdict(met['curri_vs_random'])}, > none by 2 standard errors "
           f"{verdict(met['curri_gain'])}; with NLL: margin >= random {verdict(met['curri_vs_random_nll'])}, > none "
           f"by 2 standard errors {verdict(met['curri_nll_gain'])}" if "curri_gain" in met else ""),
        provenance(rec),
    )]


#: Each benchmark program's rows, in the table's order.
ROWS: dict[str, Callable[[Files], list[Row]]] = {
    "sampler_throughput": sampler_rows,
    "train_memory": train_memory_rows,
    "prepare_throughput": prepare_rows,
    "curation": curation_rows,
    "probe_speed": probe_rows,
    "mixing": mixing_rows,
    "finetune_curriculum": finetune_rows,
    "rl_curriculum": rl_rows,
    "train_overhead": train_overhead_rows,
    "hard_examples": hard_examples_rows,
    "quality_filter": quality_filter_rows,
    "reactive": reactive_rows,
    "drift": drift_rows,
    "preference": preference_rows,
}


# -- the table and the README ------------------------------------------------------------------


def load_results(results_dir: Path = RESULTS) -> Files:
    """Every results file, by its name less ``.json`` (``mixing``, ``probe_speed.full``, ...)."""
    return {p.name[: -len(".json")]: json.loads(p.read_text(encoding="utf-8"))
            for p in sorted(results_dir.glob("*.json"))}


def render(results_dir: Path = RESULTS) -> str:
    """What goes between the markers (blank lines around the table, so it parses as one)."""
    files = load_results(results_dir)
    lines = [NOTE, "", HEADER]
    for rows in ROWS.values():
        for row in rows(files):
            lines.append("| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |")
    return "\n" + "\n".join(lines) + "\n\n"


def replace_table(readme: str, body: str) -> str:
    if readme.count(START) != 1 or readme.count(END) != 1 or readme.index(START) > readme.index(END):
        raise SystemExit(f"README.md needs one {START} and one {END} after it, around the performance table")
    head, rest = readme.split(START)
    _, tail = rest.split(END)
    return head + START + body + END + tail


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--check", action="store_true", help="do not write; exit 1 and print a diff if README.md differs")
    ap.add_argument("--readme", type=Path, default=README, help="the README to render into (default: the project's)")
    ap.add_argument("--results", type=Path, default=RESULTS, help="the results files (default: benchmarks/results)")
    a = ap.parse_args(argv)
    old = a.readme.read_text(encoding="utf-8")
    new = replace_table(old, render(a.results))
    if a.check:
        if new == old:
            return 0
        sys.stdout.writelines(difflib.unified_diff(old.splitlines(keepends=True), new.splitlines(keepends=True),
                                                   str(a.readme), f"{a.readme} (rendered)"))
        return 1
    if new != old:
        a.readme.write_text(new, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
