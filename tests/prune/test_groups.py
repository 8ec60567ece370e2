"""``curricle prune`` with group floors (``groups:``): a small group the metric would remove
keeps its token share, exactly the stated documents are kept, every removal keeps its reason,
the lineage reconciles; floors that cannot hold are listed; without floors nothing changes."""

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from curricle.cli import app
from curricle.controllers.config import GroupsConfig
from curricle.errors import CurricleError
from curricle.prune.base import Removal
from curricle.prune.command import prune_command, prune_store
from curricle.prune.config import METRICS, PruneConfig
from curricle.prune.groups import DomainGroups, floored_removals
from curricle.store import TokenStore
from curricle.store.lineage import read_lineage
from tests.conftest import write_store

# Domain a: ten documents of group x (10 tokens each) and four of group y (5 tokens each), y
# being the easiest by quality: keep-hardest at 0.5 would remove all of y.
GROUP = ["x", "y", "x", "x", "y", "x", "x", "y", "x", "x", "x", "y", "x", "x"]
QUALITY = [0.6, 0.02, 0.1, 0.9, 0.04, 0.3, 0.5, 0.01, 0.7, 0.2, 1.0, 0.03, 0.4, 0.8]


@pytest.fixture
def grouped(tmp_path):
    docs = [[20 + i] * (10 if g == "x" else 5) for i, g in enumerate(GROUP)]
    return write_store(tmp_path / "data", {"a": docs, "b": [[50, 51], [52]]},
                       extra_meta={"a/quality": QUALITY, "a/grp": GROUP, "b/quality": [0.5, 0.1],
                                   "b/grp": ["x", "y"]})


def removed_lines(out):
    return [json.loads(line) for line in (out / "removed.jsonl").read_text().splitlines()]


def removed_indices(out, domain="a"):
    return sorted(int(r["doc_id"].split("-")[1]) for r in removed_lines(out) if r["domain"] == domain)


def test_gamma_one_keeps_the_small_group_at_its_natural_share_with_the_exact_count(grouped, tmp_path):
    plain, floored = tmp_path / "plain", tmp_path / "floored"
    prune_store(grouped, PruneConfig(by="column:quality", keep=0.5, domains=["a"]), plain, progress=False)
    report = prune_store(grouped, PruneConfig(by="column:quality", keep=0.5, domains=["a"],
                                              groups=GroupsConfig(column="grp", gamma=1.0)), floored, progress=False)
    # Without floors: the seven easiest, every y document among them.
    assert removed_indices(plain) == [1, 2, 4, 5, 7, 9, 11]
    # With floors: x's five easiest and y's two easiest. No removal can leave both groups at
    # their natural share until x has lost enough; then y's easiest two go (y: 10 of 60 tokens).
    assert removed_indices(floored) == [1, 2, 5, 6, 7, 9, 12]
    assert TokenStore(floored).split("a").n_docs == 7
    lines = removed_lines(floored)
    assert [(r["reason"], r["score"]) for r in lines] == [("easy", QUALITY[i]) for i in [1, 2, 5, 6, 7, 9, 12]]
    lineage = read_lineage(floored)
    assert lineage == report.lineage
    assert lineage["groups"] == {"column": "grp", "gamma": 1.0}
    a = lineage["domains"]["a"]
    assert {k: a[k] for k in ("in", "kept", "unscored", "removed", "floor_kept", "below_floor")} == {
        "in": 14, "kept": 7, "unscored": 0, "removed": {"easy": 7}, "floor_kept": {"y": 2}, "below_floor": []}
    assert a["groups"] == {"x": {"before": pytest.approx(100 / 120), "after": pytest.approx(50 / 60),
                                 "floor": pytest.approx(100 / 120)},
                           "y": {"before": pytest.approx(20 / 120), "after": pytest.approx(10 / 60),
                                 "floor": pytest.approx(20 / 120)}}
    assert a["groups"]["y"]["after"] >= a["groups"]["y"]["before"]
    # The counts reconcile: in = kept + removed; the floors kept two of the plain removals
    # (y's 0.03 and 0.04) and two later candidates went instead (x's 0.4 and 0.5).
    assert a["in"] == a["kept"] + sum(a["removed"].values()) == a["kept"] + len(lines)
    assert sum(a["floor_kept"].values()) == len(set(removed_indices(floored)) - set(removed_indices(plain))) == 2
    assert "groups" not in read_lineage(plain) and "groups" not in read_lineage(plain)["domains"]["a"]
    # The kept tokens say the same as the lineage: y keeps 10 of 60.
    store = TokenStore(floored)
    grp = store.split("a").meta(["grp"]).column(0).to_pylist()
    lengths = store.split("a").doc_lengths - 1
    assert sum(int(n) for n, g in zip(lengths, grp) if g == "y") == 10 and int(lengths.sum()) == 60


