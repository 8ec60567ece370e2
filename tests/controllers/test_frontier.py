"""``frontier``: a skill's share moves up its ladder as the in-loop probes see levels emerge."""

import json
import os
import subprocess

import numpy as np
import pytest
import torch
import yaml
from safetensors.numpy import load_file

from curricle.config import parse_config
from curricle.controllers.base import ControllerContext, DomainStats, ProbeSignal, refusal_in_hf_trainer
from curricle.controllers.config import FrontierConfig
from curricle.controllers.frontier import Frontier, doc_level, emerged
from curricle.controllers.hook import ControllerHook
from curricle.emergence.config import MapConfig
from curricle.emergence.curves import analyze
from curricle.errors import CurricleError
from curricle.mixture.config import MixtureConfig, StaticConfig
from curricle.mixture.sampler import MixtureSampler
from curricle.prepare.command import prepare_run
from curricle.store import TokenStore
from tests.train.conftest import PYTHON, run_killed_then_resumed

TASKS = ("copy@2", "copy@4", "copy@8")


def context(ids, lengths, domains=("copy",)):
    return ControllerContext(list(domains), {d: 100 for d in domains}, doc_counts={"copy": len(ids)},
                             doc_column=lambda d, name: np.array(ids if d == "copy" else ["x-0"]),
                             doc_lengths=lambda d: np.asarray(lengths))


#: Two documents of copy@2 (4 tokens each), one of copy@4 (8), two of copy@8 (16).
IDS = ["copy@2-0-0", "copy@8-0-0", "copy@4-0-0", "copy@2-0-1", "copy@8-0-1"]
LENGTHS = [4, 16, 8, 4, 16]


def frontier(**kw):
    return Frontier(FrontierConfig(**kw), context(IDS, LENGTHS))


def signal(task, score, stderr=0.05, step=10, chance=0.0, in_sample=False):
    family, _, level = task.partition("@")
    return ProbeSignal(task=task, skill=task, family=family, level=level, level_index=TASKS.index(task),
                       metric="exact_match", score=score, stderr=stderr, chance=chance, continuous="logprob",
                       continuous_score=-1.0, continuous_stderr=0.1, step=step, n=100, in_sample=in_sample)


def probe_step(c, step, scores, stderr=0.05):
    """Step ``step`` with these probe scores (task -> score; the others 0)."""
    probes = {t: signal(t, scores.get(t, 0.0), stderr, step) for t in TASKS}
    stats = DomainStats(step, np.zeros(1), np.zeros(1), np.ones(1), probes=probes)
    return c.update(step, stats)


def test_the_rule_is_the_emergence_maps():
    # The defaults are the map's, and on any score the rule says what the map says of a curve
    # that rises from chance to that score (no smoothing).
    cfg, map_cfg = FrontierConfig(), MapConfig()
    assert (cfg.z, cfg.min_gain) == (map_cfg.z, map_cfg.min_gain)
    settings = map_cfg.model_copy(update={"sigma": 0.0}).curve_settings()
    for score, se, chance in [(0.149, 0.05, 0.0), (0.151, 0.05, 0.0), (0.09, 0.0, 0.0), (0.11, 0.0, 0.0),
                              (0.5, 0.2, 0.25), (0.9, 0.2, 0.25), (0.36, 0.01, 0.25), (0.34, 0.01, 0.25)]:
        curve = analyze(np.log([10.0, 20.0]), np.array([chance, score]), chance, settings, np.array([0.0, se]))
        assert emerged(signal("copy@2", score, se, chance=chance), cfg.z, cfg.min_gain) == curve.emerged
    # ...and only where the map would count it: a chance level to beat, items held out.
    assert not emerged(signal("copy@2", 0.9, 0.01, chance=None), 3.0, 0.1)
    assert not emerged(signal("copy@2", 0.9, 0.01, in_sample=True), 3.0, 0.1)
    assert emerged(signal("copy@2", 0.2, float("nan")), 3.0, 0.1)  # an unknown stderr counts as 0, as in the map


