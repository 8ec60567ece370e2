"""``curricle drift OLD NEW``: what changed between two data versions, and whether it matters.

OLD and NEW are two of a kind: token stores (``curricle prepare``'s data directories), curated
outputs (``curricle curate``'s, :mod:`curricle.drift.curated`), task sets (task files, or
finetune / rl configs or runs: :mod:`curricle.drift.tasks`) or training runs (``curricle
train``'s run directories, compared on what they served: :mod:`curricle.drift.runs`). Writes
``OUT/drift.json`` (:mod:`curricle.drift.compare`) and ``OUT/drift.md`` (the flagged checks
and the lineage, for a pull request), prints the flagged checks, and returns the exit status
``--fail-on`` asks for: 1 when the worst verdict reaches it, else 0 (errors exit 2, as every
verb's).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from curricle import atomic
from curricle.config import parse_model
from curricle.drift.compare import compare, fails
from curricle.drift.config import DriftConfig, load_drift_config
from curricle.drift.corpus import Corpus, load_store
from curricle.drift.curated import is_curated, load_curated
from curricle.drift.tasks import is_task_side, load_tasks
from curricle.drift.runs import is_run, load_run
from curricle.drift.text import share_words
from curricle.errors import CurricleError

log = logging.getLogger(__name__)


def load_side(path: Path, which: str) -> Corpus:
    """The data version at ``path``: a token store, a curated output, a task set, or the store a
    training run read and what it served."""
    path = Path(path)
    if not path.exists():
        raise CurricleError(f"{which} {path}: no such file or directory")
    if (path / "manifest.json").is_file():
        return load_store(path)
    if is_curated(path):
        return load_curated(path)
    if is_task_side(path):  # before runs: a finetune / rl run is a task set
        return load_tasks(path)
    if is_run(path):
        return load_run(path)
    raise CurricleError(f"{which} {path}: not a token store (no manifest.json), a curated output (no funnel.json), "
                        f"a training run (no config.yaml and metrics.jsonl) or a task set (a .jsonl task file, a "
                        f"finetune/rl config or run)")


def markdown(result: dict[str, Any]) -> str:
    """The flagged checks, pass rates (task sets with ``--ref-model``), served shares (runs) and
    the lineage as a short Markdown page."""
    lines = [f"# Drift: {result['old']['label']} -> {result['new']['label']}", "",
             f"Verdict: **{result['verdict']}** ({result['counts']['DRIFT']} DRIFT, {result['counts']['WARN']} WARN, "
             f"{result['counts']['OK']} OK; calibrated on {result['settings']['null_splits']} split-halves of OLD)", ""]
    if result["drifted"]:
        lines += ["| verdict | section | domain | statistic | value | z |", "|---|---|---|---|---|---|"]
        lines += [f"| {d['verdict']} | {d['section']} | {d['domain'] or '(all)'} | {d['statistic']} | {d['value']} | "
                  f"{d['z']} |" for d in result["drifted"]]
        lines.append("")
    rates = [c for c in result["checks"] if c["section"] == "pass_rate" and "difference" in c["detail"]]
    if rates:
        lines += ["## Pass rate under the reference checkpoint", "",
                  "| task | old | new | new - old | 95% interval | verdict |", "|---|---|---|---|---|---|"]
        lines += [f"| {c['domain'] or '(all)'} | {c['detail']['old']} | {c['detail']['new']} | "
                  f"{c['detail']['difference']} | {c['detail']['interval']} | {c['verdict']} |" for c in rates]
        lines.append("")
    served = {side: result[side].get("served") for side in ("old", "new")}
    if all(served.values()):
        lines += ["## Tokens served (runs)", "", "| domain | old share | new share |", "|---|---|---|"]
        lines += [f"| {d} | {served['old']['shares'].get(d)} | {served['new']['shares'].get(d)} |"
                  for d in sorted(set(served["old"]["shares"]) | set(served["new"]["shares"]))]
        lines.append("")
    lin, churn = result["lineage"], result.get("churn", {})
    lines += ["## Lineage", "", f"Snapshots: {lin['snapshots']['old']} -> {lin['snapshots']['new']}", "",
              "| domain | old | new | retained | added | removed | churn (by content) |", "|---|---|---|---|---|---|---|"]
    lines += [f"| {d} | {e['old']} | {e['new']} | {e['retained']} | {e['added']} | {e['removed']} | {churn.get(d, '')} |"
              for d, e in lin["domains"].items()]
    return "\n".join(lines) + "\n"


def drift_command(old: Path, new: Path, out: Path | None, fail_on: str | None, config_path: Path | None,
                  progress: bool = True, ref_model: Path | None = None) -> int:
    """Compare OLD and NEW, write OUT/drift.json and drift.md; return the exit status."""
    config = load_drift_config(config_path)
    if fail_on is not None:
        config = parse_model({**config.model_dump(), "fail_on": fail_on}, DriftConfig, "--fail-on")
    if ref_model is not None:
        config = parse_model({**config.model_dump(), "ref_model": ref_model}, DriftConfig, "--ref-model")
    a, b = load_side(old, "OLD"), load_side(new, "NEW")
    if a.kind != b.kind:
        raise CurricleError(f"OLD {old} is a {a.kind} side and NEW {new} a {b.kind} side: compare two of a kind")
    share_words(a, b)
    result = compare(a, b, config, progress=progress)
    out = Path(out) if out is not None else Path("drift")
    out.mkdir(parents=True, exist_ok=True)
    atomic.write_json(out / "drift.json", result)
    atomic.write_text(out / "drift.md", markdown(result))
    log.info("drift: %s (%d DRIFT, %d WARN, %d OK) in %.1f s; %s", result["verdict"], result["counts"]["DRIFT"],
             result["counts"]["WARN"], result["counts"]["OK"], result["seconds"], out / "drift.json")
    for d in result["drifted"][:20]:
        log.info("  %-5s %s %s %s = %s (z %s)", d["verdict"], d["section"], d["domain"] or "(all)", d["statistic"],
                 d["value"], d["z"])
    return 1 if fails(result, config.fail_on) else 0
