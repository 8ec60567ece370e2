"""The arithmetic behind ``benchmarks/mixing.py``'s verdict: the evaluation set and its halves,
the power-law speedup estimator, and the paired, bootstrapped figures of a suite. The
benchmark is a program, not part of the package: load it by path."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from curricle.config import parse_config
from curricle.prepare.command import prepare_run
from curricle.store import TokenStore
from tests.benchmarks.conftest import benchmark_module


@pytest.fixture(scope="module")
def mixing():
    with benchmark_module("mixing.py", "bench_mixing") as module:
        yield module


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("mixing-store") / "data"
    cfg = {"name": "t", "data_dir": str(data_dir), "prepare": {"heldout_fraction": 0.2},
           "sources": [{"kind": "synthetic", "skill": "copy", "domain": "copy", "n_docs": 400},
                       {"kind": "synthetic", "skill": "facts", "domain": "facts", "n_docs": 500}],
           "tokenizer": {"vocab_size": 300, "sample_docs_per_source": 40}}
    prepare_run(parse_config(cfg), progress=False)
    return TokenStore(data_dir)


def test_evaluation_set_has_one_window_per_document_in_two_disjoint_halves(mixing, store):
    es = mixing.eval_set(store, store.domains, seq_len=16, max_docs=64)
    for d in store.domains:
        split = store.split(d, "heldout")
        e = es[d]
        assert split.n_docs >= 64 and len(e["windows"]) == 64 == len(e["lengths"]) == len(e["test"])
        assert e["windows"].shape == (64, 17)
        # Spread over the whole split (first and last held-out document in), one window each.
        first = np.append(split.document(0), store.eos_id)[:17]
        assert np.array_equal(e["windows"][0][: len(first)], first)
        last = np.append(split.document(split.n_docs - 1), store.eos_id)[:17]
        assert np.array_equal(e["windows"][-1][: len(last)], last)
        # Both halves are used, and no window is in both.
        test = {w.tobytes() for w in e["windows"][e["test"]]}
        val = {w.tobytes() for w in e["windows"][~e["test"]]}
        assert 16 <= len(test) <= 48 and not test & val
    again = mixing.eval_set(store, store.domains, seq_len=16, max_docs=64)
    assert mixing.eval_set_hash(again) == mixing.eval_set_hash(es)  # by content: the same halves every time


def test_power_law_fit_and_speedup_recover_a_known_s(mixing):
    budgets = np.array(mixing.BUDGETS)
    e, b, a = 2.0, 1.5, 0.6
    curves = np.stack([e + b * budgets ** -a, 3.0 + 0.5 * budgets ** -1.2])
    fit = mixing.fit_power_law(budgets, curves)
    assert fit[0] == pytest.approx([2.0, 1.5, 0.6], rel=2e-2)
    # A method that reaches at T what uniform reaches at 1.3 T (and at 0.8 T: a slowdown).
    target = np.array([e + b * 1.3 ** -a, 3.0 + 0.5 * 0.8 ** -1.2])
    assert mixing.speedup(curves, target) == pytest.approx([1.3, 0.8], rel=2e-2)
    # Below the fitted floor uniform never gets there: capped, not infinite.
    assert mixing.invert(fit[:1], np.array([1.9]))[0] == 100.0


def test_a_suite_is_paired_per_seed_and_bootstrapped_over_documents_and_seeds(mixing):
    rng = np.random.default_rng(0)
    domains = ["a", "b"]
    seeds = [0, 1, 2, 3]
    docs = 40
    es = {d: {"test": np.arange(docs) % 2 == 0} for d in domains}
    doc_noise = {d: rng.normal(0, 0.05, docs) for d in domains}

    def run(level, seed, shift=(0.0, 0.0)):
        return {d: level + shift[i] + doc_noise[d] + 0.01 * seed for i, d in enumerate(domains)}

    losses = {}
    for s in seeds:
        for bgt in mixing.BUDGETS:
            losses[(f"uniform@{bgt}", s)] = run(3.0 + 1.0 * bgt ** -0.5, s)
        losses[("fast", s)] = run(3.0 + 1.0 * 1.5 ** -0.5, s)  # uniform's loss at 1.5 T
        losses[("mixed", s)] = run(3.0 + 1.0, s, shift=(-0.2, 0.2))  # a better, b worse, same mean
    res = mixing.analyse("t", domains, seeds, ["fast", "mixed"], losses, es, np.random.default_rng(1), {})
    rows = res["views"]["all"]["methods"]
    assert rows["fast"]["speedup"] == pytest.approx(1.5, rel=1e-2)
    lo, hi = rows["fast"]["speedup_ci"]
    assert lo <= 1.5 * 1.01 and hi >= 1.5 * 0.99 and lo > 1.3  # the same shift on every seed: tight
    assert rows["mixed"]["speedup"] == pytest.approx(1.0, rel=1e-2)
    pd = res["per_domain"]["mixed"]
    assert pd["domains"]["a"]["verdict"] == "better" and pd["domains"]["b"]["verdict"] == "worse"
    assert pd["improved"] == 1 and pd["worse"] == 1 and pd["worst_domain"] == "b"
    assert pd["worst_domain_delta"] == pytest.approx(0.2)
    assert res["test_docs"] == {"a": 20, "b": 20}
    head = mixing.headline(res, ["fast", "mixed"])
    assert head["best_method"] == "fast" and head["captured_fraction"] is None
    assert head["max_abs_log_speedup"] == pytest.approx(np.log(1.5), rel=2e-2)


def test_methods_get_one_timing_rule_and_doremi_two_stages(mixing):
    base = {"seed": 0, "data_dir": "x", "mixture": {"batch_rows": 8, "seq_len": 64}, "train": {"steps": 100}}
    ado = mixing.method_config(base, "ado", ["a", "b"], 200)
    assert ado["controller"] == {"kind": "ado", "warmup_steps": 20, "refit_every": 20}
    proxy = mixing.method_config(base, "doremi-proxy", ["a", "b"], 200, reference="runs/u")
    assert proxy["controller"] == {"kind": "doremi", "reference": {"run": "runs/u"}}
    assert proxy["mixture"]["schedule"] == {"kind": "static", "weights": {"a": 1.0, "b": 1.0}}
    main = mixing.method_config(base, "doremi", ["a", "b"], 200, weights={"a": 0.7, "b": 0.3})
    assert main["mixture"]["schedule"] == {"kind": "static", "weights": {"a": 0.7, "b": 0.3}}
    assert main["controller"] == {"kind": "schedule"} and main["train"]["steps"] == 200


def on_uniforms_curve(mixing, budgets: dict[str, float]):
    """Two domains, 3 seeds, 30 documents (every other one a test document): uniform's runs at
    each budget on the curve ``3 + N^-0.5``, and each named method at the loss uniform has at
    its budget (in units of T). Returns ``(domains, seeds, losses, es)``."""
    domains, seeds, docs = ["a", "b"], [0, 1, 2], 30
    es = {d: {"test": np.arange(docs) % 2 == 0} for d in domains}
    noise = np.random.default_rng(2).normal(0, 0.05, docs)
    losses = {}
    for s in seeds:
        for name, bgt in [*((f"uniform@{b}", b) for b in mixing.BUDGETS), *budgets.items()]:
            losses[(name, s)] = {d: 3.0 + bgt ** -0.5 + noise for d in domains}
    return domains, seeds, losses, es


def test_aiolis_evaluations_are_charged_to_its_budget(mixing):
    domains, seeds, losses, es = on_uniforms_curve(mixing, {"aioli": 1.5})  # uniform's loss at 1.5 T
    # 1,000 training tokens a run; Aioli evaluated 250 more tokens than uniform T on every seed.
    res = mixing.analyse("t", domains, seeds, ["aioli"], losses, es, np.random.default_rng(1), {},
                         {"aioli": np.array([250, 250, 250])}, 1000)
    row = res["views"]["all"]["methods"]["aioli"]
    assert row["speedup_uncharged"] == pytest.approx(1.5, rel=1e-2)
    assert row["speedup"] == pytest.approx(row["speedup_uncharged"] / 1.25, rel=1e-3)  # 1.5 T of uniform for 1.25 T
    assert row["budget_factor_per_seed"] == [1.25, 1.25, 1.25] and row["charged_tokens_per_seed"] == [250, 250, 250]
    head = mixing.headline(res, ["aioli"])
    assert head["aioli_speedup"] == row["speedup"] and head["aioli_eval_tokens"] == 250
    assert head["aioli_at_or_above_uniform"] is True
    # The null control judges what the mixture does: the uncharged S.
    assert head["max_abs_log_speedup"] == round(abs(np.log(row["speedup_uncharged"])), 4)


def test_aiolis_timing_rule(mixing):
    base = {"seed": 0, "data_dir": "x", "mixture": {"batch_rows": 8, "seq_len": 64}, "train": {"steps": 100}}
    cfg = mixing.method_config(base, "aioli", ["a", "b", "c", "d", "e", "f"], 200)
    assert cfg["controller"] == {"kind": "aioli", "warmup_steps": 1, "update_every": 40, "lp_rounds": 1,
                                 "lp_steps": 2}
    assert cfg["mixture"]["schedule"] == {"kind": "static", "weights": {d: 1.0 for d in "abcdef"}}
    eta1 = mixing.method_config(base, "aioli-eta1", ["a", "b", "c", "d", "e", "f"], 200)
    assert eta1["controller"] == {**cfg["controller"], "eta": 1.0} and eta1["mixture"] == cfg["mixture"]


def test_aiolis_reach_is_every_mixture_its_normalized_matrix_can_set(mixing):
    from curricle.controllers.aioli import interaction_matrix, softmax

    low, high = mixing.aioli_reach_bounds(6, 0.2)
    assert (low, high) == (pytest.approx(1 / (np.exp(0.2) + 5)), pytest.approx(np.exp(0.2) / (np.exp(0.2) + 5)))
    assert (round(low, 4), round(high, 4)) == (0.1607, 0.1963)
    # The controller's own update, on any round's gains, stays inside the bounds (and so does an
    # EMA of normalized matrices, a convex combination of them).
    rng = np.random.default_rng(0)
    smoothed = None
    for _ in range(200):
        a = interaction_matrix(rng.normal(0, 1, (6, 6)) * rng.uniform(0, 3), 1, 0.625, True)
        assert a.sum() == pytest.approx(1.0) and a.min() >= 0
        smoothed = a if smoothed is None else 0.9 * a + 0.1 * smoothed
        for m in (a, smoothed):
            p = softmax(0.2 * m.sum(0))
            assert p.min() >= low - 1e-12 and p.max() <= high + 1e-12
    cands = mixing.aioli_reach_mixtures(np.random.default_rng(1), 4, 1.0, 100)
    assert cands.shape == (100 + 4 + 6, 4) and np.allclose(cands.sum(1), 1.0)
    low, high = mixing.aioli_reach_bounds(4, 1.0)
    assert cands.min() >= low - 1e-12 and cands.max() <= high + 1e-12
    # Each vertex of c puts the most Aioli can on one domain; each edge midpoint splits it.
    assert np.allclose(cands[100:104].max(1), high) and np.allclose(cands[100:104].min(1), low)
    assert np.allclose(cands[104], softmax(np.array([0.5, 0.5, 0.0, 0.0])))


def test_aiolis_ceilings_are_charged_as_aioli_and_never_the_best_method(mixing):
    domains, seeds, losses, es = on_uniforms_curve(mixing, {"aioli": 1.0, "aioli-reach": 1.6, "oracle": 2.0,
                                                            "aioli-eta1": 1.4})
    charges = np.array([250, 250, 250])
    methods = ["aioli", "aioli-reach", "aioli-eta1", "oracle"]
    res = mixing.analyse("t", domains, seeds, methods, losses, es, np.random.default_rng(1), {},
                         {"aioli": charges, "aioli-reach": charges, "aioli-eta1": 2 * charges}, 1000)
    rows = res["views"]["all"]["methods"]
    assert rows["aioli-reach"]["speedup_uncharged"] == pytest.approx(1.6, rel=1e-2)
    assert rows["aioli-reach"]["speedup"] == pytest.approx(rows["aioli-reach"]["speedup_uncharged"] / 1.25, rel=1e-3)
    assert rows["aioli-eta1"]["speedup"] == pytest.approx(rows["aioli-eta1"]["speedup_uncharged"] / 1.5, rel=1e-3)
    res["aioli_reach"] = {"eta": 0.2}  # main() records the eta the reach was drawn at
    head = mixing.headline(res, methods)
    assert head["aioli_reach_eta"] == 0.2
    # The ceilings (1.28 and 1.6 charged) are not methods, and the eta-1 variant (0.93) is reported apart.
    assert head["best_method"] == "aioli"
    assert head["aioli_eta1_speedup"] == rows["aioli-eta1"]["speedup"]
    assert head["aioli_eta1_speedup_uncharged_ci"] == rows["aioli-eta1"]["speedup_uncharged_ci"]
    assert head["aioli_reach_speedup"] == rows["aioli-reach"]["speedup"]
    assert head["aioli_reach_speedup_uncharged"] == rows["aioli-reach"]["speedup_uncharged"]
    assert head["aioli_oracle_bound"] == pytest.approx(rows["oracle"]["speedup"] / 1.25, abs=1e-4)


def test_a_runs_evaluation_is_read_back_with_the_code_that_made_it(mixing, tmp_path):
    """``build_store`` records the code that made a store (not one it reused); ``run_job`` caches a
    run's held-out losses in it with a code record beside them, reads them back while the run is
    kept (an older code's cache, without one, counts as unrecorded) and makes them again,
    recorded, when it trains the run again."""
    from common import cached_products, code_path

    from curricle.runinfo import code_record

    mode = dataclasses.replace(mixing.QUICK, steps=3, batch_rows=2, seq_len=16, tokenizer_vocab=300)
    cd = mixing.base_config(mode, tmp_path / "data", [{"kind": "synthetic", "skill": "copy", "domain": "copy",
                                                       "n_docs": 200}], 0, mode.steps)
    now = code_record()
    head = now["commit"] or "unknown code"
    mine = {f"{now['commit']}{'+dirty' if now['dirty'] else ''}": 1, "other_than_head": 0} if now["commit"] else {
        "unrecorded": 1, "other_than_head": 1}
    assert mixing.build_store(cd) == tmp_path / "data"  # its store, with the code that made it
    assert cached_products([tmp_path / "data"], head=head) == mine
    code_path(tmp_path / "data").unlink()  # a store reused as it is keeps what it had: nothing
    assert mixing.build_store(cd) == tmp_path / "data"
    assert cached_products([tmp_path / "data"], head=head) == {"unrecorded": 1, "other_than_head": 1}
    es = mixing.eval_set(TokenStore(tmp_path / "data"), ["copy"], mode.seq_len, 16)
    es_path = tmp_path / "eval-set.npz"
    np.savez(es_path, es=np.array(es, dtype=object))
    job = mixing.Job("s", "uniform", 0, cd, tmp_path / "run", mixing.eval_set_hash(es))

    assert mixing.run_job(job, str(es_path))["trained"]
    cache = mixing.eval_cache(job)
    assert cache.is_file() and cached_products([cache], head=head) == mine
    code_path(cache).unlink()  # as an older code left it
    before = cache.read_bytes()
    assert not mixing.run_job(job, str(es_path))["trained"]
    assert cache.read_bytes() == before and cached_products([cache], head=head) == {"unrecorded": 1,
                                                                                     "other_than_head": 1}
    (job.run_dir / "metrics.jsonl").unlink()  # the run is not finished: trained again, evaluated again
    assert mixing.run_job(job, str(es_path))["trained"]
    assert cached_products([cache], head=head) == mine
