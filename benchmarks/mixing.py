"""Mixing methods on one multi-domain store, at an equal token budget: which gets to uniform's
held-out loss with fewer tokens, without giving up the worst domain?

Usage::

    .venv/bin/python benchmarks/mixing.py --quick            # micro model, 3-6 min on 2 shared CPU cores
    .venv/bin/python benchmarks/mixing.py                    # tiny-1m, longer runs (hours on CPU)
    .venv/bin/python benchmarks/mixing.py --quick --domain web=data/web.jsonl --seeds 0,1,2,3

Stages:

1. **Store.** ``prepare`` builds (or reuses) one token store under ``--data-dir/<mode>`` that
   every run shares: ``code`` (standard-library source), ``prose`` (pydoc topics and
   docstrings) and four synthetic skills (``arithmetic``, ``copy``, ``facts``, ``agreement``),
   plus any ``--domain name=path.jsonl``. Their natural sizes differ by ~30x, so the natural
   mixture is far from uniform. 10% of each domain's documents are held out; evaluation
   scores the first ``eval_rows_per_domain`` rows of each held-out stream, the same rows at
   every eval. For ``code`` (stdlib files of thousands of tokens) and ``prose`` that is one
   or two documents in quick mode: ``settings.domains`` says how many each domain's rows span.
2. **Methods.** Every run has the same model preset, seed-derived initial weights, LR
   schedule, batch (rows x seq_len) and number of steps, so the same training tokens:

   - ``uniform``: static, equal token weights. The baseline.
   - ``natural``: static, proportional to each domain's tokens (temperature 1).
   - ``temperature``: static, tokens ** (1 / 2).
   - ``schedule``: a phased curriculum: the first 20% of steps on the synthetic skills only
     (equal weights), then all domains equally, reached by a linear ramp over 10% of steps.
   - ``doremi``, ``odm``, ``learning-progress``, ``hard-examples``: the controllers of
     ``curricle.controllers.config.CONTROLLERS``, each starting from the uniform mixture.
     ``hard-examples`` keeps the uniform mixture and reweights documents within domains.
     ``doremi`` uses ``reference: {steps: <run steps>}``: curricle first trains a uniform
     reference run of the same length into ``RUN/reference`` (the DoReMi paper's reference is
     as large and as long as the proxy). Its tokens are not part of the equal budget; they are
     reported as ``reference_tokens``, with a speedup that counts them next to the one that
     does not.
   - ``mix-search``: static weights proposed by ``curricle mix-search`` (the offline search:
     ``--search-runs`` proxy runs of the run's length around the natural mixture, the Data
     Mixing Laws fit, the best candidates averaged; ``mix_search`` defaults otherwise). One
     search serves every seed: it runs once, at seed ``SEARCH_SEED`` (none of the benchmark's
     seeds), under ``--out/<mode>/mix-search/search-<hash>``. Its proxy and validation tokens
     are not part of the equal budget; they are reported as ``search_tokens``, with a speedup
     that counts them. The proxies are scored on the same held-out rows as the benchmark, as
     a search is used in practice (on the validation set you care about): its figures are
     in-sample for the choice of mixture, and the summary says so.

   One rule sets the controllers' timing, for all of them alike, from the run length alone:
   ``warmup_steps = round(10% of steps)``, ``update_every = max(1, round(2% of steps))``
   (the library defaults, 50 and 10, are this rule at 500 steps). Every other knob is left at
   the controller's default. Nothing is chosen by looking at held-out results.
3. **Runs.** ``train_run`` in this process, per seed and method, under
   ``--out/<mode>/<method>/seed<k>-<config hash>``. A run whose ``metrics.jsonl`` already
   ends at the planned step is read, not retrained (so an interrupted benchmark resumes; a
   changed setting changes the hash, hence the directory).
4. **Figures**, per method, each as mean / std / min / max over seeds:

   - ``mean_loss``: the final unweighted mean over domains of ``eval/loss/<d>`` (nats/token).
   - ``worst_domain_loss``: the final largest ``eval/loss/<d>`` (which domain, per seed).
   - ``tokens_to_target``: training tokens at which the method's mean held-out loss first
     reaches uniform's final mean held-out loss of the same seed, linearly interpolated in
     tokens between the two eval points around the crossing (at the first eval point: its
     tokens). ``null`` where it never does.
   - ``speedup``: uniform's tokens to that target / the method's (same seed). ``reached`` says
     in how many seeds the method got there. A seed where it never did has a speedup below
     uniform's tokens / the run's tokens (<= 1); that bound enters the mean in its place (so
     the mean is an upper bound, and says so), and ``speedup_over_reached_seeds`` leaves it out.
   - ``*_minus_uniform``: the method's figure minus uniform's in the same seed (same initial
     weights), which cancels most of the seed-to-seed noise.

   ``best_method``: among the non-uniform methods that reach the target in at least one seed
   and whose mean worst-domain loss is no higher than uniform's, the largest mean speedup; if
   none qualifies, the largest mean speedup of any method that reaches it (``best_how`` says
   which). ``targets``: the best method's mean speedup >= 1.3, reached in every seed, *and*
   its mean worst-domain loss no higher than uniform's.

   Each method's mixture is summarized from its runs: the token shares it actually used
   (weights averaged over steps), its last weights, the number of mixture changes in
   ``RUN/mixture_log.jsonl``, and a flag where one domain ends with more than half the weight.

The last stdout line is one JSON object with all figures and settings; progress and a table
go to stderr. Losses are deterministic given the seed; wall times on a shared machine are not.
One torch thread by default: on a busy 2-core machine a second one mostly waits.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import shutil
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

TARGET_SPEEDUP = 1.3
#: Controller timing, as a share of the run's steps (the same for every controller).
WARMUP_SHARE = 0.10
UPDATE_SHARE = 0.02
#: The ``schedule`` method: synthetic-only warm-up, then a ramp to all domains equally.
SCHEDULE_WARMUP_SHARE = 0.20
SCHEDULE_RAMP_SHARE = 0.10
#: A final weight above this on one domain is flagged in the mixture summary.
COLLAPSE_WEIGHT = 0.5
METHODS = ("uniform", "natural", "temperature", "schedule", "doremi", "odm", "learning-progress",
           "hard-examples", "mix-search")
#: ``mix-search`` runs its proxies at this seed, which no benchmark run uses by default.
SEARCH_SEED = 1000
SYNTHETIC_SKILLS = ("arithmetic", "copy", "facts", "agreement")


@dataclass(frozen=True)
class Mode:
    """Sizes of one mode: the built-in sources, the model and the run."""

    name: str
    preset: str
    batch_rows: int
    seq_len: int
    steps: int
    eval_every: int
    eval_rows_per_domain: int
    code_docs: int
    prose_docs: int
    synthetic_docs: dict[str, int]
    tokenizer_vocab: int
    tokenizer_sample_docs: int

    @property
    def tokens_per_run(self) -> int:
        return self.steps * self.batch_rows * self.seq_len


QUICK = Mode("quick", preset="micro", batch_rows=8, seq_len=64, steps=150, eval_every=15,
             eval_rows_per_domain=24, code_docs=150, prose_docs=800,
             synthetic_docs={"arithmetic": 400, "copy": 300, "facts": 200, "agreement": 150},
             tokenizer_vocab=2048, tokenizer_sample_docs=200)
FULL = Mode("full", preset="tiny-1m", batch_rows=16, seq_len=128, steps=600, eval_every=60,
            eval_rows_per_domain=32, code_docs=600, prose_docs=3000,
            synthetic_docs={"arithmetic": 1600, "copy": 1200, "facts": 800, "agreement": 600},
            tokenizer_vocab=4096, tokenizer_sample_docs=400)

_T0 = time.perf_counter()


def say(msg: str) -> None:
    print(f"[{time.perf_counter() - _T0:6.1f}s] {msg}", file=sys.stderr, flush=True)


# -- 1. the domains and the shared store -----------------------------------------------------


def sources(mode: Mode, extra: list[tuple[str, str]]) -> list[dict[str, Any]]:
    """The built-in domains of ``mode``, then one JSONL source per ``--domain name=path``."""
    out: list[dict[str, Any]] = [
        {"kind": "python-code", "domain": "code", "max_docs": mode.code_docs},
        {"kind": "python-prose", "domain": "prose", "max_docs": mode.prose_docs},
    ]
    out += [{"kind": "synthetic", "skill": s, "domain": s, "n_docs": mode.synthetic_docs[s]}
            for s in SYNTHETIC_SKILLS]
    out += [{"kind": "jsonl", "domain": name, "path": path} for name, path in extra]
    return out


def base_config(mode: Mode, data_dir: Path, srcs: list[dict[str, Any]], seed: int) -> dict[str, Any]:
    """What every run shares; a method sets ``mixture.schedule`` and ``controller`` on top."""
    return {
        "seed": seed,
        "data_dir": str(data_dir),
        "sources": srcs,
        "tokenizer": {"vocab_size": mode.tokenizer_vocab, "sample_docs_per_source": mode.tokenizer_sample_docs},
        "prepare": {"heldout_fraction": 0.1},
        "mixture": {"batch_rows": mode.batch_rows, "seq_len": mode.seq_len},
        "model": {"preset": mode.preset, "max_position_embeddings": max(256, mode.seq_len)},
        "train": {
            "steps": mode.steps,
            "eval_every": mode.eval_every,
            "eval_rows_per_domain": mode.eval_rows_per_domain,
            "eval_batch_rows": mode.eval_rows_per_domain,
            # Only the last checkpoint: runs are short, and a killed one is simply redone.
            "checkpoint": {"every": mode.steps, "keep_last": 1},
            "telemetry": {"tensorboard": False},
        },
    }


def eval_coverage(store, domain: str, seq_len: int, rows: int) -> dict[str, int]:
    """How much of a domain's held-out split the evaluation scores: it takes the first ``rows``
    windows of ``seq_len + 1`` tokens of the held-out stream (documents in store order, each
    followed by EOS), so long documents mean few of them."""
    import numpy as np

    split = store.split(domain, "heldout")
    ends = np.cumsum(np.asarray(split.column("n_tokens"), dtype=np.int64) + 1)
    scored = min(rows * (seq_len + 1), int(ends[-1])) if len(ends) else 0
    docs = int(np.searchsorted(ends, scored, side="left")) + 1 if scored else 0
    return {"eval_tokens": scored, "eval_docs": min(docs, split.n_docs), "heldout_docs": split.n_docs}


def build_store(config) -> Any:
    import logging

    from curricle.prepare.command import prepare_run

    # Built-in sources skip short docstrings and large files by design: count, don't warn.
    logging.getLogger("curricle.sources").setLevel(logging.ERROR)
    say(f"store: preparing {config.data_dir} (reused when up to date)")
    report = prepare_run(config, progress=False)
    say(f"store: {'built' if report.did_work else 'reused'} in {report.seconds:.1f}s")
    return report


# -- 2. the methods --------------------------------------------------------------------------


def controller_timing(steps: int) -> dict[str, int]:
    """The one timing rule every controller gets (see the module doc)."""
    return {"warmup_steps": round(WARMUP_SHARE * steps), "update_every": max(1, round(UPDATE_SHARE * steps))}


def method_overrides(method: str, steps: int, domains: list[str],
                     searched: dict[str, float] | None = None) -> dict[str, Any]:
    """``mixture.schedule`` and ``controller`` of one method (``searched``: the mixture
    ``mix-search`` proposed)."""
    uniform = {"kind": "static", "weights": {d: 1.0 for d in domains}}
    timing = controller_timing(steps)
    if method == "uniform":
        return {"schedule": uniform, "controller": {"kind": "schedule"}}
    if method == "natural":
        return {"schedule": {"kind": "static", "temperature": 1.0}, "controller": {"kind": "schedule"}}
    if method == "temperature":
        return {"schedule": {"kind": "static", "temperature": 2.0}, "controller": {"kind": "schedule"}}
    if method == "schedule":
        skills = [d for d in domains if d in SYNTHETIC_SKILLS]
        phases = [
            {"name": "skills", "steps": round(SCHEDULE_WARMUP_SHARE * steps), "weights": {d: 1.0 for d in skills}},
            {"name": "all", "ramp": round(SCHEDULE_RAMP_SHARE * steps), "weights": {d: 1.0 for d in domains}},
        ]
        return {"schedule": {"kind": "phases", "phases": phases}, "controller": {"kind": "schedule"}}
    if method == "doremi":
        return {"schedule": uniform, "controller": {"kind": "doremi", "reference": {"steps": steps}, **timing}}
    if method in ("odm", "learning-progress", "hard-examples"):
        return {"schedule": uniform, "controller": {"kind": method, **timing}}
    if method == "mix-search":
        if searched is None:
            raise ValueError("mix-search: no searched mixture")
        return {"schedule": {"kind": "static", "weights": dict(searched)}, "controller": {"kind": "schedule"}}
    raise ValueError(f"unknown method {method!r}")


def run_config_dict(base: dict[str, Any], method: str, domains: list[str],
                    searched: dict[str, float] | None = None) -> dict[str, Any]:
    over = method_overrides(method, base["train"]["steps"], domains, searched)
    return {**base, "name": f"bench-mixing-{method}-s{base['seed']}",
            "mixture": {**base["mixture"], "schedule": over["schedule"]}, "controller": over["controller"]}


# -- 3. running ------------------------------------------------------------------------------


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def is_complete(run_dir: Path, steps: int) -> bool:
    lines = read_jsonl(run_dir / "metrics.jsonl")
    return bool(lines) and lines[-1].get("step") == steps and "eval/loss" in lines[-1]


def run_method(config_dict: dict[str, Any], run_dir: Path) -> tuple[float, bool]:
    """Train one run unless it is complete; (wall seconds, reused)."""
    from curricle.config import parse_config
    from curricle.train.command import train_run

    steps = config_dict["train"]["steps"]
    sidecar = run_dir / "bench-run.json"
    if is_complete(run_dir, steps):
        wall = json.loads(sidecar.read_text())["wall_s"] if sidecar.is_file() else float("nan")
        return wall, True
    # A run killed part-way left logs and maybe a checkpoint: start it over (a finished
    # DoReMi reference under RUN/reference is kept; curricle reuses it).
    shutil.rmtree(run_dir / "checkpoints", ignore_errors=True)
    t0 = time.perf_counter()
    train_run(parse_config(config_dict, f"{config_dict['name']} config"), run_dir, progress=False)
    wall = time.perf_counter() - t0
    sidecar.write_text(json.dumps({"wall_s": wall}))
    return wall, False


def run_search(mode: Mode, data_dir: Path, srcs: list[dict[str, Any]], out: Path, runs: int) -> dict[str, Any]:
    """The ``mix-search`` method's offline search, once for every seed (reused when done):
    the ``curricle mix-search`` summary, plus the tokens it trained and its wall time."""
    from curricle.config import parse_config
    from curricle.search.command import mix_search
    from curricle.search.config import MixSearchConfig

    # The search's settings (its defaults) are spelled out, so that changing them changes the hash.
    cd = {**base_config(mode, data_dir, srcs, SEARCH_SEED), "name": "bench-mixing-search",
          "mix_search": MixSearchConfig().model_dump(mode="json")}
    search_dir = out / mode.name / "mix-search" / f"search-{config_hash({**cd, 'runs': runs})}"
    sidecar = search_dir / "bench-search.json"
    if sidecar.is_file():
        return json.loads(sidecar.read_text())
    say(f"mix-search: {runs} proxy runs + 1 validation run at seed {SEARCH_SEED} into {search_dir}")
    t0 = time.perf_counter()
    summary = mix_search(parse_config(cd, "mix-search config"), runs, search_dir, progress=False)
    summary = {**summary, "dir": str(search_dir), "runs": runs, "seed": SEARCH_SEED,
               "tokens": (runs + 1) * summary["proxy_steps"] * mode.batch_rows * mode.seq_len,
               "wall_s": round(time.perf_counter() - t0, 1)}
    sidecar.write_text(json.dumps(summary))
    return summary


def config_hash(config_dict: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(config_dict, sort_keys=True).encode()).hexdigest()[:10]


# -- 4. figures ------------------------------------------------------------------------------


@dataclass
class RunResult:
    method: str
    seed: int
    run_dir: Path
    curve: list[tuple[int, float]]
    """(training tokens, unweighted mean held-out loss over domains) at each eval step."""
    final: dict[str, float]
    """Final held-out loss per domain."""
    tokens: int
    token_shares: dict[str, float]
    last_weights: dict[str, float]
    mixture_changes: int
    priority_updates: int
    effective_docs: dict[str, float] | None
    """hard-examples: per domain, 1 / sum(p^2) of the last document priorities."""
    reference_tokens: int
    reference_final: dict[str, float] | None
    wall_s: float
    reused: bool
    search_tokens: int = 0
    """mix-search: the tokens its offline search trained (proxies and validation)."""

    @property
    def mean_loss(self) -> float:
        return statistics.fmean(self.final.values())

    @property
    def worst(self) -> tuple[str, float]:
        d = max(self.final, key=lambda k: self.final[k])
        return d, self.final[d]


def read_run(method: str, seed: int, run_dir: Path, domains: list[str], wall: float, reused: bool) -> RunResult:
    lines = read_jsonl(run_dir / "metrics.jsonl")
    evals = [m for m in lines if "eval/loss" in m]
    curve = [(m["tokens"], statistics.fmean(m[f"eval/loss/{d}"] for d in domains)) for m in evals]
    final = {d: evals[-1][f"eval/loss/{d}"] for d in domains}
    # Weights count tokens and every step has the same tokens: their mean over steps is the
    # share of the run's tokens each domain got (to within one row per domain).
    shares = {d: statistics.fmean(m[f"weight/{d}"] for m in lines) for d in domains}
    last = {d: lines[-1][f"weight/{d}"] for d in domains}
    log = read_jsonl(run_dir / "mixture_log.jsonl")
    priorities = [e["priorities"] for e in log if "priorities" in e]
    ref_lines = read_jsonl(run_dir / "reference" / "metrics.jsonl")
    ref_final = ({d: ref_lines[-1][f"eval/loss/{d}"] for d in domains} if ref_lines else None)
    return RunResult(method, seed, run_dir, curve, final, lines[-1]["tokens"], shares, last,
                     mixture_changes=sum("new" in e for e in log),
                     priority_updates=len(priorities),
                     effective_docs=({d: v["effective_docs"] for d, v in priorities[-1].items()}
                                     if priorities else None),
                     reference_tokens=ref_lines[-1]["tokens"] if ref_lines else 0,
                     reference_final=ref_final, wall_s=wall, reused=reused)


def tokens_to_reach(curve: list[tuple[int, float]], target: float) -> float | None:
    """Training tokens at which ``curve`` first gets to ``target`` or below, interpolated
    linearly between the eval points around the crossing; None if it never does."""
    prev = None
    for tokens, loss in curve:
        if loss <= target:
            if prev is None:
                return float(tokens)
            t0, l0 = prev
            return t0 + (tokens - t0) * (l0 - target) / (l0 - loss)
        prev = (tokens, loss)
    return None


def spread(values: list[float | None], digits: int = 4) -> dict[str, Any] | None:
    """Mean, sample std, min and max of the values that are not None."""
    xs = [float(x) for x in values if x is not None]
    if not xs:
        return None
    std = statistics.stdev(xs) if len(xs) > 1 else 0.0
    return {"mean": round(statistics.fmean(xs), digits), "std": round(std, digits),
            "min": round(min(xs), digits), "max": round(max(xs), digits), "n": len(xs)}


def summarize(method: str, runs: list[RunResult], uniform: dict[int, RunResult], domains: list[str]) -> dict[str, Any]:
    """One method's row of the table, from its runs (one per seed)."""
    to_target, speedup, speedup_ref = [], [], []
    for r in runs:
        u = uniform[r.seed]
        u_tokens = tokens_to_reach(u.curve, u.mean_loss)
        t = tokens_to_reach(r.curve, u.mean_loss)
        to_target.append(t)
        # Never reached: it would take more than the run's tokens, so its speedup is below
        # uniform's tokens / the run's tokens (<= 1); that bound stands in for it in the mean.
        spent = t if t is not None else r.tokens
        speedup.append(u_tokens / spent)
        speedup_ref.append(u_tokens / (spent + r.reference_tokens + r.search_tokens))
    n = len(runs)
    reached = sum(t is not None for t in to_target)
    hit = [s for s, t in zip(speedup, to_target) if t is not None]
    final_max = max(statistics.fmean(r.last_weights[d] for r in runs) for d in domains)
    top = max(domains, key=lambda d: statistics.fmean(r.last_weights[d] for r in runs))
    row: dict[str, Any] = {
        "mean_loss": spread([r.mean_loss for r in runs]),
        "worst_domain_loss": spread([r.worst[1] for r in runs]),
        "worst_domain": [r.worst[0] for r in runs],
        # Paired with uniform's run of the same seed (same initial weights): seed noise cancels.
        "mean_loss_minus_uniform": spread([r.mean_loss - uniform[r.seed].mean_loss for r in runs]),
        "worst_domain_loss_minus_uniform": spread([r.worst[1] - uniform[r.seed].worst[1] for r in runs]),
        "tokens_to_target": [None if t is None else round(t) for t in to_target],
        "reached": f"{reached}/{n}",
        "reached_seeds": reached,
        "speedup": spread(speedup, 3),
        "speedup_per_seed": [None if t is None else round(s, 3) for s, t in zip(speedup, to_target)],
        "speedup_over_reached_seeds": spread(hit, 3),
        "per_domain_loss": {d: round(statistics.fmean(r.final[d] for r in runs), 4) for d in domains},
        "train_tokens": runs[0].tokens,
        "token_shares": {d: round(statistics.fmean(r.token_shares[d] for r in runs), 4) for d in domains},
        "last_weights": {d: round(statistics.fmean(r.last_weights[d] for r in runs), 4) for d in domains},
        "mixture_changes": [r.mixture_changes for r in runs],
        "wall_s": [None if math.isnan(r.wall_s) else round(r.wall_s, 1) for r in runs],
        "runs": [str(r.run_dir) for r in runs],
    }
    if reached < n:
        row["not_reached_seeds"] = [r.seed for r, t in zip(runs, to_target) if t is None]
        row["speedup_note"] = (f"seed(s) {row['not_reached_seeds']} never reached the target: they enter the "
                               f"speedup mean at their upper bound, uniform's tokens / run tokens (<= 1)")
    if any(r.priority_updates for r in runs):
        row["document_priority_updates"] = [r.priority_updates for r in runs]
        row["effective_docs_at_end"] = {d: round(statistics.fmean(r.effective_docs[d] for r in runs), 1)
                                        for d in runs[0].effective_docs}
    if final_max > COLLAPSE_WEIGHT and any(r.mixture_changes for r in runs):
        row["flag"] = f"'{top}' ends with {final_max:.2f} of the weight (mean over seeds)"
    if any(r.reference_tokens for r in runs):
        row["reference_tokens"] = runs[0].reference_tokens
        row["speedup_counting_reference"] = spread(speedup_ref, 3)
        row["reference_equals_uniform"] = all(
            r.reference_final is not None
            and max(abs(r.reference_final[d] - uniform[r.seed].final[d]) for d in domains) < 1e-6 for r in runs)
    if any(r.search_tokens for r in runs):
        row["search_tokens"] = runs[0].search_tokens
        row["speedup_counting_search"] = spread(speedup_ref, 3)
    return row


