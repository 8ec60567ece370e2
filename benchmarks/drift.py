"""``curricle drift`` against planted changes and null pairs: does it flag what changed, where it
changed, and nothing else?

Usage::

    .venv/bin/python benchmarks/drift.py --quick     # about 13,000 documents a version; see "Cost"
    .venv/bin/python benchmarks/drift.py             # twice the synthetic documents, 50 null pairs

**The base version** is built from the built-in sources, four domains: ``prose`` (Python's
documentation topics and docstrings, ``python-prose``), ``code`` (the standard library's modules,
``python-code``, cut into pieces of about ``CHUNK_CHARS`` characters at blank lines, at most
``code_docs`` of them), and two built-in skills, ``arithmetic`` and ``copy`` (``synthetic``).
It is prepared once into a token store with its own byte-level BPE; every variant is prepared
with that same tokenizer, so token ids mean the same on both sides.

**Planted changes**, one per variant, each named with the domain and the statistics that should
catch it (fixed here before any run; a plant counts as *detected* when at least one of its
statistics is ``DRIFT`` at its domain):

- ``share``: ``arithmetic``'s token share up by 2 points (new documents from the same
  generator with another seed, as many as make +2 points of the training tokens, counted with
  the base's tokenizer; 5% of them fall in the held-out split, so the realized change of the
  training share is reported): ``mixture/share``;
- ``quality``: 10% of ``prose`` replaced by boilerplate-heavy documents (cookie notices,
  copyright lines, navigation bars around a sentence of the document they replace):
  ``metadata`` (any column's Wasserstein or KS), ``content/auc``;
- ``new_source``: a new source mixed into ``code`` at 10% (the ``facts`` skill's documents, new
  ids): ``tokens/unigram_js``, ``tokens/bigram_js``, ``content/auc``;
- ``duplicates``: 5% of ``prose``'s documents duplicated under new ids:
  ``near_duplicates/duplicate_share``.

**Null pairs.** ``null_pairs`` (20) random halves of the base: each domain's documents split in
two at random (a seed per pair), OLD = one half, NEW = the other, compared like any two versions
(the halves are selections of the base's loaded store, the same arrays a prepared half would
give; no second store is written). Every ``DRIFT`` verdict on a null pair is a false alarm.

Every comparison runs at ``curricle drift``'s defaults (every section, verdicts calibrated on 20
split-halves of OLD, DRIFT above the null's mean + 3 sd). The last line is one JSON object:
``false_alarms`` (DRIFT verdicts over all null pairs; target 0) and ``null_warns``, ``detected``
and ``planted`` (target: equal), per plant the statistics at its domain with their verdicts and
z, and ``also_at_domain`` (DRIFT verdicts of other statistics at the plant's domain: a new source also
changes lengths, say) and ``misplaced`` (DRIFT verdicts at other domains: reported, not a
target; a domain that grows lowers every other domain's token share, and the mixture section
says so), and
``docs_per_s`` (documents on both sides over the comparison's seconds, split-halves included).

**Cost.** ``--quick``: building the sources and five stores, then 24 comparisons; see the
README's table for the measured time.
"""

from __future__ import annotations

import argparse
import json
import logging
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from common import ROOT, cached_products, finish, record_prepared, say

#: A code piece is cut at the first blank line after this many characters.
CHUNK_CHARS = 1500

#: Each plant: the domain it changes and the (section, statistic prefix) pairs that should catch it.
PLANTS: dict[str, tuple[str, list[tuple[str, str]]]] = {
    "share": ("arithmetic", [("mixture", "share")]),
    "quality": ("prose", [("metadata", "wasserstein/"), ("metadata", "ks/"), ("content", "auc")]),
    "new_source": ("code", [("tokens", "unigram_js"), ("tokens", "bigram_js"), ("content", "auc")]),
    "duplicates": ("prose", [("near_duplicates", "duplicate_share")]),
}