def test_groups_without_floors_only_record_shares_and_remove_the_same(grouped, tmp_path):
    for name, groups in (("plain", None), ("recorded", GroupsConfig(column="grp"))):
        prune_store(grouped, PruneConfig(by="column:quality", keep=0.5, groups=groups), tmp_path / name,
                    progress=False)
    assert removed_lines(tmp_path / "recorded") == removed_lines(tmp_path / "plain")
    a = read_lineage(tmp_path / "recorded")["domains"]["a"]
    assert a["groups"] == {"x": {"before": pytest.approx(100 / 120), "after": 1.0, "floor": None},
                           "y": {"before": pytest.approx(20 / 120), "after": 0.0, "floor": None}}
    assert a["floor_kept"] == {} and a["below_floor"] == []
    # Domain b (one document of each group) is pruned too, by the same rules.
    b = read_lineage(tmp_path / "recorded")["domains"]["b"]
    assert b["kept"] == 1 and b["groups"]["y"] == {"before": pytest.approx(1 / 3), "after": 0.0, "floor": None}


def test_floors_that_cannot_hold_are_listed_and_the_count_is_kept(grouped, tmp_path):
    # y has 1/6 of the tokens and a floor of 0.5: removing one document cannot get it there.
    # Its easiest document stays (x has no floor, so x's easiest goes); y ends below its floor.
    out = tmp_path / "p"
    prune_store(grouped, PruneConfig(by="column:quality", keep=0.9, domains=["a"],
                                     groups=GroupsConfig(column="grp", min_share={"y": 0.5})), out, progress=False)
    assert removed_indices(out) == [2]
    a = read_lineage(out)["domains"]["a"]
    assert a["kept"] == 13 and a["floor_kept"] == {"y": 1} and a["below_floor"] == ["y"]
    assert a["groups"]["y"] == {"before": pytest.approx(20 / 120), "after": pytest.approx(20 / 110), "floor": 0.5}
    assert a["groups"]["x"]["floor"] == 0.0  # not named: no floor
    # Every group's next removal binding (gamma 1, an odd length): the removal that leaves its
    # group the largest fraction of its floor is made, and the exact count is kept.
    docs = [[1] * 10, [2] * 10, [3] * 10, [4] * 7]
    store = write_store(tmp_path / "odd", {"a": docs}, extra_meta={"a/grp": ["x", "x", "x", "y"],
                                                                    "a/q": [0.1, 0.2, 0.3, 0.0]})
    prune_store(store, PruneConfig(by="column:q", keep=0.75, groups=GroupsConfig(column="grp", gamma=1.0)),
                tmp_path / "odd-p", progress=False)
    a = read_lineage(tmp_path / "odd-p")["domains"]["a"]
    # y (7 of 37 tokens) would drop to nothing; x's easiest leaves x at 20 of 27 = 0.78 of its share.
    assert removed_indices(tmp_path / "odd-p") == [0] and a["kept"] == 3
    assert a["below_floor"] == ["x"] and a["floor_kept"] == {"y": 1}


def test_the_floor_walk_takes_each_groups_candidates_in_the_metrics_order():
    # y's next candidate (8 tokens) would take y under its floor 0.3; its later, shorter one
    # waits too; x (no floor) loses one document, which lifts y enough for its first to go.
    groups = DomainGroups(names=["x", "y"], ids=np.array([0, 0, 0, 1, 1, 1]),
                          tokens=np.array([10, 10, 10, 8, 1, 10]), floors=np.array([0.0, 0.3]))
    cands = [Removal(i, "easy", float(s)) for s, i in enumerate([3, 4, 0, 1, 2, 5])]
    assert [r.index for r in floored_removals(cands, 2, groups)] == [0, 3]
    assert [r.index for r in floored_removals(cands, 1, groups)] == [0]
    # No floors binding: the metric's first n, in document order.
    free = DomainGroups(["x", "y"], groups.ids, groups.tokens, np.array([0.0, 0.0]))
    assert [r.index for r in floored_removals(cands, 3, free)] == [0, 3, 4]


def test_random_with_floors_keeps_the_count_and_the_floors(grouped, tmp_path):
    for seed in range(4):
        out = tmp_path / f"r{seed}"
        prune_store(grouped, PruneConfig(by="random", keep=0.5, seed=seed, domains=["a"],
                                         groups=GroupsConfig(column="grp", gamma=0.9)), out, progress=False)
        a = read_lineage(out)["domains"]["a"]
        assert a["kept"] == 7 and a["removed"] == {"random": 7} and a["below_floor"] == []
        assert all(v["after"] >= v["floor"] for v in a["groups"].values())
        plain = tmp_path / f"plain{seed}"
        prune_store(grouped, PruneConfig(by="random", keep=0.5, seed=seed, domains=["a"]), plain, progress=False)
        assert sum(a["floor_kept"].values()) == len(set(removed_indices(out)) - set(removed_indices(plain)))