def pick_best(table: dict[str, dict[str, Any]], uniform_worst: float) -> tuple[str | None, str]:
    """The best non-uniform method and how it was chosen (see the module doc)."""
    reached = [m for m, row in table.items() if m != "uniform" and row["reached_seeds"] > 0]
    if not reached:
        return None, "no non-uniform method reached uniform's final mean held-out loss in any seed"

    def key(m: str) -> tuple[float, float]:  # ties: the lower mean loss
        return table[m]["speedup"]["mean"], -table[m]["mean_loss"]["mean"]

    fair = [m for m in reached if table[m]["worst_domain_loss"]["mean"] <= uniform_worst]
    if fair:
        return max(fair, key=key), ("largest mean speedup among the methods that reach the target in some "
                                    "seed with a mean worst-domain loss no higher than uniform's")
    return max(reached, key=key), ("no method that reaches the target keeps its mean worst-domain loss at or "
                                   "below uniform's: best is the largest mean speedup overall")


# -- 5. the report ---------------------------------------------------------------------------


def print_table(table: dict[str, dict[str, Any]], domains: list[str], seeds: list[int]) -> None:
    err = sys.stderr

    def pm(s: dict[str, Any] | None, fmt: str = ".4f") -> str:
        if s is None:
            return "-"
        return f"{s['mean']:{fmt}} ±{s['std']:{fmt}} [{s['min']:{fmt}}, {s['max']:{fmt}}]"

    print(f"\nfinal held-out loss (nats/token), mean ±std [min, max] over seeds {seeds}", file=err)
    head = f"{'method':<18} {'mean over domains':<34} {'worst domain (which)':<48} {'speedup':<30} reached"
    print(head, file=err)
    print("-" * len(head), file=err)
    for m, row in table.items():
        worst = sorted(set(row["worst_domain"]))
        worst_col = f"{pm(row['worst_domain_loss'])} ({','.join(worst)})"
        bound = "*" if "not_reached_seeds" in row else ""
        print(f"{m:<18} {pm(row['mean_loss']):<34} {worst_col:<48} {pm(row['speedup'], '.3f') + bound:<30} "
              f"{row['reached']}", file=err)
    print("* not reached in every seed: those seeds enter the mean at their bound (<= 1)", file=err)
    print("\npaired with uniform's run of the same seed: method - uniform, mean ±std [min, max]", file=err)
    print(f"  {'method':<18} {'mean loss':<34} {'worst-domain loss':<34}", file=err)
    for m, row in table.items():
        if m != "uniform":
            print(f"  {m:<18} {pm(row['mean_loss_minus_uniform']):<34} "
                  f"{pm(row['worst_domain_loss_minus_uniform']):<34}", file=err)
    print("\ntokens to uniform's final mean loss, per seed (None: never reached; such a seed enters the "
          "speedup mean at its bound, uniform's tokens / run tokens)", file=err)
    for m, row in table.items():
        extra = ""
        if "reference_tokens" in row:
            extra = (f"   + reference {row['reference_tokens']:,} tokens -> speedup "
                     f"{pm(row['speedup_counting_reference'], '.3f')}")
        if "search_tokens" in row:
            extra = (f"   + search {row['search_tokens']:,} tokens -> speedup "
                     f"{pm(row['speedup_counting_search'], '.3f')}")
        print(f"  {m:<18} {row['tokens_to_target']}{extra}", file=err)
    print("\nper-domain final held-out loss (mean over seeds) and token shares used", file=err)
    print(f"  {'method':<18} " + " ".join(f"{d[:10]:>10}" for d in domains), file=err)
    for m, row in table.items():
        print(f"  {m:<18} " + " ".join(f"{row['per_domain_loss'][d]:>10.3f}" for d in domains), file=err)
        print(f"  {'  shares':<18} " + " ".join(f"{row['token_shares'][d]:>10.3f}" for d in domains), file=err)
        print(f"  {'  last weights':<18} " + " ".join(f"{row['last_weights'][d]:>10.3f}" for d in domains)
              + (f"   FLAG: {row['flag']}" if "flag" in row else ""), file=err)