@dataclass(frozen=True)
class Mode:
    name: str
    code_docs: int
    synthetic_docs: int
    null_pairs: int


MODES = {"quick": Mode("quick", 4000, 1500, 20), "full": Mode("full", 8000, 3000, 50)}

BOILERPLATE = (
    "This page uses cookies to improve your experience. By continuing to browse the site you agree to our use of "
    "cookies. Read our privacy policy for more details. Accept all cookies or manage your preferences.",
    "Copyright (c) {n} Example Corporation. All rights reserved. Unauthorized copying of this page, via any medium, "
    "is strictly prohibited.",
    "Subscribe to our newsletter to get the latest news delivered to your inbox every week. You can unsubscribe at "
    "any time. Sign up now and save {n} percent.",
    "Home | About | Products | Services | Blog | Contact | Login | Register | Cart ({n}) | Search",
)


# -- the versions --------------------------------------------------------------------------------


def builtin(kind: str, **kw) -> list[dict[str, str]]:
    from curricle.sources import build_source
    from curricle.sources.config import PythonCodeConfig, PythonProseConfig, SyntheticConfig

    config = {"python-code": PythonCodeConfig, "python-prose": PythonProseConfig, "synthetic": SyntheticConfig}[kind]
    return [{"id": d.id, "text": d.text} for d in build_source(config(**kw))]


def code_pieces(files: list[dict[str, str]], limit: int) -> list[dict[str, str]]:
    """Each module cut at blank lines into pieces of at least CHUNK_CHARS characters."""
    out = []
    for f in files:
        piece, start = [], 0
        for k, block in enumerate(re.split(r"\n\s*\n", f["text"])):
            piece.append(block)
            if sum(len(b) for b in piece) >= CHUNK_CHARS:
                out.append({"id": f"{f['id']}#{start}", "text": "\n\n".join(piece)})
                piece, start = [], k + 1
        if piece and sum(len(b) for b in piece) >= 200:
            out.append({"id": f"{f['id']}#{start}", "text": "\n\n".join(piece)})
    return out[:limit]


def base_docs(mode: Mode) -> dict[str, list[dict[str, str]]]:
    return {
        "prose": builtin("python-prose", domain="prose"),
        "code": code_pieces(builtin("python-code", domain="code"), mode.code_docs),
        "arithmetic": builtin("synthetic", domain="arithmetic", skill="arithmetic", n_docs=mode.synthetic_docs, seed=0),
        "copy": builtin("synthetic", domain="copy", skill="copy", n_docs=mode.synthetic_docs, seed=0),
    }


def boilerplate_heavy(i: int, text: str) -> str:
    rng = np.random.default_rng([i, 0xB0])
    sentence = text.split("\n")[0][:160]
    lines = [BOILERPLATE[int(k)].format(n=int(rng.integers(1, 99))) for k in rng.integers(0, len(BOILERPLATE), 6)]
    lines.insert(int(rng.integers(0, len(lines) + 1)), sentence)
    return "\n".join(lines)