def test_every_metrics_order_starts_with_its_removals(grouped):
    """The floors walk a metric's ``candidates``; its first ``n - n_keep`` are its removals."""
    store = TokenStore(grouped)
    split = store.split("a")
    for config in (PruneConfig(by="random", keep=0.5, seed=2), PruneConfig(by="column:quality", keep=0.3),
                   PruneConfig(by="column:quality", keep=0.6, order="keep-easiest")):
        metric = METRICS[config.metric](config, store)
        n_keep = 7 if config.keep == 0.5 else (4 if config.keep == 0.3 else 8)
        cands = metric.candidates("a", split, n_keep)
        assert sorted(r.index for r in cands) == list(range(14))
        assert sorted(cands[: 14 - n_keep], key=lambda r: r.index) == metric.removals("a", split, n_keep)


def test_near_duplicates_order_starts_with_its_removals(dup_store, tmp_path):
    store = TokenStore(dup_store)
    split = store.split("web")
    for keep, n_keep in ((0.75, 6), (0.5, 4)):
        metric = METRICS["near-duplicate"](PruneConfig(by="near-duplicate", keep=keep), store)
        cands = metric.candidates("web", split, n_keep)
        assert sorted(r.index for r in cands) == list(range(8))
        assert sorted(cands[: 8 - n_keep], key=lambda r: r.index) == metric.removals("web", split, n_keep)
        # The duplicates come before every representative.
        assert [r.reason for r in cands] == ["near-duplicate"] * 3 + ["random"] * 5
    # One group (every document's source is the same file) at gamma 1: its floor is its whole
    # share, which it always holds, so the floors change nothing.
    for name, groups in (("plain", None), ("one-group", GroupsConfig(column="source", gamma=1.0))):
        prune_store(dup_store, PruneConfig(by="near-duplicate", keep=0.5, groups=groups), tmp_path / name,
                    progress=False)
    assert removed_lines(tmp_path / "one-group") == removed_lines(tmp_path / "plain")
    web = read_lineage(tmp_path / "one-group")["domains"]["web"]
    assert web["below_floor"] == [] and web["floor_kept"] == {} and len(web["groups"]) == 1


def test_group_errors_are_one_line(grouped, tmp_path):
    for groups, msg in [
        (GroupsConfig(column="lang", gamma=0.5),
         r"^groups.column: domain 'a' has no metadata column 'lang' \(has: doc_id, n_tokens, quality, grp\)$"),
        (GroupsConfig(column="grp", min_share={"z": 0.2}),
         r"^groups.min_share: no training document of a has grp 'z'$"),
    ]:
        with pytest.raises(CurricleError, match=msg):
            prune_store(grouped, PruneConfig(by="random", keep=0.5, domains=["a"], groups=groups), tmp_path / "o",
                        progress=False)
    with pytest.raises(CurricleError, match=r"^--gamma: sets the floors of groups; name their column with --groups"):
        prune_command(grouped, tmp_path / "o", "random", 0.5, gamma=0.5)
    with pytest.raises(CurricleError, match=rf"^{tmp_path / 's.yaml'} \(with the flags\): groups: give one of "
                                            r"'min_share' or 'gamma', not both$"):
        (tmp_path / "s.yaml").write_text("groups: {column: grp, min_share: {y: 0.2}}\n")
        prune_command(grouped, tmp_path / "o", "random", 0.5, config_file=tmp_path / "s.yaml", gamma=0.5)
    assert not (tmp_path / "o").exists()


def test_cli_groups_and_gamma_or_a_config_file(grouped, tmp_path):
    runner = CliRunner()
    r = runner.invoke(app, ["prune", str(grouped), "--by", "column:quality", "--keep", "0.5", "--domains", "a",
                            "--groups", "grp", "--gamma", "1", "--out", str(tmp_path / "p")])
    assert r.exit_code == 0, r.output
    assert removed_indices(tmp_path / "p") == [1, 2, 5, 6, 7, 9, 12]
    assert "a: token share by grp" in r.output
    (tmp_path / "s.yaml").write_text("by: column:quality\nkeep: 0.9\ngroups: {column: grp, min_share: {y: 0.5}}\n")
    r = runner.invoke(app, ["prune", str(grouped), "--config", str(tmp_path / "s.yaml"), "--domains", "a",
                            "--out", str(tmp_path / "q")])
    assert r.exit_code == 0, r.output
    assert read_lineage(tmp_path / "q")["groups"] == {"column": "grp", "min_share": {"y": 0.5}}
    assert "below their floor: y" in " ".join(r.output.split())
    # --groups over the file's column, the file's floors kept.
    r = runner.invoke(app, ["prune", str(grouped), "--config", str(tmp_path / "s.yaml"), "--domains", "a",
                            "--groups", "quality", "--out", str(tmp_path / "r")])
    assert r.exit_code == 2 and r.output.startswith("error: groups.min_share: no training document of a has quality")
