"""The augmentation policy in `curricle train`: provenance, held-out splits untouched,
max_share, failing levels from in-loop probes, and exact resume."""

import hashlib
import json
import shutil

import pytest

from curricle.augment.base import protected_items
from curricle.augment.hook import round_order
from curricle.augment.overlay import read_overlay
from curricle.augment.targets import spread
from curricle.config import parse_config
from curricle.errors import CurricleError
from curricle.prepare.command import prepare_run
from curricle.store import TokenStore
from curricle.train.command import train_run
from tests.train.conftest import run_config_dict

HARD = {"kind": "hard-examples", "domains": ["arithmetic"], "update_every": 2, "warmup_steps": 2}
PERTURB = {"every": 5, "budget": 4, "target": "hardest-docs", "max_share": 0.25, "augmenter": {"kind": "perturb"}}


def read(run_dir, name):
    return [json.loads(line) for line in (run_dir / name).read_text().splitlines()]


def with_augment(prepared_dir, augment, controller=HARD, steps=30, **extra):
    data = run_config_dict(prepared_dir, steps=steps)
    data.update({"controller": controller, "augment": augment, **extra})
    return parse_config(data)


def tree_digest(root):
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def test_hardest_docs_rounds_log_provenance_and_leave_the_store_alone(tmp_path, prepared_dir):
    before = tree_digest(prepared_dir)
    run = tmp_path / "run"
    train_run(with_augment(prepared_dir, PERTURB), run, progress=False)
    assert tree_digest(prepared_dir) == before  # the store (and its held-out splits) untouched

    log = read(run, "augment_log.jsonl")
    assert [(e["step"], e["domain"]) for e in log] == [(s, "arithmetic") for s in (5, 10, 15, 20, 25, 30)]
    assert log[0]["n"] == 0 and log[0]["reason"] == "no document seen yet"  # arithmetic starts after warm-up
    made = [e for e in log if e["n"]]
    assert made and all(e["augmenter"] == "perturb" and e["target"] == "hardest-docs" for e in made)
    assert all(e["params"]["ops"] == ["delete-span", "shuffle-words", "char-noise"] for e in made)

    docs = read_overlay(run, "arithmetic")
    assert len(docs) == sum(e["n"] for e in log)
    store = TokenStore(prepared_dir)
    train_ids = set(store.split("arithmetic").column("doc_id").tolist())
    for d in docs:  # every augmented document has its provenance
        assert d["augmented_from"] in train_ids and d["augmenter"] == "perturb"
        assert isinstance(json.loads(d["params"])["seed"], int)
    assert [d["doc_id"] for d in docs] == [f"aug-arithmetic-{i}" for i in range(len(docs))]
    assert not (run / "augment" / "copy").exists()

    metrics = read(run, "metrics.jsonl")
    shares = [m["augment/arithmetic/share"] for m in metrics]
    assert max(shares) <= 0.25 and shares[-1] > 0.2
    assert metrics[-1]["augment/arithmetic/docs"] == len(docs)


def test_a_run_with_augmentation_cut_back_and_resumed_equals_an_uninterrupted_one(tmp_path, prepared_dir):
    cfg = with_augment(prepared_dir, PERTURB)
    train_run(cfg, tmp_path / "full", progress=False)
    train_run(cfg, tmp_path / "cut", progress=False)
    # Back to the step-20 checkpoint: the overlay's files still hold the rounds of steps 25 and 30.
    shutil.rmtree(tmp_path / "cut" / "checkpoints" / "step_30")
    train_run(cfg, tmp_path / "cut", resume=True, progress=False)

    def steps(run):
        return [(m["step"], m["loss"], m.get("eval/loss"), m["augment/arithmetic/docs"], m["augment/arithmetic/share"])
                for m in read(tmp_path / run, "metrics.jsonl")]

    assert steps("cut") == steps("full")
    assert read(tmp_path / "cut", "augment_log.jsonl") == read(tmp_path / "full", "augment_log.jsonl")
    assert read_overlay(tmp_path / "cut", "arithmetic") == read_overlay(tmp_path / "full", "arithmetic")
    tokens = [(tmp_path / r / "augment" / "arithmetic" / "tokens.bin").read_bytes() for r in ("cut", "full")]
    assert tokens[0] == tokens[1]


def test_a_fresh_run_forgets_an_earlier_runs_overlay(tmp_path, prepared_dir):
    cfg = with_augment(prepared_dir, PERTURB, steps=20)
    train_run(cfg, tmp_path / "run", progress=False)
    n = len(read_overlay(tmp_path / "run", "arithmetic"))
    shutil.rmtree(tmp_path / "run" / "checkpoints")
    train_run(cfg, tmp_path / "run", progress=False)
    assert len(read_overlay(tmp_path / "run", "arithmetic")) == n


