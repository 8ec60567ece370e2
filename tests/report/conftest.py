"""Run directories with known contents for the report tests.

``fake_run`` writes every file a finished run has (config, metrics with evaluations, audit
log, events, checkpoints, probes, a curation funnel) with values chosen so each panel's
embedded data can be checked exactly. ``real_run`` trains a micro model with a controller,
an injected spike and in-loop probes, so the report is also checked on files the trainer
wrote.
"""

from __future__ import annotations

import json
import math
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from curricle.probes.results import SCHEMA as PROBE_SCHEMA

DOMAINS = ["code", "prose"]
STEPS = 20
ROWS_TOKENS = 100  # tokens per step


def _weights(step: int) -> dict[str, float]:
    # Phase "warmup" (steps 1..10): prose only; "main": 0.5 / 0.5, then the audit log's 0.7 / 0.3 from step 16.
    if step <= 10:
        return {"code": 0.0, "prose": 1.0}
    return {"code": 0.7, "prose": 0.3} if step >= 16 else {"code": 0.5, "prose": 0.5}


def eval_loss(step: int, domain: str) -> float:
    return round(5.0 - 0.1 * step + (0.5 if domain == "code" else 0.0), 6)


def write_fake_run(root: Path, steps: int = STEPS, total: int = STEPS, probes: bool = True, funnel: bool = True,
                   audit: bool = True, events: bool = True, checkpoints: tuple[int, ...] = (10, 20),
                   hard_examples: bool = True) -> Path:
    run = root / "run"
    run.mkdir(parents=True)
    config = {
        "name": "fake", "seed": 0, "data_dir": str(root / "data"),
        "mixture": {"schedule": {"kind": "phases", "phases": [
            {"name": "warmup", "steps": 10, "weights": {"prose": 1}},
            {"name": "main", "weights": {"code": 1, "prose": 1}}]}},
        "controller": {"kind": "odm"} if audit else {"kind": "schedule"},
        "train": {"steps": total, "eval_every": 10},
    }
    if funnel:
        config["curate"] = {"output_dir": str(root / "curated")}
        (root / "curated").mkdir()
        (root / "curated" / "funnel.json").write_text(json.dumps(FUNNEL))
    (run / "config.yaml").write_text(yaml.safe_dump(config))
    lines = []
    for s in range(1, steps + 1):
        w = _weights(s)
        m = {"step": s, "tokens": s * ROWS_TOKENS, "eval_tokens": (s // 10) * 60, "lr": 0.001 * min(1.0, s / 5), "seq_len": 32 if s <= 10 else 64,
             "phase": "warmup" if s <= 10 else "main", **{f"weight/{d}": w[d] for d in DOMAINS},
             "loss": 6.0 - 0.1 * s, "grad_norm": 1.0, "tokens_per_s": 1000.0}
        for d in DOMAINS:
            if w[d] > 0:
                m[f"loss/{d}"] = 6.0 - 0.1 * s + (0.5 if d == "code" else 0.0)
        if s % 10 == 0:
            for d in DOMAINS:
                m[f"eval/loss/{d}"] = eval_loss(s, d)
                m[f"eval/ppl/{d}"] = math.exp(eval_loss(s, d))
                m[f"eval/ece/{d}"] = 0.05
            m["eval/loss"] = (eval_loss(s, "code") + eval_loss(s, "prose")) / 2
            m["eval/ece"] = 0.04
        lines.append(json.dumps(m))
    (run / "metrics.jsonl").write_text("\n".join(lines) + "\n")
    if audit:
        (run / "mixture_log.jsonl").write_text(json.dumps({
            "step": 15, "effective_from_step": 16, "old": {"code": 0.5, "prose": 0.5},
            "new": {"code": 0.7, "prose": 0.3}, "signal": {"code": 4.1, "prose": 3.2},
            "reason": "odm: EXP3 reward favours code"}) + "\n")
    if events:
        (run / "events.jsonl").write_text("".join(json.dumps(e) + "\n" for e in [
            {"step": 12, "event": "skip", "reason": "spike", "loss": 9.0, "z": 8.5},
            {"step": 13, "event": "rollback", "reason": "repeated spikes", "done": True, "to_step": 10}]))
    for c in checkpoints:
        d = run / "checkpoints" / f"step_{c}"
        d.mkdir(parents=True)
        (d / "trainer_state.json").write_text(json.dumps({"step": c, "tokens": c * ROWS_TOKENS, "files": {}}))
    if hard_examples:
        (run / "mine").mkdir()
        (run / "mine" / "regions.json").write_text(json.dumps(REGIONS))
    if probes:
        rows = []
        for s in range(2, steps + 1, 2):
            for task, score in (("copy", 0.0 if s < 10 else 1.0), ("facts", 0.25)):
                rows.append({
                    "schema": PROBE_SCHEMA, "run": str(run), "run_name": "run", "checkpoint": None, "step": s,
                    "tokens": s * ROWS_TOKENS, "task": task, "skill": task, "task_hash": "h",
                    "output_type": "multiple_choice", "n": 100, "composite_of": [],
                    "metrics": {"acc": score, "acc_se": 0.01}, "discrete": "acc", "continuous": "acc",
                    "chance": {"acc": 0.0 if task == "copy" else 0.25}, "seconds": 0.1, "cached": False})
        (run / "probes.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return run


FUNNEL = {"format": 1, "domains": {
    "code": {"in": {"docs": 10, "tokens": 1000}, "out": {"docs": 6, "tokens": 600}, "files": [], "steps": [
        {"step": "read", "docs": {"in": 10, "kept": 10, "dropped": {}, "rewritten": 0},
         "tokens": {"in": 1000, "kept": 1000, "dropped": {}, "removed_by_rewrite": 0}, "replaced": {}},
        {"step": "dedup", "docs": {"in": 10, "kept": 6, "dropped": {"duplicate": 4}, "rewritten": 0},
         "tokens": {"in": 1000, "kept": 600, "dropped": {"duplicate": 400}, "removed_by_rewrite": 0}, "replaced": {}}]},
    "prose": {"in": {"docs": 5, "tokens": 500}, "out": {"docs": 4, "tokens": 450}, "files": [], "steps": [
        {"step": "read", "docs": {"in": 5, "kept": 5, "dropped": {}, "rewritten": 0},
         "tokens": {"in": 500, "kept": 500, "dropped": {}, "removed_by_rewrite": 0}, "replaced": {}},
        {"step": "dedup", "docs": {"in": 5, "kept": 4, "dropped": {"duplicate": 1}, "rewritten": 0},
         "tokens": {"in": 500, "kept": 450, "dropped": {"duplicate": 50}, "removed_by_rewrite": 0}, "replaced": {}}]},
}}


def _region(column, value, count, err, loss, excess, separated):
    return {"kind": "meta", "column": column, "value": value, "count": count,
            "error_rate": {"mean": err, "ci95": [err - 0.1, err + 0.1], "n": count},
            "loss": {"mean": loss, "ci95": [loss - 0.2, loss + 0.2], "n": count}, "margin": None,
            "confidence": None, "calibration": None, "trend": None, "excess": excess,
            "rest": {"count": 40 - count}, "separated": separated}


#: What `curricle mine` wrote for the fake run: code's hard region is its 'forum' source.
REGIONS = {"run": "run", "step": 20, "data_dir": "data", "settings": {"trend_threshold": 0.02}, "domains": {
    "code": {"ranked_by": "error_rate", "seen": 40, "unseen": 2,
             "overall": {"count": 40, "error_rate": {"mean": 0.45, "ci95": [0.3, 0.6], "n": 40},
                         "loss": {"mean": 3.5, "ci95": [3.3, 3.7], "n": 40}},
             "regions": [_region("source", "forum", 10, 0.9, 5.0, 0.45, True),
                         _region("source", "wiki", 30, 0.3, 3.0, -0.15, True)],
             "regions_too_small": 0,
             "hard_split": {"hard": 4, "loss_at_least": 5.1,
                            "learning": {"count": 1, "examples": []}, "stuck": {"count": 3, "examples": []},
                            "rising": {"count": 0, "examples": []}, "unknown": {"count": 0, "examples": []}},
             "groupings": ["meta:source"], "notes": []}}}


@pytest.fixture
def fake_run(tmp_path):
    return write_fake_run(tmp_path)


def embedded(html_text: str, element_id: str = "curricle-data"):
    """The JSON a page embeds in ``<script type="application/json" id=element_id>``."""
    start = html_text.index(f'id="{element_id}">') + len(f'id="{element_id}">')
    end = html_text.index("</script>", start)
    return json.loads(html_text[start:end])


def figures(html_text: str) -> dict[str, dict]:
    """Every figure the page draws: ``{div id: plotly figure JSON}``."""
    out, pos = {}, 0
    marker = '<script type="application/json" class="fig" data-target="'
    while (i := html_text.find(marker, pos)) >= 0:
        j = html_text.index('">', i + len(marker))
        end = html_text.index("</script>", j)
        out[html_text[i + len(marker):j]] = json.loads(html_text[j + 2:end])
        pos = end
    return out


CHROMIUM = "/usr/bin/chromium"


@pytest.fixture(scope="session")
def chromium() -> str:
    """Debian's chromium, installed with apt when missing (tests need no browser download)."""
    if shutil.which(CHROMIUM) is None:
        install = ["apt-get", "install", "-y", "-q", "chromium"]
        if subprocess.run(install, capture_output=True).returncode != 0:
            subprocess.run(["apt-get", "update", "-q"], capture_output=True)
            done = subprocess.run(install, capture_output=True, text=True)
            if done.returncode != 0:
                pytest.fail(f"could not install Debian's chromium for the browser test: {done.stderr[-500:]}")
    return CHROMIUM
