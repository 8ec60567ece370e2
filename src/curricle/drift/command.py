"""``curricle drift OLD NEW``: what changed between two data versions, and whether it matters.

OLD and NEW are token stores (``curricle prepare``'s data directories). Writes
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
from curricle.drift.compare import compare, fails
from curricle.config import parse_model
from curricle.drift.config import DriftConfig, load_drift_config
from curricle.drift.corpus import Corpus, load_store
from curricle.errors import CurricleError

log = logging.getLogger(__name__)


def load_side(path: Path, which: str) -> Corpus:
    """The data version at ``path`` (a token store)."""
    path = Path(path)
    if not path.exists():
        raise CurricleError(f"{which} {path}: no such file or directory")
    if (path / "manifest.json").is_file():
        return load_store(path)
    raise CurricleError(f"{which} {path}: not a token store (no manifest.json); "
                        f"give two 'curricle prepare' data directories")


def markdown(result: dict[str, Any]) -> str:
    """The flagged checks and the lineage as a short Markdown page."""
    lines = [f"# Drift: {result['old']['label']} -> {result['new']['label']}", "",
             f"Verdict: **{result['verdict']}** ({result['counts']['DRIFT']} DRIFT, {result['counts']['WARN']} WARN, "
             f"{result['counts']['OK']} OK; calibrated on {result['settings']['null_splits']} split-halves of OLD)", ""]
    if result["drifted"]:
        lines += ["| verdict | section | domain | statistic | value | z |", "|---|---|---|---|---|---|"]
        lines += [f"| {d['verdict']} | {d['section']} | {d['domain'] or '(all)'} | {d['statistic']} | {d['value']} | "
                  f"{d['z']} |" for d in result["drifted"]]
        lines.append("")
    lin = result["lineage"]
    lines += ["## Lineage", "", f"Snapshots: {lin['snapshots']['old']} -> {lin['snapshots']['new']}", "",
              "| domain | old | new | retained | added | removed |", "|---|---|---|---|---|---|"]
    lines += [f"| {d} | {e['old']} | {e['new']} | {e['retained']} | {e['added']} | {e['removed']} |"
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