def test_weight_moves_up_one_level_exactly_when_the_score_crosses_the_rule():
    c = frontier(move=0.5, keep=0.1)
    assert c.doc_domains == ["copy"] and not c.needs_doc_losses
    assert c.ladders[0].levels == ["2", "4", "8"]  # the ladder's order, not the documents'
    assert c.ladders[0].weights.tolist() == [1.0, 0.0, 0.0]  # start: easiest
    # copy@2: 0.10, then 0.149 (below 3 stderr = 0.15), then 0.151: it moves at step 30.
    assert probe_step(c, 10, {"copy@2": 0.10}) is None
    assert c.take_notes().audit == [] and c.doc_priorities(10) is None
    probe_step(c, 20, {"copy@2": 0.149})
    notes = c.take_notes()
    assert notes.audit == [] and c.doc_priorities(20) is None
    assert c.ladders[0].weights.tolist() == [1.0, 0.0, 0.0]
    assert notes.metrics == {"frontier/copy/level": 0, "frontier/copy/weight/2": 1.0,
                             "frontier/copy/weight/4": 0.0, "frontier/copy/weight/8": 0.0}
    probe_step(c, 30, {"copy@2": 0.151})
    assert c.ladders[0].weights == pytest.approx([0.55, 0.45, 0.0], abs=1e-15)  # 0.5 x (1 - 0.1) moved
    notes = c.take_notes()
    [line] = notes.audit
    assert line == {
        "step": 30, "effective_from_step": 31, "domain": "copy", "skill": "copy", "level": "2", "task": "copy@2",
        "emerged_step": 30, "to": "copy@4", "moved": pytest.approx(0.45, abs=1e-15),
        "signal": {"metric": "exact_match", "score": 0.151, "stderr": 0.05, "chance": 0.0, "n": 100},
        "old": {"copy@2": 1.0, "copy@4": 0.0, "copy@8": 0.0},
        "new": {"copy@2": pytest.approx(0.55, abs=1e-15), "copy@4": pytest.approx(0.45, abs=1e-15), "copy@8": 0.0},
        "reason": "copy@2 emerged: exact_match 0.151 >= chance 0 + max(min_gain 0.1, 3 x stderr 0.05); "
                  "0.45 of its weight above keep 0.1 moved to copy@4"}
    assert notes.metrics["frontier/copy/level"] == 1
    assert c.take_notes().audit == []  # handed over once
    c.update(31, DomainStats(31, np.zeros(1), np.zeros(1), np.ones(1)))
    assert c.take_notes().metrics == {}  # metrics at probe steps only
    # An emerged level stays emerged (its score fell back) and keeps moving; copy@4 emerges at 40.
    probe_step(c, 40, {"copy@2": 0.12, "copy@4": 0.2})
    assert c.ladders[0].weights == pytest.approx([0.325, 0.45 + 0.225 - 0.175, 0.175], abs=1e-15)
    lines = c.take_notes().audit
    assert [(x["task"], x["emerged_step"], x["to"]) for x in lines] == [("copy@2", 30, "copy@4"),
                                                                         ("copy@4", 40, "copy@8")]
    assert lines[0]["reason"] == "copy@2 emerged at step 30; 0.225 of its weight above keep 0.1 moved to copy@4"
    assert lines[0]["signal"]["score"] == 0.12  # this step's score
    # Down to keep, an emerged level moves no more: once what it would move is below min_move
    # (0.001) it has settled, within min_move / move of keep; the top of the ladder has its line once.
    moves = []
    for step in range(50, 400, 10):
        probe_step(c, step, {"copy@2": 0.5, "copy@4": 0.5})
        moves += [x["moved"] for x in c.take_notes().audit]
    assert moves and min(moves) >= 0.001 and c.doc_priorities(390) is None  # the last probes moved nothing
    w = c.ladders[0].weights
    assert 0.1 <= w[0] < 0.102 and 0.1 <= w[1] < 0.102 and w.sum() == pytest.approx(1.0, abs=1e-12)
    probe_step(c, 400, {"copy@8": 0.5})
    top = [x for x in c.take_notes().audit if x["task"] == "copy@8"]
    assert [(x["moved"], x["to"]) for x in top] == [(0.0, None)]
    assert top[0]["reason"].endswith("; the top of the ladder: nothing to move")
    probe_step(c, 410, {"copy@8": 0.5})
    assert c.take_notes().audit == []  # settled levels and the top: no line
    # min_move 0: every move, however small
    c0 = frontier(min_move=0.0)
    probe_step(c0, 30, {"copy@2": 0.5})
    for step in range(40, 400, 10):
        probe_step(c0, step, {"copy@2": 0.5, "copy@4": 0.5})
    c0.take_notes()
    probe_step(c0, 400, {"copy@2": 0.5, "copy@4": 0.5})
    assert [x["task"] for x in c0.take_notes().audit] == ["copy@2", "copy@4"]
    assert c0.ladders[0].weights[:2] == pytest.approx([0.1, 0.1], abs=1e-9)