def variants(base: dict[str, list[dict[str, str]]], mode: Mode, base_store: Path) -> dict[str, dict[str, list[dict[str, str]]]]:
    """The four planted versions (see the module docstring)."""
    from curricle.store import TokenStore

    rng = np.random.default_rng(0xD1F7)
    out = {}
    # share: arithmetic +2 points of the training tokens (counted with the base's tokenizer, EOS included)
    store = TokenStore(base_store)
    tokens = store.natural_tokens("train")
    total, own = sum(tokens.values()), tokens["arithmetic"]
    target = own / total + 0.02
    need = (target * total - own) / (1 - target)  # adding x tokens: (own + x) / (total + x) = target
    tok = store.load_tokenizer()
    extra = builtin("synthetic", domain="arithmetic", skill="arithmetic", n_docs=mode.synthetic_docs, seed=1)
    added, got = [], 0
    for x in extra:
        if got >= need:
            break
        added.append({"id": f"more-{x['id']}", "text": x["text"]})
        got += len(tok(x["text"])["input_ids"]) + 1
    out["share"] = {**base, "arithmetic": base["arithmetic"] + added}
    # quality: 10% of prose replaced by boilerplate-heavy documents
    prose = list(base["prose"])
    for i in rng.choice(len(prose), size=len(prose) // 10, replace=False):
        prose[i] = {"id": f"boiler-{i}", "text": boilerplate_heavy(int(i), prose[i]["text"])}
    out["quality"] = {**base, "prose": prose}
    # new_source: facts documents into code at 10%
    n = len(base["code"]) // 10
    facts = builtin("synthetic", domain="code", skill="facts", n_docs=n, seed=0)
    out["new_source"] = {**base, "code": base["code"] + [{"id": f"facts-{x['id']}", "text": x["text"]} for x in facts]}
    # duplicates: 5% of prose's documents again, new ids
    dup = rng.choice(len(base["prose"]), size=len(base["prose"]) // 20, replace=False)
    out["duplicates"] = {**base, "prose": base["prose"] + [{"id": f"dup-{i}", "text": base["prose"][i]["text"]}
                                                          for i in sorted(dup)]}
    return out


def prepare_version(docs: dict[str, list[dict[str, str]]], work: Path, name: str, tokenizer: Path | None) -> Path:
    """The version's token store (built once, with the code that made it recorded,
    ``common.record_prepared``; reused while its sources are unchanged)."""
    from curricle.prepare.config import PrepareConfig, TokenizerConfig
    from curricle.prepare.pipeline import prepare
    from curricle.sources.config import JsonlConfig

    src = work / "sources" / name
    src.mkdir(parents=True, exist_ok=True)
    sources = []
    for domain, rows in docs.items():
        path = src / f"{domain}.jsonl"
        text = "".join(json.dumps(r) + "\n" for r in rows)
        if not path.is_file() or path.read_text() != text:
            path.write_text(text)
        sources.append(JsonlConfig(domain=domain, path=str(path)))
    tok = TokenizerConfig(kind="pretrained", path=tokenizer) if tokenizer else TokenizerConfig(vocab_size=4096)
    return record_prepared(prepare(sources, tok, PrepareConfig(), work / "stores" / name, progress=False))


# -- the comparisons -----------------------------------------------------------------------------


def half_pair(base, seed: int):
    """OLD and NEW: two random halves of every domain of ``base`` (a Corpus)."""
    return base.halves(np.random.default_rng([seed, 0x4A1F]))


def judge_plant(result: dict[str, Any], domain: str, wanted: list[tuple[str, str]]) -> dict[str, Any]:
    mine = [c for c in result["checks"] if c["domain"] == domain
            and any(c["section"] == s and c["statistic"].startswith(p) for s, p in wanted)]
    hits = [c for c in mine if c["verdict"] == "DRIFT"]
    others = [d for d in result["drifted"] if d["verdict"] == "DRIFT" and not (
        d["domain"] == domain and any(d["section"] == s and d["statistic"].startswith(p) for s, p in wanted))]

    def named(ds):
        return [f"{d['section']}/{d['domain'] or '(all)'}/{d['statistic']} z {d['z']}" for d in ds]

    return {
        "detected": bool(hits),
        "statistics": {f"{c['section']}/{c['statistic']}": {"verdict": c["verdict"], "z": c["z"]} for c in mine},
        "also_at_domain": named([d for d in others if d["domain"] == domain]),
        "misplaced": named([d for d in others if d["domain"] != domain]),
        "churn": result["churn"].get(domain),
        "seconds": result["seconds"],
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="The CI-sized run (about 13,000 documents a version).")
    parser.add_argument("--work", type=Path, default=ROOT / "runs" / "bench-drift", help="Sources and stores (reused).")
    parser.add_argument("--null-pairs", type=int, default=None, help="Null pairs (default: 20 quick, 50 full).")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    mode = MODES["quick" if args.quick else "full"]
    null_pairs = args.null_pairs or mode.null_pairs
    logging.getLogger("curricle").setLevel(logging.ERROR)

    from curricle.drift.compare import compare
    from curricle.drift.config import DriftConfig
    from curricle.drift.corpus import load_store

    say("sources: built-in prose, code pieces, arithmetic, copy")
    base = base_docs(mode)
    say("stores: base (its own BPE) and four planted versions (the base's tokenizer)")
    base_dir = prepare_version(base, args.work, "base", None)
    tokenizer = next(base_dir.glob("tokenizer-*"))
    planted = {name: prepare_version(docs, args.work, name, tokenizer)
               for name, docs in variants(base, mode, base_dir).items()}
    config = DriftConfig()
    old = load_store(base_dir)
    n_docs = {d: docs.n_docs for d, docs in old.domains.items()}
    say(f"base: {sum(n_docs.values())} training documents ({', '.join(f'{d} {n}' for d, n in n_docs.items())})")

    seconds, docs = 0.0, 0
    plants: dict[str, Any] = {}
    for name, data_dir in planted.items():
        new = load_store(data_dir)
        result = compare(old, new, config)
        seconds, docs = seconds + result["seconds"], docs + result["docs"]
        domain, wanted = PLANTS[name]
        plants[name] = {"domain": domain, **judge_plant(result, domain, wanted)}
        if name == "share":
            sh = next(c for c in result["checks"] if c["section"] == "mixture" and c["statistic"] == "share"
                      and c["domain"] == domain)
            plants[name]["realized_share_change"] = sh["detail"].get("delta")
        stats = ", ".join(f"{k} {v['verdict']} z {v['z']}" for k, v in plants[name]["statistics"].items())
        found = "DETECTED" if plants[name]["detected"] else "missed"
        say(f"{name}: {found} at {domain} ({stats}); {len(plants[name]['also_at_domain'])} more DRIFT there, "
            f"{len(plants[name]['misplaced'])} at other domains ({'; '.join(plants[name]['misplaced'])}); "
            f"{result['seconds']:.1f} s")

    false_alarms, warns, alarms = 0, 0, []
    for seed in range(null_pairs):
        a, b = half_pair(old, seed)
        result = compare(a, b, config)
        seconds, docs = seconds + result["seconds"], docs + result["docs"]
        drift = [d for d in result["drifted"] if d["verdict"] == "DRIFT"]
        false_alarms += len(drift)
        warns += sum(d["verdict"] == "WARN" for d in result["drifted"])
        alarms += [f"pair {seed}: {d['section']}/{d['domain'] or '(all)'}/{d['statistic']} z {d['z']}" for d in drift]
        say(f"null pair {seed}: {len(drift)} DRIFT, {sum(d['verdict'] == 'WARN' for d in result['drifted'])} WARN "
            f"of {sum(result['counts'].values())} checks; {result['seconds']:.1f} s")

    checks_per = sum(result["counts"].values())
    detected = sum(p["detected"] for p in plants.values())
    out = {
        "benchmark": "drift", "quick": args.quick,
        "false_alarms": false_alarms, "null_pairs": null_pairs, "null_checks": checks_per * null_pairs,
        "null_warns": warns, "null_alarms": alarms[:20],
        "detected": detected, "planted": len(PLANTS), "plants": plants,
        "docs_per_s": round(docs / seconds, 1), "compare_seconds": round(seconds, 1),
        "targets": {"false_alarms": false_alarms == 0, "detected": detected == len(PLANTS)},
        "settings": {"mode": mode.name, "base_docs": n_docs, "sections": sorted({c["section"] for c in result["checks"]}),
                     "null_splits": config.null_splits, "warn_sd": config.warn_sd, "drift_sd": config.drift_sd},
        "cached_products": cached_products([base_dir, *planted.values()]),  # the stores, read back while up to date
    }
    finish("drift", out, started, quick=args.quick)


if __name__ == "__main__":
    main()
