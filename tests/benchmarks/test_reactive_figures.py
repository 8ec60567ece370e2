"""The arithmetic behind ``benchmarks/reactive.py``: when every target is met (the same rule
for every arm), the pilot's smoothed targets, the levels that emerged, the documents no run
steered on, and the paired intervals."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.benchmarks.conftest import benchmark_module


@pytest.fixture(scope="module")
def reactive():
    with benchmark_module("reactive.py", "bench_reactive") as module:
        yield module


def evals(losses):
    return [{"step": 10 * (i + 1), "tokens": 100 * (i + 1), "eval_tokens": 7 * (i + 1), "loss": l}
            for i, l in enumerate(losses)]


def test_every_target_must_be_met_at_the_same_evaluation(reactive):
    e = evals([{"a": 3.0, "b": 2.0}, {"a": 1.9, "b": 2.2}, {"a": 2.1, "b": 1.9}, {"a": 1.8, "b": 1.7}])
    # a meets 2.0 at step 20 and b at 30, but never both before step 40 (a slipped back at 30)
    assert reactive.first_met(e, {"a": 2.0, "b": 2.0})["step"] == 40
    assert reactive.first_met(e, {"a": 2.0}) == e[1]
    assert reactive.first_met(e, {"a": 1.0}) is None


def test_a_target_is_the_pilots_loss_averaged_over_three_evaluations(reactive):
    e = evals([{"a": 4.0}, {"a": 3.0}, {"a": 5.0}, {"a": 2.0}])
    # smoothed (edges repeated): [11/3, 4, 10/3, 3]; at step 25, halfway between 20 and 30
    assert reactive.loss_at(e, "a", 25) == pytest.approx((4 + 10 / 3) / 2, abs=1e-12)
    assert reactive.loss_at(e, "a", 10) == pytest.approx(11 / 3, abs=1e-12)


def test_levels_emerged_by_the_maps_rule_at_the_last_probe(reactive, tmp_path):
    def row(step, level, acc, se):
        return {"step": step, "task": f"up@{level}", "level": level, "discrete": "acc",
                "metrics": {"acc": acc, "acc_se": se}, "chance": {"acc": 0.25}}

    rows = [row(100, "2", 0.9, 0.01), row(200, "2", 0.41, 0.05), row(200, "3", 0.39, 0.05), row(200, "4", 0.2, 0.01)]
    (tmp_path / "probes.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    # 0.41 - 3 x 0.05 = 0.26 > 0.25 emerged; 0.39 - 0.15 = 0.24 not; step 100 is not the last
    assert reactive.emerged_levels(tmp_path, 3.0) == ["2"]


def test_paired_interval_is_the_student_t_over_seeds(reactive):
    p = reactive.paired(np.array([1.0, 2.0, 3.0]))
    se = 1.0 / np.sqrt(3)
    assert p["mean"] == 2.0 and p["stderr"] == round(se, 4)
    assert p["ci"] == [round(2 - 4.302652729911275 * se, 4), round(2 + 4.302652729911275 * se, 4)]
    assert p["per_seed"] == [1.0, 2.0, 3.0]


def test_scored_documents_lie_beyond_the_rows_the_runs_evaluate_on(reactive, tmp_path):
    from curricle.config import parse_config
    from curricle.prepare.command import prepare_run
    from curricle.store import TokenStore

    data_dir = tmp_path / "data"
    cfg = {"name": "t", "data_dir": str(data_dir), "prepare": {"heldout_fraction": 0.3},
           "sources": [{"kind": "synthetic", "skill": "copy", "domain": "copy", "n_docs": 60}],
           "tokenizer": {"vocab_size": 300, "sample_docs_per_source": 30}}
    prepare_run(parse_config(cfg), progress=False)
    store = TokenStore(data_dir)
    mode = reactive.Mode("t", "micro", 8, 16, 10, 1e-3, 5, 2, 10, "micro", 10, 5, 8)
    es = reactive.scored_windows(store, "copy", mode)
    split = store.split("copy", "heldout")
    seen = mode.eval_rows * (mode.seq_len + 1)
    starts = np.asarray(split.index[:-1])
    beyond = np.flatnonzero(starts >= seen)
    assert len(es["lengths"]) == len(beyond) > 0  # every such document, one window each
    first = np.append(split.document(int(beyond[0])), store.eos_id)[: mode.seq_len + 1]
    assert es["windows"][0][: len(first)].tolist() == first.tolist()