def test_a_uniform_start_and_moves_with_no_keep():
    c = frontier(start="uniform", move=1.0, keep=0.0)
    assert c.ladders[0].weights == pytest.approx([1 / 3] * 3)
    probe_step(c, 10, {"copy@2": 0.5, "copy@4": 0.5})
    assert c.ladders[0].weights == pytest.approx([0.0, 1 / 3, 2 / 3])  # each moves all it has, one level up
    assert c.take_notes().metrics["frontier/copy/level"] == 2


def test_document_probabilities_give_each_level_its_weight_in_tokens():
    c = frontier()
    start = c.doc_priorities(0)["copy"]
    assert start.tolist() == [0.5, 0.0, 0.0, 0.5, 0.0]  # both copy@2 documents, nothing else
    probe_step(c, 10, {"copy@2": 0.5})
    assert c.doc_priorities(9) is None
    p = c.doc_priorities(10)["copy"]
    # p_i = w_l / T_l: copy@2 0.55 / 8, copy@4 0.45 / 8, copy@8 0 / 32, normalized.
    raw = np.array([0.55 / 8, 0.0, 0.45 / 8, 0.55 / 8, 0.0])
    assert p == pytest.approx(raw / raw.sum(), abs=1e-15)
    tokens = np.bincount([0, 2, 1, 0, 2], p * np.array(LENGTHS), minlength=3)
    assert tokens / tokens.sum() == pytest.approx([0.55, 0.45, 0.0], abs=1e-12)
    assert c.summary({"copy": p}) == {"copy": {"skill": "copy", "level": 1, "weight/2": 0.55,
                                               "weight/4": pytest.approx(0.45), "weight/8": 0.0}}


def test_the_sampler_draws_each_levels_tokens_by_its_weight(make_store):
    # Three levels whose documents differ in length: the draws match the weights in tokens.
    lengths = {"2": 3, "4": 6, "8": 12}
    levels = [lv for lv in lengths for _ in range(4)]
    store = TokenStore(make_store({"copy": [[10 + i] * lengths[lv] for i, lv in enumerate(levels)]}))
    ids = [f"copy@{lv}-0-{i}" for i, lv in enumerate(levels)]
    c = Frontier(FrontierConfig(), context(ids, store.split("copy").doc_lengths))
    probe_step(c, 10, {"copy@2": 0.5})
    probe_step(c, 20, {"copy@2": 0.5, "copy@4": 0.5})
    want = c.ladders[0].weights
    assert want == pytest.approx([0.325, 0.5, 0.175])
    s = MixtureSampler(store, MixtureConfig(batch_rows=8, seq_len=32, schedule=StaticConfig(weights={"copy": 1})),
                       prioritized=c.doc_domains)
    s.set_doc_priorities("copy", c.doc_priorities(20)["copy"])
    drawn = np.zeros(3)
    level_of = np.array([["2", "4", "8"].index(lv) for lv in levels])
    for _ in range(400):
        for _, start, end, _, doc in s.next_batch().segments:
            drawn[level_of[doc]] += end - start
    assert drawn.sum() == 400 * 8 * 33
    assert drawn / drawn.sum() == pytest.approx(want, abs=0.015)