def parse_seeds(text: str) -> list[int]:
    try:
        seeds = [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None
    if not seeds or len(set(seeds)) != len(seeds):
        raise argparse.ArgumentTypeError(f"expected distinct seeds, got {text!r}")
    return seeds


def parse_domain(text: str) -> tuple[str, str]:
    name, sep, path = text.partition("=")
    if not sep or not name or not path:
        raise argparse.ArgumentTypeError(f"expected NAME=PATH.jsonl, got {text!r}")
    return name, path


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true",
                        help="micro model, 150 steps of 8 x 64 tokens: 3-6 minutes on 2 shared CPU cores")
    parser.add_argument("--seeds", type=parse_seeds, default=[0, 1, 2],
                        help="comma-separated run seeds (default: 0,1,2)")
    parser.add_argument("--domain", type=parse_domain, action="append", default=[], metavar="NAME=PATH",
                        help="an extra domain from a JSONL file or glob (repeatable)")
    parser.add_argument("--methods", default=",".join(METHODS),
                        help="comma-separated subset of the methods (uniform is always run; default: all)")
    parser.add_argument("--out", type=Path, default=Path("runs/bench-mixing"),
                        help="where the runs go (default: %(default)s)")
    parser.add_argument("--data-dir", type=Path, default=Path("runs/bench-mixing-data"),
                        help="the shared token store, one per mode below it (default: %(default)s)")
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads (default: %(default)s)")
    parser.add_argument("--search-runs", type=int, default=12,
                        help="mix-search: proxy runs of the offline search (default: %(default)s)")
    args = parser.parse_args(argv)

    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    unknown = sorted(set(methods) - set(METHODS))
    if unknown:
        parser.error(f"--methods: unknown method '{unknown[0]}' (known: {', '.join(METHODS)})")
    methods = ["uniform"] + [m for m in METHODS if m in methods and m != "uniform"]
    if args.search_runs < 3:
        parser.error("--search-runs: at least 3 proxy runs are needed to fit a mixture model")
    if "mix-search" in methods and SEARCH_SEED in args.seeds:
        parser.error(f"--seeds: seed {SEARCH_SEED} is mix-search's own (its proxy runs); pick others")
    taken = {"code", "prose", *SYNTHETIC_SKILLS}
    for name, _ in args.domain:
        if name in taken:
            parser.error(f"--domain: '{name}' is already a domain")
        taken.add(name)

    import torch

    from curricle.config import parse_config
    from curricle.controllers.config import CONTROLLERS
    from curricle.errors import CurricleError
    from curricle.store import TokenStore

    missing = sorted(set(CONTROLLERS) - set(METHODS))
    if missing:
        say(f"WARNING: controller(s) {', '.join(missing)} have no method here yet")
    torch.set_num_threads(args.threads)
    mode = QUICK if args.quick else FULL
    data_dir = args.data_dir / mode.name
    srcs = sources(mode, args.domain)
    timing = controller_timing(mode.steps)
    say(f"mixing benchmark, {mode.name} mode: {mode.preset}, {mode.steps} steps of {mode.batch_rows} x "
        f"{mode.seq_len} tokens ({mode.tokens_per_run:,} per run), seeds {args.seeds}, "
        f"controllers: warmup {timing['warmup_steps']} steps, update every {timing['update_every']}")
    if len(args.seeds) < 3:
        say(f"WARNING: {len(args.seeds)} seed(s); spreads need at least 3")

    try:
        report = build_store(parse_config(base_config(mode, data_dir, srcs, args.seeds[0]), "benchmark config"))
    except CurricleError as err:
        sys.exit(f"error: {err}")
    store = TokenStore(data_dir)
    domains = store.domains
    natural = store.natural_tokens()
    heldout = store.natural_tokens("heldout")
    total = sum(natural.values())
    say("domains (train tokens, share): " + ", ".join(f"{d} {natural[d]:,} ({natural[d] / total:.3f})"
                                                      for d in domains))
    cover = {d: eval_coverage(store, d, mode.seq_len, mode.eval_rows_per_domain) for d in domains}
    say("held-out rows scored (tokens, documents they span): "
        + ", ".join(f"{d} {c['eval_tokens']:,} ({c['eval_docs']}/{c['heldout_docs']})" for d, c in cover.items()))

    search: dict[str, Any] | None = None
    searched: dict[str, float] | None = None
    if "mix-search" in methods:
        try:
            search = run_search(mode, data_dir, srcs, args.out, args.search_runs)
        except CurricleError as err:
            sys.exit(f"error: mix-search: {err}")
        searched = {d: round(search["proposal"][d], 6) for d in domains}
        say("mix-search: proposal " + ", ".join(f"{d} {w:.3f}" for d, w in searched.items())
            + f"; predicted mean held-out {search['predicted_mean_eval_loss']:.4f}, measured "
              f"{search['measured_mean_eval_loss']:.4f} at seed {SEARCH_SEED}; {search['tokens']:,} tokens, "
              f"{search['wall_s']}s")

    runs: dict[str, dict[int, RunResult]] = {m: {} for m in methods}
    controller_configs: dict[str, Any] = {}
    for seed in args.seeds:
        base = base_config(mode, data_dir, srcs, seed)
        for method in methods:
            cd = run_config_dict(base, method, domains, searched)
            cfg = parse_config(cd, f"{method} config")  # a bad config fails here, before training
            controller_configs[method] = {"schedule": cfg.mixture.schedule.model_dump(mode="json", exclude_none=True)}
            if cfg.controller.kind != "schedule":  # the schedule controller never changes anything
                controller_configs[method]["controller"] = cfg.controller.model_dump(mode="json", exclude_none=True)
            run_dir = args.out / mode.name / method / f"seed{seed}-{config_hash(cd)}"
            wall, reused = run_method(cd, run_dir)
            r = read_run(method, seed, run_dir, domains, wall, reused)
            if method == "mix-search":
                r.search_tokens = search["tokens"]
            runs[method][seed] = r
            if r.tokens != mode.tokens_per_run:
                sys.exit(f"error: {run_dir} trained {r.tokens:,} tokens, not the planned {mode.tokens_per_run:,}")
            worst_d, worst_l = r.worst
            say(f"seed {seed} {method:<17} {'reused' if reused else f'{wall:5.1f}s'}: mean held-out "
                f"{r.mean_loss:.4f}, worst {worst_l:.4f} ({worst_d})"
                + (f", reference {r.reference_tokens:,} tokens" if r.reference_tokens else ""))

    uniform = runs["uniform"]
    table = {m: summarize(m, [runs[m][s] for s in args.seeds], uniform, domains) for m in methods}
    uniform_worst = table["uniform"]["worst_domain_loss"]["mean"]
    best, how = pick_best(table, uniform_worst)
    print_table(table, domains, args.seeds)

    best_row = table.get(best) if best else None
    speed_ok = bool(best_row and best_row["speedup"]["mean"] >= TARGET_SPEEDUP
                    and best_row["reached_seeds"] == len(args.seeds))
    worst_ok = bool(best_row and best_row["worst_domain_loss"]["mean"] <= uniform_worst)
    notes = [f"{m}: never reached uniform's final mean held-out loss in seed(s) {row['not_reached_seeds']}"
             for m, row in table.items() if "not_reached_seeds" in row]
    notes += [f"{m}: {row['flag']}" for m, row in table.items() if "flag" in row]
    if table.get("doremi", {}).get("reference_equals_uniform"):
        notes.append("doremi: its reference run has uniform's config, seed and length, so it is uniform's run "
                     "again (final held-out losses equal to 1e-6): the reference losses are uniform's final ones")
    if "doremi" in table:
        notes.append("doremi: speedup counts its main run's tokens only (the equal budget); its uniform "
                     "reference run's tokens are in reference_tokens and speedup_counting_reference")
    if search is not None:
        notes.append(f"mix-search: one search at seed {SEARCH_SEED} serves every seed; its proxies are scored on "
                     f"the same held-out rows as the benchmark (in-sample for the choice of mixture); speedup counts "
                     f"the equal budget only, speedup_counting_search adds its {search['tokens']:,} search tokens")
    for note in notes:
        say(f"note: {note}")
    wall = time.perf_counter() - _T0
    result = {
        "benchmark": "mixing",
        "quick": args.quick,
        "best_method": best,
        "best_how": how,
        "best_speedup": best_row["speedup"]["mean"] if best_row else None,
        "best_worst_domain_loss": best_row["worst_domain_loss"]["mean"] if best_row else None,
        "best_mean_loss": best_row["mean_loss"]["mean"] if best_row else None,
        "uniform_mean_loss": table["uniform"]["mean_loss"]["mean"],
        "uniform_worst_domain_loss": uniform_worst,
        "targets": {
            "speedup": f">= {TARGET_SPEEDUP}x fewer tokens to uniform's final mean held-out loss (mean over "
                       f"seeds, reached in every seed)",
            "worst_domain": "mean worst-domain loss no higher than uniform's",
            "speedup_met": speed_ok,
            "worst_domain_met": worst_ok,
            "met": speed_ok and worst_ok,
        },
        "methods": table,
        "search": None if search is None else {
            k: search[k] for k in ("dir", "runs", "seed", "proxy_steps", "tokens", "wall_s", "proposal",
                                   "predicted_mean_eval_loss", "measured_mean_eval_loss",
                                   "best_proxy_mean_eval_loss", "natural_predicted_mean_eval_loss")},
        "notes": notes,
        "settings": {
            "mode": mode.name,
            "model_preset": mode.preset,
            "steps": mode.steps,
            "batch_rows": mode.batch_rows,
            "seq_len": mode.seq_len,
            "tokens_per_run": mode.tokens_per_run,
            "lr": cfg.train.lr,
            "lr_schedule": cfg.train.lr_schedule.model_dump(mode="json"),
            "eval_every": mode.eval_every,
            "eval_rows_per_domain": mode.eval_rows_per_domain,
            "seeds": args.seeds,
            "domains": {d: {"train_tokens": natural[d], "natural_share": round(natural[d] / total, 4),
                            "train_docs": store.split(d).n_docs, "heldout_tokens": heldout[d],
                            **cover[d]} for d in domains},
            "sources": srcs,
            "controller_timing": {**timing, "rule": f"warmup_steps = round({WARMUP_SHARE} * steps), update_every = "
                                                    f"max(1, round({UPDATE_SHARE} * steps)), every controller; "
                                                    f"other knobs at their defaults"},
            "method_configs": controller_configs,
            "target_speedup": TARGET_SPEEDUP,
            "torch_threads": args.threads,
            "data_dir": str(data_dir),
            "out": str(args.out / mode.name),
            "store_built_this_run": report.did_work,
            "load_average_at_end": round(os.getloadavg()[0], 2),
        },
        "wall_s": round(wall, 1),
    }
    say(f"best: {best} ({how}); speedup {result['best_speedup']}, worst-domain loss "
        f"{result['best_worst_domain_loss']} vs uniform's {uniform_worst}; target "
        f"{'met' if result['targets']['met'] else 'not met'}; {wall:.0f}s")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