@pytest.fixture(scope="module")
def levels_dir(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("levels") / "data"
    prepare_run(parse_config(levels_config(data_dir)), progress=False)
    return data_dir


def levels_config(data_dir, **augment):
    data = run_config_dict(data_dir, steps=10, checkpoint={"every": 5, "keep_last": 5},
                           probe={"every": 5, "suite": {"tasks": ["copy"], "levels": {"copy": ["2", "4"]}, "n": 8,
                                                        "text_domains": []}})
    data["sources"] = [{"kind": "synthetic", "skill": "copy", "domain": "copy", "n_docs": 40, "levels": ["2", "4"]},
                       {"kind": "synthetic", "skill": "arithmetic", "domain": "arithmetic", "n_docs": 40}]
    data["mixture"]["schedule"] = {"kind": "static", "weights": {"copy": 1, "arithmetic": 1}}
    if augment:
        data["augment"] = augment
    return data


def test_failing_levels_make_generator_items_at_those_levels(tmp_path, levels_dir):
    augment = {"every": 5, "budget": 3, "target": "failing-levels", "max_share": 0.2, "augmenter": {"kind": "generator"}}
    cfg = parse_config(levels_config(levels_dir, **augment))
    run = tmp_path / "run"
    train_run(cfg, run, progress=False)
    log = read(run, "augment_log.jsonl")
    probes = {m["step"]: m for m in read(run, "metrics.jsonl") if "probe/copy@2/exact_match" in m}
    assert [(e["step"], e["domain"]) for e in log] == [(5, "copy"), (10, "copy")]  # the one domain with levels
    for e in log:
        scores = {lv: probes[e["step"]][f"probe/{lv}/exact_match"] for lv in ("copy@2", "copy@4")}
        failing = [lv for lv, s in scores.items() if s < 0.5]
        assert e["targets"] == failing and e["n"] == 3 and e["scores"] == {lv: scores[lv] for lv in failing}
    docs = read_overlay(run, "copy")
    assert len(docs) == 6 and {d["augmented_from"] for d in docs} <= {"copy@2", "copy@4"}
    protect = protected_items(cfg.sources, [cfg.train.probe.suite])
    for d in docs:
        params = json.loads(d["params"])
        assert d["augmenter"] == "generator" and params["level"] == d["augmented_from"].split("@")[1]
        assert len(d["text"].splitlines()) == 16 and protect.find(d["text"]) is None
    # each round's documents go in shuffled by round_order, not target by target
    for e in log:
        made = [(t, i) for t, n in zip(e["targets"], spread(3, len(e["targets"]))) for i in range(n)]
        placed = [(d["augmented_from"], json.loads(d["params"])["doc"]) for d in docs if d["step"] == e["step"]]
        assert placed == [made[i] for i in round_order(cfg.seed, "copy", e["step"], len(made))]


def test_round_order_is_a_seeded_permutation():
    orders = {tuple(round_order(0, "copy", step, 8)) for step in range(5, 55, 5)}
    assert all(sorted(o) == list(range(8)) for o in orders) and len(orders) == 10  # a new order every round
    assert (round_order(0, "copy", 5, 8) == round_order(0, "copy", 5, 8)).all()
    assert not (round_order(0, "copy", 5, 8) == round_order(1, "copy", 5, 8)).all()


@pytest.mark.parametrize("augment,extra,message", [
    ({"target": "failing-levels", "augmenter": {"kind": "perturb"}}, {},
     "augmenter.kind: 'perturb' rewrites documents"),
    ({"target": "failing-levels", "augmenter": {"kind": "generator"}}, {},
     "failing-levels reads the in-loop probe scores; set train.probe"),
    ({"target": "hardest-docs", "augmenter": {"kind": "perturb"}}, {"controller": {"kind": "odm"}},
     "set controller.kind: hard-examples"),
    ({"target": "hardest-docs", "augmenter": {"kind": "perturb"}, "domains": ["nope"]}, {"controller": HARD},
     "augment.domains: unknown domain 'nope'"),
    ({"target": "hardest-docs", "augmenter": {"kind": "perturb"}, "max_share": 1.0}, {"controller": HARD},
     "augment.max_share"),
])
def test_bad_augment_configs_are_one_line_errors(tmp_path, augment, extra, message):
    data = run_config_dict(tmp_path, steps=5)
    data.update({"augment": {"every": 5, "budget": 2, "max_share": 0.2, **augment}, **extra})
    with pytest.raises(CurricleError, match=message):
        parse_config(data)


def test_augmenting_a_domain_the_controller_does_not_rank_is_refused(tmp_path, prepared_dir):
    cfg = with_augment(prepared_dir, {**PERTURB, "domains": ["copy"]}, steps=5)
    with pytest.raises(CurricleError, match="domain 'copy' has none of"):
        train_run(cfg, tmp_path / "run", progress=False)


# -- group floors ----------------------------------------------------------------------------
# The 'copy' documents in dialects 'plain' and 'rare' (every third), 'rare' floored at 0.3 of the
# domain's tokens; augmentation targets the hardest dialect at max_share 0.5.
FLOORED = {"kind": "hard-examples", "domains": ["copy"], "update_every": 2, "warmup_steps": 2,
           "groups": {"column": "dialect", "min_share": {"rare": 0.3}}}
REGIONS = {"every": 5, "budget": 4, "target": "hardest-regions", "region_by": "dialect", "min_region_docs": 1,
           "max_share": 0.5, "augmenter": {"kind": "perturb"}}


def floored_config(prepared_dir, tmp_path, steps=30):
    from tests.controllers.test_hard_examples import with_dialects

    data = run_config_dict(with_dialects(prepared_dir, tmp_path), steps=steps)
    data.update({"controller": FLOORED, "augment": REGIONS})
    return parse_config(data)


def test_augmentation_leaves_floored_groups_their_share_and_counts_in_groups(tmp_path, prepared_dir):
    cfg = floored_config(prepared_dir, tmp_path)
    run = tmp_path / "run"
    train_run(cfg, run, progress=False)
    log = read(run, "augment_log.jsonl")
    # Step 5 augments 'plain', which would take 'rare' below its floor: the cap says so and why.
    assert log[0]["region"] == "dialect=plain" and log[0]["limited_by"] == "rare" and 0 < log[0]["floor_cap"] < 0.5
    assert all(set(e) >= {"floor_cap", "limited_by"} and 0 <= e["floor_cap"] <= 1 for e in log)
    assert log[1]["share"] < 0.25  # held back by the floor, not by max_share (0.5)
    # Every augmented document is in its source document's group.
    store = TokenStore(cfg.data_dir)
    dialect = dict(zip(store.split("copy").column("doc_id").tolist(), store.split("copy").column("dialect").tolist()))
    docs = read_overlay(run, "copy")
    assert docs and all(d["group"] == dialect[d["augmented_from"]] for d in docs)
    # Group shares count the augmented rows in their groups.
    for m in read(run, "metrics.jsonl")[10:]:
        assert m["group/share/copy/plain"] + m["group/share/copy/rare"] == pytest.approx(1.0)
    for step in (10, 20, 30):  # at every checkpoint, 'rare''s expected share since augmentation began >= 0.3
        state = json.loads((run / "checkpoints" / f"step_{step}" / "trainer_state.json").read_text())
        sampler, controller = state["sampler"], state["controller"]
        _, _, served, since, _, _ = sampler["overlays"]["copy"]
        total = sampler["served_tokens"][sampler["domains"].index("copy")] - since
        expected = dict(zip(["plain", "rare"], sampler["overlay_floors"]["copy"]))
        assert expected["rare"] >= 0.3 * total and sum(expected.values()) == pytest.approx(total)
        assert sum(controller["overlay_tokens"]["copy"].values()) == served  # every overlay token, in a group

    # Cut back to step 20 (the overlay's files still hold the later rounds) and resumed: the same run.
    train_run(cfg, tmp_path / "cut", progress=False)
    shutil.rmtree(tmp_path / "cut" / "checkpoints" / "step_30")
    train_run(cfg, tmp_path / "cut", resume=True, progress=False)
    drop = ("tokens_per_s",)
    assert [{k: v for k, v in m.items() if k not in drop} for m in read(tmp_path / "cut", "metrics.jsonl")] == \
        [{k: v for k, v in m.items() if k not in drop} for m in read(run, "metrics.jsonl")]
    assert read(tmp_path / "cut", "augment_log.jsonl") == log
    assert read_overlay(tmp_path / "cut", "copy") == docs


@pytest.mark.slow
@pytest.mark.parametrize("floors", [False, True], ids=["plain", "group-floors"])
def test_sigkill_mid_run_then_resume_equals_uninterrupted(tmp_path, prepared_dir, floors):
    import os
    import subprocess

    import yaml

    from tests.train.conftest import PYTHON, run_killed_then_resumed

    if floors:  # hard-examples with a floored group, augmenting the hardest dialect of 'copy'
        from tests.controllers.test_hard_examples import with_dialects

        domain = "copy"
        data = run_config_dict(with_dialects(prepared_dir, tmp_path))  # 40 steps, a checkpoint every 10
        data.update({"controller": FLOORED, "augment": {**REGIONS, "every": 3}})
    else:
        domain = "arithmetic"
        data = run_config_dict(prepared_dir)
        data.update({"controller": HARD, "augment": {**PERTURB, "every": 3}})
    config = tmp_path / "run.yaml"
    config.write_text(yaml.safe_dump(data))

    def cmd(run):
        return [PYTHON, "-m", "curricle.cli", "train", str(config), "--run-dir", str(run)]

    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    subprocess.run(cmd(tmp_path / "full"), check=True, env=env, capture_output=True)
    r = run_killed_then_resumed(cmd(tmp_path / "killed"), tmp_path / "killed")
    assert r.returncode == 0, r.stderr
    def steps(run):
        return [(m["step"], m["loss"], m.get("eval/loss"), m[f"augment/{domain}/docs"], m[f"augment/{domain}/share"],
                 m.get(f"group/share/{domain}/rare")) for m in read(tmp_path / run, "metrics.jsonl")]

    assert steps("killed") == steps("full") and len(steps("full")) == 40
    assert read(tmp_path / "killed", "augment_log.jsonl") == read(tmp_path / "full", "augment_log.jsonl")
    assert read_overlay(tmp_path / "killed", domain) == read_overlay(tmp_path / "full", domain)
    if floors:
        assert any(e["limited_by"] == "rare" for e in read(tmp_path / "full", "augment_log.jsonl"))