def test_it_collects_no_document_losses_and_refuses_what_it_cannot_read():
    c = frontier()
    hook = ControllerHook(c)
    hook.on_micro_batch(None, None, slice(0, 1), torch.ones(1, 4))
    assert hook._losses == [] and not hook.wants_token_signals
    with pytest.raises(CurricleError, match=r"^controller.kind: frontier reads the in-loop probe of copy@8, which "):
        c.update(10, DomainStats(10, np.zeros(1), np.zeros(1), np.ones(1), probes={
            t: signal(t, 0.0) for t in TASKS[:2]}))
    with pytest.raises(CurricleError, match=r"^controller.domains: document 'prose-3' of domain 'copy' names no "
                                            r"ladder level"):
        Frontier(FrontierConfig(), context([*IDS, "prose-3"], [*LENGTHS, 5]))
    with pytest.raises(CurricleError, match=r"^controller.domains: domain 'copy' holds skills brackets, copy; "):
        Frontier(FrontierConfig(), context([*IDS, "brackets@2-0-0"], [*LENGTHS, 5]))
    with pytest.raises(CurricleError, match=r"^controller.domains: no domain holds a synthetic skill's levels"):
        Frontier(FrontierConfig(), context(["copy-0-0"], [5]))
    with pytest.raises(CurricleError, match=r"^controller.kind: frontier needs the run's doc_column, doc_lengths"):
        Frontier(FrontierConfig(), ControllerContext(["copy"], {"copy": 5}))
    assert doc_level("shift-letters@3-0-1") == ("shift-letters", "3") and doc_level("copy@3-0-1") is None
    assert refusal_in_hf_trainer({"kind": "frontier"}) == (
        "controller.kind: frontier draws a skill's documents by ladder level, which needs curricle's own sampler; "
        "use `curricle train`")


def run_dict(data_dir, **changes) -> dict:
    d = {
        "name": "frontier-test", "data_dir": str(data_dir),
        "sources": [
            {"kind": "synthetic", "skill": "copy", "domain": "copy", "n_docs": 60, "levels": [8, 2, 4]},
            {"kind": "synthetic", "skill": "arithmetic", "domain": "arithmetic", "n_docs": 40},
        ],
        "tokenizer": {"vocab_size": 300, "sample_docs_per_source": 40},
        "mixture": {"batch_rows": 8, "seq_len": 32, "max_epochs": 1000,
                    "schedule": {"kind": "static", "weights": {"copy": 1, "arithmetic": 1}}},
        "model": {"preset": "micro", "max_position_embeddings": 64},
        "train": {"steps": 40, "eval_every": 20, "eval_rows_per_domain": 2,
                  "checkpoint": {"every": 10, "keep_last": 5}, "telemetry": {"tensorboard": False},
                  "probe": {"every": 10, "suite": {"tasks": ["copy"], "levels": {"copy": [2, 4, 8]}, "n": 8}}},
        # min_gain 0: an untrained model's exact match of 0 (stderr 0) already clears the rule,
        # so levels emerge at the first probe and weight moves at every one.
        "controller": {"kind": "frontier", "min_gain": 0.0},
    }
    for key, value in changes.items():
        section, _, field = key.partition(".")
        if field:
            d[section] = {**d[section], field: value}
        else:
            d[section] = value
    return d


@pytest.mark.parametrize("changes, message", [
    ({"train.probe": None}, "controller.kind: frontier reads in-loop probe scores; set train.probe"),
    ({"train.probe": {"every": 10, "suite": {"levels": {"copy": [2, 4]}}}},
     "train.probe.suite.levels: the frontier controller moves copy up levels 2, 4, 8; probe each one (missing: 8)"),
    ({"train.probe": {"every": 10, "suite": {"tasks": ["arithmetic"], "levels": {"copy": "all"}}}},
     "train.probe.suite.tasks: leaves out copy@2, whose probe the frontier controller reads"),
    ({"train.probe": {"every": 10, "suite": None}}, "train.probe.suite: the frontier controller reads the built-in "
                                                    "probes of copy's levels; the suite is off"),
    ({"controller": {"kind": "frontier", "domains": ["arithmetic"]}},
     "controller.domains: domain 'arithmetic' has a source without levels; a frontier domain holds only synthetic "
     "sources with `levels`"),
    ({"controller": {"kind": "frontier", "domains": ["prose"]}},
     "controller.domains: unknown domain 'prose' (the sources declare: arithmetic, copy)"),
    ({"sources": [{"kind": "synthetic", "skill": "copy", "domain": "copy"}]},
     "controller.kind: frontier moves a skill up its ladder; no synthetic source has levels"),
    ({"sources": [{"kind": "synthetic", "skill": "copy", "domain": "copy", "levels": [2]},
                  {"kind": "synthetic", "skill": "copy", "domain": "copy2", "levels": [4]}]},
     "controller.domains: skill 'copy' is in domains 'copy' and 'copy2'; the frontier moves each skill in one domain"),
    ({"mixture.pacing": {"copy": {"column": "n_tokens", "start": 0.5, "steps": 10}}},
     "mixture.pacing: domain 'copy' is drawn by the frontier controller's level weights; drop its pacing"),
])
def test_configs_it_cannot_run_are_refused_at_load(tmp_path, changes, message):
    with pytest.raises(CurricleError, match="^config: " + message.replace("(", r"\(").replace(")", r"\)")
                       .replace("[", r"\[").replace("]", r"\]")):
        parse_config(run_dict(tmp_path, **changes))
    parse_config(run_dict(tmp_path))  # as written, it loads


@pytest.fixture(scope="module")
def frontier_config(tmp_path_factory):
    root = tmp_path_factory.mktemp("frontier")
    config = run_dict(root / "data")
    prepare_run(parse_config(config), progress=False)
    path = root / "run.yaml"
    path.write_text(yaml.safe_dump(config))
    return path, root / "data"


def read(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.mark.slow
def test_in_a_run_it_moves_levels_at_probe_steps_and_resumes_exactly_after_sigkill(tmp_path, frontier_config):
    config, data_dir = frontier_config
    cmd = [PYTHON, "-m", "curricle.cli", "train", str(config), "--run-dir"]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    full = tmp_path / "full"
    subprocess.run([*cmd, str(full)], check=True, env=env, capture_output=True)
    log = read(full / "mixture_log.jsonl")
    moves = [e for e in log if "task" in e]
    assert [e["step"] for e in log if "priorities" in e] == [0, 10, 20, 30, 40]
    assert [(e["step"], e["task"], e["to"]) for e in moves] == [
        (10, "copy@2", "copy@4"), (10, "copy@4", "copy@8"), (10, "copy@8", None),  # each emerged at 10
        (20, "copy@2", "copy@4"), (20, "copy@4", "copy@8"), (30, "copy@2", "copy@4"), (30, "copy@4", "copy@8"),
        (40, "copy@2", "copy@4"), (40, "copy@4", "copy@8")]
    assert [e["moved"] for e in moves[:3]] == [0.45, 0.0, 0.0]
    probes = {(r["step"], r["task"]): r for r in read(full / "probes.jsonl")}
    for e in moves:  # each line's score is that step's probe
        row = probes[(e["step"], e["task"])]
        assert (e["signal"]["score"], e["signal"]["stderr"]) == (row["metrics"]["exact_match"],
                                                                 row["metrics"]["exact_match_se"])
    metrics = read(full / "metrics.jsonl")
    probed = [m for m in metrics if "frontier/copy/level" in m]
    assert [m["step"] for m in probed] == [10, 20, 30, 40]
    for m, e in zip(probed, [e for e in log if "priorities" in e][1:]):
        assert {lv: m[f"frontier/copy/weight/{lv}"] for lv in "248"} == \
            {lv: e["priorities"]["copy"][f"weight/{lv}"] for lv in "248"}
    assert all(m["weight/copy"] == 0.5 for m in metrics)  # the domain's share stays with the schedule
    # The sampler draws copy's documents by the last weights: p_i = w_l / T_l.
    store = TokenStore(data_dir)
    split = store.split("copy")
    level = np.array([["2", "4", "8"].index(str(i).split("@")[1].split("-")[0]) for i in split.column("doc_id")])
    w = np.array([moves[-1]["new"][t] for t in TASKS])
    t = np.bincount(level, split.doc_lengths.astype(np.float64), minlength=3)
    p = (w / t)[level]
    cdf = load_file(str(full / "checkpoints" / "step_40" / "arrays.safetensors"))["sampler/priority/copy"]
    assert cdf == pytest.approx(np.cumsum(p / p.sum()), abs=1e-12)

    killed = tmp_path / "killed"
    r = run_killed_then_resumed([*cmd, str(killed)], killed)
    assert r.returncode == 0, r.stderr
    assert read(killed / "mixture_log.jsonl") == log
    drop = ("tokens_per_s", "probe/seconds")
    assert [{k: v for k, v in m.items() if k not in drop} for m in read(killed / "metrics.jsonl")] == \
        [{k: v for k, v in m.items() if k not in drop} for m in metrics]
    assert [(r["step"], r["task"], r["metrics"]) for r in read(killed / "probes.jsonl")] == \
        [(r["step"], r["task"], r["metrics"]) for r in read(full / "probes.jsonl")]
