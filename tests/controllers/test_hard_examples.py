import json
import shutil
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from pydantic import ValidationError

from curricle.config import parse_config
from curricle.controllers.base import ControllerContext
from curricle.controllers.config import JTTConfig
from curricle.controllers.hard_examples import (HardExamples, HardExamplesConfig, Visit, classify_trend, doc_losses,
                                                doc_visits, document_signals, floor_groups, load_document_state,
                                                loss_trend, mean_ranks)
from curricle.controllers.hook import ControllerHook
from curricle.controllers.jtt import JTT, error_set
from curricle.errors import CurricleError
from curricle.mixture.config import MixtureConfig, StaticConfig
from curricle.mixture.sampler import Batch, MixtureSampler
from curricle.store import TokenStore
from curricle.train.command import train_run
from curricle.train.distributed import DistInfo
from tests.controllers.test_in_training import _ctrl, read
from tests.train.conftest import run_config_dict


def controller(**kw):
    c = HardExamples(HardExamplesConfig(**{"warmup_steps": 0, "update_every": 1, **kw}),
                     ControllerContext(["a"], {"a": 100}, doc_counts={"a": 4}))
    return c


def test_rank_priorities_follow_selection_pressure_whatever_the_loss_scale():
    # Loshchilov & Hutter: p ~ exp(-ln(s_e) * rank / N); unseen documents rank with the hardest.
    for scale in (1.0, 100.0):
        c = controller(selection_pressure=16.0)
        c.observe_docs(1, [("a", 0, 6.0 * scale), ("a", 1, 6.3 * scale), ("a", 2, 6.1 * scale)])
        p = c.doc_priorities(1)["a"]
        ranks = np.array([3.0, 0.5, 2.0, 0.5])  # docs 1 and 3 (unseen) tie for ranks 0 and 1
        assert np.allclose(p, np.exp(-np.log(16.0) * ranks / 4) / np.exp(-np.log(16.0) * ranks / 4).sum())
    assert p[1] / p[0] == pytest.approx(16.0 ** (2.5 / 4))


def test_harder_documents_get_more_probability_and_unseen_ones_the_most():
    c = controller(priority="loss")
    c.observe_docs(1, [("a", 0, 1.0), ("a", 1, 3.0), ("a", 2, 2.0)])
    p = c.doc_priorities(1)["a"]
    assert p[3] == p[1] > p[2] > p[0]  # doc 3 unseen: treated as hard as the hardest
    assert p.sum() == pytest.approx(1.0)
    assert np.allclose(p, np.array([1, 3, 2, 3]) / 9)


def test_stale_estimates_fade_to_the_mean_and_the_cap_stops_repeats():
    c = controller(priority="loss", staleness=0.5, max_serves=2)
    c.observe_docs(1, [("a", 0, 1.0), ("a", 1, 3.0), ("a", 2, 2.0), ("a", 3, 2.0)])
    fresh = c.doc_priorities(1)["a"]
    old = c.doc_priorities(11)["a"]  # ten steps later every estimate has faded toward 2.0
    assert fresh[1] / fresh[0] == pytest.approx(3.0)
    assert old[1] / old[0] == pytest.approx((2 + 0.5**10) / (2 - 0.5**10))
    c.observe_docs(12, [("a", 1, 3.0)])  # doc 1 served twice: capped
    assert c.doc_priorities(12)["a"][1] == 0.0
    summary = c.summary(c.doc_priorities(12))
    assert summary["a"]["capped"] == 1 and summary["a"]["top_docs"][0] in (0, 2, 3)


def test_sampler_draws_by_priority_and_reports_row_segments(make_store):
    docs = [[10 + i] * 5 for i in range(4)]
    store = TokenStore(make_store({"a": docs, "b": [[1, 2, 3]]}))
    s = MixtureSampler(store, MixtureConfig(batch_rows=2, seq_len=7, schedule=StaticConfig(weights={"a": 1})),
                       prioritized=["a"])
    s.set_doc_priorities("a", np.array([0.0, 0.0, 1.0, 0.0]))
    b = s.next_batch()
    toks = b.tokens.numpy()
    assert set(toks[toks != 0].tolist()) == {12}
    # Each segment names the document whose tokens it covers.
    for row, start, end, d, doc in b.segments:
        assert d == 0 and doc == 2
        assert (toks[row, start:end] != 0).sum() == (toks[row, start:end] == 12).sum()
    assert sum(end - start for _, start, end, _, _ in b.segments) == 2 * 8
    with pytest.raises(Exception, match="was not declared prioritized"):
        s.set_doc_priorities("b", None)


def test_doc_losses_attribute_each_label_to_the_document_of_its_token():
    batch = Batch(step=0, tokens=torch.zeros(1, 5, dtype=torch.long), domain_ids=torch.zeros(1, dtype=torch.long),
                  seq_len=4, weights=np.ones(1), segments=[(0, 0, 2, 0, 7), (0, 2, 5, 0, 8)])
    token_loss = torch.tensor([[1.0, 2.0, 3.0, 4.0]])  # loss of predicting tokens 1..4
    # Doc 7 owns tokens 0-1: only token 1 is predicted (loss 1.0); doc 8 owns tokens 2-4.
    assert doc_losses(batch, token_loss, ["a"]) == [("a", 7, 1.0), ("a", 8, 3.0)]


def test_hard_examples_in_training_logs_priorities_and_resumes_exactly(tmp_path, make_config):
    ctrl = _ctrl({"kind": "hard-examples", "domains": ["arithmetic", "copy"], "update_every": 5, "warmup_steps": 5})
    cfg = make_config(steps=30).model_copy(update={"controller": ctrl})
    train_run(cfg, tmp_path / "full", progress=False)
    log = read(tmp_path / "full", "mixture_log.jsonl")
    assert [e["step"] for e in log] == [5, 10, 15, 20, 25, 30]
    assert set(log[-1]["priorities"]) <= {"arithmetic", "copy"} and log[-1]["priorities"]
    train_run(cfg, tmp_path / "cut", progress=False)
    shutil.rmtree(tmp_path / "cut" / "checkpoints" / "step_30")
    train_run(cfg, tmp_path / "cut", resume=True, progress=False)
    assert [m["loss"] for m in read(tmp_path / "cut", "metrics.jsonl")] == \
        [m["loss"] for m in read(tmp_path / "full", "metrics.jsonl")]
    assert read(tmp_path / "cut", "mixture_log.jsonl") == log


class _Sampler:
    """What a document prioritizer's hook touches of the sampler: the priorities it is handed."""

    def __init__(self):
        self.served_tokens = np.zeros(1, dtype=np.int64)
        self.handed: list[tuple[str, list[float]]] = []

    def set_doc_priorities(self, domain, p):
        self.handed.append((domain, p.tolist()))


def _through_the_hook(c, steps):
    """Run ``c`` through its :class:`ControllerHook` over ``steps``: ``(step, losses, skipped)``,
    one row per document ``i`` of domain ``a`` with loss ``losses[i]`` (a skipped step's rows
    are a spike). The priorities handed to the sampler, and the mixture log's lines."""
    hook, lines, sampler = ControllerHook(c), [], _Sampler()
    state = SimpleNamespace(domains=["a"], sampler=sampler, probes=None, probes_step=None, eval_tokens=0,
                            dist=DistInfo(rank=0, world_size=1, local_rank=0, device=torch.device("cpu")),
                            append_log=lambda name, line: lines.append(line))
    hook.on_train_start(SimpleNamespace(**vars(state), step=0))
    for step, losses, skipped in steps:
        batch = SimpleNamespace(segments=[(i, 0, 2, 0, i) for i in range(len(losses))], overlay_groups=None,
                                weights=np.ones(1))
        hook.on_step_start(state, batch)
        hook.on_micro_batch(state, batch, slice(0, len(losses)), torch.tensor([[x, 0.0] for x in losses]))
        hook.on_step_end(state, batch, {"step": step, **({"skipped": "spike"} if skipped else {})})
    return sampler.handed, lines


def test_a_step_the_guard_skipped_leaves_hard_examples_as_if_it_had_not_happened():
    # Due at step 4, which the guard skips: the priorities are not aged there (staleness
    # 0.5 ** (4 - 2) toward the mean), and wait for step 6, as if step 4 had not happened.
    first, last = (2, [1.0, 3.0, 2.0, 2.0], False), (6, [1.5, 2.5, 2.0], False)
    runs = {}
    for name, steps in (("skipped", [first, (4, [90.0, 90.0, 90.0, 90.0], True), last]), ("without", [first, last])):
        c = controller(priority="loss", staleness=0.5, update_every=2)
        runs[name] = (*_through_the_hook(c, steps), json.dumps(c.state_dict()),
                      json.dumps({k: v.tolist() for k, v in c.array_state().items()}))  # NaN as NaN
    assert runs["skipped"] == runs["without"]
    handed, lines, _, arrays = runs["skipped"]
    arrays = json.loads(arrays)
    assert [line["step"] for line in lines] == [2, 6] and len(handed) == 2
    assert arrays["served/a"] == [2, 2, 2, 1] and arrays["seen/a"] == [6, 6, 6, 2]
    mean = 2.0  # (1.5 + 2.5 + 2.0 + 2.0) / 4; doc 3, seen at step 2: 2.0 (its mean distance is 0)
    assert handed[1][1] == pytest.approx(np.array([1.5, 2.5, 2.0, mean]) / 8.0)


# -- difficulty beyond loss ---------------------------------------------------------------


def test_visits_keep_smoothed_signals_a_history_and_document_signals_reads_them():
    c = controller(smoothing=0.5, history=3)
    c.observe_docs(1, [Visit("a", 0, 4.0, 10, 1.0, 0.5, 1.0)])
    c.observe_docs(2, [Visit("a", 0, 2.0, 10, -1.0, 0.25, 0.0), ("a", 1, 7.0)])  # a bare (domain, doc, loss) too
    arrays = c.array_state()
    assert sorted(arrays) == sorted(f"{k}/a" for k in ("last", "seen", "served", "ema", "hist", "margin", "conf",
                                                       "acc", "calib"))
    assert arrays["hist/a"].shape == (4, 3)
    assert arrays["hist/a"][0].tolist()[1:] == [4.0, 2.0] and np.isnan(arrays["hist/a"][0, 0])
    s = document_signals(arrays, "a")
    assert set(s) == {"loss", "loss_ema", "trend", "margin", "confidence", "accuracy", "calibration", "served",
                      "last_step"}
    assert s["loss"][:2].tolist() == [2.0, 7.0] and np.isnan(s["loss"][2:]).all()
    assert s["loss_ema"][:2].tolist() == [3.0, 7.0]  # 0.5 * 4 + 0.5 * 2; a first visit sets it
    assert s["trend"][0] == -2.0 and np.isnan(s["trend"][1:]).all()  # one visit: no trend
    assert s["margin"][0] == 0.0 and s["confidence"][0] == 0.375 and s["accuracy"][0] == 0.5
    assert s["calibration"][0] == 0.5 * (0.5 - 1.0) + 0.5 * (0.25 - 0.0)  # over-confidence, smoothed
    assert np.isnan(s["margin"][1])  # no signals on that visit
    assert s["served"].tolist() == [2, 1, 0, 0] and s["last_step"].tolist() == [2, 2, 0, 0]


def test_the_trend_separates_a_falling_loss_from_a_flat_one():
    hist = np.array([[4.0, 3.0, 2.0, 1.0], [2.0, 2.1, 1.9, 2.0], [np.nan, np.nan, np.nan, 5.0],
                     [np.nan, np.nan, 3.0, 1.0]])
    trend = loss_trend(hist)
    assert trend[0] == -1.0 and trend[3] == -2.0 and np.isnan(trend[2])
    assert trend[1] == pytest.approx(-0.02)
    assert classify_trend(trend, 0.1).tolist() == ["learning", "stuck", "unknown", "learning"]
    assert classify_trend(np.array([0.5]), 0.1).tolist() == ["rising"]
    # Through the controller: the K = 4 most recent visits of each document.
    c = controller(history=4)
    for step, (falling, flat) in enumerate([(6.0, 3.0), (5.0, 3.0), (4.0, 3.0), (3.0, 3.0), (2.0, 3.0)], 1):
        c.observe_docs(step, [("a", 0, falling), ("a", 1, flat)])
    assert document_signals(c.array_state(), "a")["trend"][:2].tolist() == [-1.0, 0.0]


def test_doc_visits_average_the_signals_of_each_piece():
    batch = Batch(step=0, tokens=torch.zeros(1, 5, dtype=torch.long), domain_ids=torch.zeros(1, dtype=torch.long),
                  seq_len=4, weights=np.ones(1), segments=[(0, 0, 1, 0, 5), (0, 1, 2, 0, 7), (0, 2, 5, 0, 8)])
    token_loss = torch.tensor([[1.0, 2.0, 3.0, 4.0]])
    signals = torch.tensor([[[1.0, 0.5, 1.0], [2.0, 0.25, 0.0], [3.0, 0.5, 1.0], [4.0, 0.75, 1.0]]])
    v5, v7, v8 = doc_visits(batch, token_loss, ["a"], signals)
    assert v5.doc == 5 and np.isnan(v5.loss) and v5.tokens == 1  # token 0 is no label: tokens only
    assert v7 == Visit("a", 7, 1.0, 1, 1.0, 0.5, 1.0)
    assert v8 == Visit("a", 8, 3.0, 3, 3.0, 0.5, pytest.approx(2 / 3))
    assert doc_losses(batch, token_loss, ["a"]) == [("a", 7, 1.0), ("a", 8, 3.0)]


def _ranked(p, hardness, pressure):
    r = mean_ranks(-np.asarray(hardness, dtype=np.float64))
    q = np.exp(-np.log(pressure) * r / len(r))
    return np.allclose(p, q / q.sum(), rtol=0, atol=1e-15)


@pytest.mark.parametrize("score, column, harder", [
    ("margin", 4, lambda m, c, a: -m),        # a smaller margin is harder
    ("confidence", 5, lambda m, c, a: -c),    # a less confident document is harder
    ("calibration", None, lambda m, c, a: c - a),  # more over-confident is harder
])
def test_scores_rank_documents_by_their_signal(score, column, harder):
    c = controller(score=score, selection_pressure=16.0)
    margin, conf, acc = [2.0, -1.0, 0.5, 1.0], [0.9, 0.2, 0.6, 0.7], [1.0, 0.0, 0.0, 1.0]
    c.observe_docs(1, [Visit("a", i, 1.0, 8, margin[i], conf[i], acc[i]) for i in range(4)])
    p = c.doc_priorities(1)["a"]
    assert _ranked(p, [harder(m, f, a) for m, f, a in zip(margin, conf, acc)], 16.0)


def test_learning_ranks_the_fastest_falling_loss_first():
    c = controller(score="learning", selection_pressure=16.0)
    for step, losses in enumerate([(5.0, 5.0, 5.0), (4.0, 5.0, 5.5), (3.0, 5.0, 6.0)], 1):
        c.observe_docs(step, [("a", i, x) for i, x in enumerate(losses)])
    # trends -1, 0, 0.5; doc 3 never seen: as hard as the hardest.
    assert _ranked(c.doc_priorities(3)["a"], [1.0, 0.0, -0.5, 1.0], 16.0)


def test_score_loss_keeps_todays_priorities_whatever_the_signals():
    rng = np.random.default_rng(0)
    new = controller(selection_pressure=20.0, staleness=0.9, max_serves=3)
    for step in range(1, 30):
        visits = [Visit("a", int(d), float(rng.gamma(2.0)), 8, *rng.random(3)) for d in rng.integers(0, 4, 2)]
        new.observe_docs(step, visits)
        # today's formula, from the latest loss alone
        last, seen, served = new.last["a"], new.seen["a"], new.served["a"]
        known = np.isfinite(last)
        mean = float(last[known].mean())
        stale = np.where(known, mean + (last - mean) * 0.9 ** (step - seen), np.nan)
        stale = np.where(known, stale, np.nanmax(stale))
        p = np.exp(-np.log(20.0) * mean_ranks(-stale) / 4)
        capped = served >= 3
        p = np.where(capped, 0.0, p) if not capped.all() else p
        assert np.array_equal(new.doc_priorities(step)["a"], p / p.sum())


def test_a_metadata_column_ranks_documents_and_a_missing_one_is_refused(make_store):
    store = TokenStore(make_store({"a": [[5, 6]] * 4}, extra_meta={"a/reference_loss": [0.5, 3.0, 1.0, 2.0]}))
    context = ControllerContext(["a"], {"a": 100}, doc_counts={"a": 4},
                                doc_column=lambda d, name: store.split(d).column(name))
    c = HardExamples(HardExamplesConfig(score="column:reference_loss", warmup_steps=0, selection_pressure=8.0),
                     context)
    assert _ranked(c.doc_priorities(0)["a"], [0.5, 3.0, 1.0, 2.0], 8.0)  # known before any visit
    with pytest.raises(CurricleError, match=r"^controller.score: domain 'a': no metadata column 'quality' "
                                            r"\(has: doc_id, n_tokens, reference_loss\)$"):
        HardExamples(HardExamplesConfig(score="column:quality"), context)


@pytest.mark.parametrize("fields, message", [
    ({"score": "entropy"}, "score: 'entropy' is not one of"),
    ({"score": "column:"}, "needs a column name"),
    ({"score": "margin", "priority": "loss"}, "needs priority: rank"),
    ({"score": "margin", "signals": False}, "needs signals: true"),
    ({"groups": {"column": "source", "min_share": {"x": 0.2}, "gamma": 0.5}}, "not both"),
    ({"groups": {"column": "source", "min_share": {"x": 0.7, "y": 0.5}}}, "sum to 1.2, more than 1"),
])
def test_bad_hard_example_configs_are_refused(fields, message):
    with pytest.raises(ValidationError, match=message):
        HardExamplesConfig(**fields)
    with pytest.raises(ValidationError, match="only for reporting"):
        JTTConfig(run="r", groups={"column": "source", "gamma": 0.5})


@pytest.mark.parametrize("controller, message", [
    ({"kind": "hard-examples", "min_weight": 0.1},
     "min_weight: hard-examples ranks documents within domains and sets no mixture weights (the schedule does), so "
     "it never reads it; leave min_weight out"),
    ({"kind": "hard-examples", "max_change": 0.5},
     "max_change: hard-examples ranks documents within domains and sets no mixture weights (the schedule does), so "
     "it never reads it; leave max_change out"),
    ({"kind": "hard-examples", "ema": 0.5},
     "ema: hard-examples ranks documents within domains and sets no mixture weights (the schedule does), so it "
     "never reads it; leave ema out"),
    ({"kind": "jtt", "run": "first", "min_weight": 0.1},
     "min_weight: jtt ranks documents within domains and sets no mixture weights (the schedule does), so it never "
     "reads it; leave min_weight out"),
    ({"kind": "jtt", "run": "first", "max_change": 0.5},
     "max_change: jtt ranks documents within domains and sets no mixture weights (the schedule does), so it never "
     "reads it; leave max_change out"),
    ({"kind": "jtt", "run": "first", "update_every": 3},
     "update_every: jtt sets its draw probabilities once, at warmup_steps, so it never reads it; leave "
     "update_every out"),
])
def test_knobs_a_document_prioritizer_never_reads_are_refused_in_one_line(tmp_path, controller, message):
    with pytest.raises(CurricleError) as err:
        parse_config({**run_config_dict(tmp_path), "controller": controller})
    assert str(err.value) == f"config: controller.{controller['kind']}: {message}"
    # what they do read is accepted
    parse_config({**run_config_dict(tmp_path), "controller": {"kind": "hard-examples", "update_every": 3,
                                                              "warmup_steps": 2}})


# -- groups -----------------------------------------------------------------------------


def test_floor_groups_raises_a_groups_token_share_exactly():
    p = np.array([0.4, 0.4, 0.1, 0.1])
    groups = np.array([0, 0, 1, 1])
    assert np.allclose(floor_groups(p, groups, np.ones(4), np.array([0.0, 0.5])), [0.25] * 4, rtol=0, atol=1e-15)
    # Floors count tokens: the rare group's documents are twice as long.
    q = floor_groups(p, groups, np.array([1.0, 1.0, 2.0, 2.0]), np.array([0.0, 0.5]))
    assert np.allclose(q, [1 / 3, 1 / 3, 1 / 6, 1 / 6], rtol=0, atol=1e-15)
    # Above its floor already: unchanged. No probability at all (all capped): uniform within.
    assert np.array_equal(floor_groups(p, groups, np.ones(4), np.array([0.0, 0.1])), p)
    assert np.allclose(floor_groups(np.array([0.5, 0.5, 0.0, 0.0]), groups, np.ones(4), np.array([0.0, 0.3])),
                       [0.35, 0.35, 0.15, 0.15], rtol=0, atol=1e-15)


def group_controller(groups, **kw):
    # 10 documents: 0-7 'common' (10 tokens each), 8-9 'rare' (5 tokens each).
    names = ["common"] * 8 + ["rare"] * 2
    lengths = np.array([10] * 8 + [5] * 2)
    context = ControllerContext(["a"], {"a": 90}, doc_counts={"a": 10}, doc_column=lambda d, n: np.array(names),
                                doc_lengths=lambda d: lengths)
    return HardExamples(HardExamplesConfig(warmup_steps=0, update_every=1, groups=groups, **kw), context), lengths


@pytest.mark.parametrize("groups, floor", [({"column": "dialect", "min_share": {"rare": 0.3}}, 0.3),
                                           ({"column": "dialect", "gamma": 0.9}, 0.9 * 10 / 90)])
def test_group_floors_hold_at_every_update_on_a_history_that_starves_a_group(groups, floor):
    floored, lengths = group_controller(groups, max_serves=1000)
    plain, _ = group_controller(None, max_serves=1000)
    rng = np.random.default_rng(1)
    rare = np.array([False] * 8 + [True] * 2)
    starved = 0
    for step in range(1, 41):
        # The rare group is easy: its losses stay low, so plain hard-examples draws it less and less.
        visits = [Visit("a", int(d), 0.1 if rare[d] else 5.0 + float(rng.random()), int(lengths[d]))
                  for d in rng.integers(0, 10, 4)]
        floored.observe_docs(step, visits)
        plain.observe_docs(step, visits)
        p, q = floored.doc_priorities(step)["a"], plain.doc_priorities(step)["a"]
        share = (p * lengths)[rare].sum() / (p * lengths).sum()
        assert share >= floor - 1e-12, step
        assert np.allclose(p[~rare] / p[~rare].sum(), q[~rare] / q[~rare].sum(), rtol=0, atol=1e-12)
        starved += (q * lengths)[rare].sum() / (q * lengths).sum() < floor
    assert starved >= 30  # without the floor the rare group would fall below it
    shares = floored.summary(floored.doc_priorities(40))["a"]["group_shares"]
    assert shares["rare"] == pytest.approx(floor, abs=1e-6)
    assert floored.group_metrics() == pytest.approx(
        {"group/share/a/common": floored.docs.group_tokens["a"][0] / floored.docs.group_tokens["a"].sum(),
         "group/share/a/rare": floored.docs.group_tokens["a"][1] / floored.docs.group_tokens["a"].sum()})


def test_augmented_tokens_count_in_their_group_and_resume():
    ctrl, lengths = group_controller({"column": "dialect", "min_share": {"rare": 0.3}})
    ctrl.observe_docs(1, [Visit("a", 0, 2.0, 30), Visit("a", 8, 1.0, 10)])
    ctrl.observe_group_tokens(1, [("a", "rare", 20), ("a", "copy@4", 40), ("b", "rare", 99)])  # 'b': no groups
    ctrl.observe_group_tokens(2, [("a", "rare", 20)])
    assert ctrl.group_metrics() == {"group/share/a/common": 0.25, "group/share/a/rare": 50 / 120,
                                    "group/share/a/copy@4": 40 / 120}
    again, _ = group_controller({"column": "dialect", "min_share": {"rare": 0.3}})
    again.load_state_dict(json.loads(json.dumps(ctrl.state_dict())))
    assert again.group_metrics() == ctrl.group_metrics()
    # The floors the sampler holds an augmented domain's overlay to.
    (name, floors), = ctrl.group_floors().items()
    assert name == "a" and floors.names == ["common", "rare"] and floors.floors.tolist() == [0.0, 0.3]
    assert floors.ids.tolist() == [0] * 8 + [1] * 2
    assert group_controller({"column": "dialect"})[0].group_floors() == {}  # groups only reported


def test_a_floor_on_a_group_no_document_has_is_refused():
    with pytest.raises(CurricleError, match="^controller.groups.min_share: no document of a has dialect 'rar'$"):
        group_controller({"column": "dialect", "min_share": {"rar": 0.3}})


def with_dialects(prepared_dir, tmp_path):
    """A copy of the prepared store whose 'copy' documents (train and held-out) alternate
    between dialects 'plain' and 'rare' (every third one)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    data = tmp_path / "data"
    shutil.copytree(prepared_dir, data)
    store = TokenStore(data)
    for split in ("train", "heldout"):
        path = store.split("copy", split).path / "meta.parquet"
        table = pq.read_table(path)
        dialect = ["rare" if i % 3 == 0 else "plain" for i in range(table.num_rows)]
        pq.write_table(table.append_column("dialect", pa.array(dialect)), path)
    return data


def test_signals_scores_and_group_floors_in_training_resume_exactly(tmp_path, make_config, prepared_dir):
    data = with_dialects(prepared_dir, tmp_path)
    ctrl = _ctrl({"kind": "hard-examples", "domains": ["copy"], "update_every": 5, "warmup_steps": 5,
                  "score": "margin", "groups": {"column": "dialect", "min_share": {"rare": 0.5}}})
    # 30 held-out rows of 33 tokens reach the second held-out document (about 800 tokens each).
    cfg = make_config(steps=30, eval_rows_per_domain=30).model_copy(update={"controller": ctrl, "data_dir": data})
    train_run(cfg, tmp_path / "full", progress=False)
    metrics = read(tmp_path / "full", "metrics.jsonl")
    for m in metrics[10:]:  # 'copy' is drawn from step 1; the warm-up phase is copy alone
        assert m["group/share/copy/plain"] + m["group/share/copy/rare"] == pytest.approx(1.0)
    evals = [m for m in metrics if "eval/loss" in m]
    assert [m["step"] for m in evals] == [10, 20, 30]
    for m in evals:
        groups = {g: m[f"eval/group_loss/copy/{g}"] for g in ("plain", "rare")}
        assert m["eval/worst_group"] == f"copy/{max(groups, key=groups.get)}"
        assert m["eval/worst_group_loss"] == max(groups.values())
        assert not any(k.startswith("eval/group_loss/arithmetic") for k in m)
    log = read(tmp_path / "full", "mixture_log.jsonl")
    assert [e["step"] for e in log] == [5, 10, 15, 20, 25, 30]
    assert all(e["reason"] == "document priorities by margin" for e in log)
    assert all(e["priorities"]["copy"]["group_shares"]["rare"] >= 0.5 - 1e-6 for e in log)
    # The signals are the controller's state, saved with each checkpoint.
    step, arrays = load_document_state(tmp_path / "full")
    s = document_signals(arrays, "copy")
    seen = s["served"] > 0
    assert step == 30 and seen.any() and np.isfinite(s["margin"][seen]).all()
    assert ((s["confidence"][seen] > 0) & (s["confidence"][seen] <= 1)).all()
    assert np.allclose(s["calibration"][seen], s["confidence"][seen] - s["accuracy"][seen], atol=1e-9)
    # Cut at step 20 and resumed: the very same run.
    train_run(cfg, tmp_path / "cut", progress=False)
    shutil.rmtree(tmp_path / "cut" / "checkpoints" / "step_30")
    train_run(cfg, tmp_path / "cut", resume=True, progress=False)
    drop = ("tokens_per_s",)
    assert [{k: v for k, v in m.items() if k not in drop} for m in read(tmp_path / "cut", "metrics.jsonl")] == \
        [{k: v for k, v in m.items() if k not in drop} for m in metrics]
    assert read(tmp_path / "cut", "mixture_log.jsonl") == log
    _, cut = load_document_state(tmp_path / "cut")
    assert all(np.array_equal(cut[k], arrays[k], equal_nan=True) for k in arrays)


def test_jtt_draws_the_first_runs_error_set_factor_times_as_often(tmp_path, make_config):
    first = _ctrl({"kind": "hard-examples", "domains": ["copy"], "update_every": 5, "warmup_steps": 5})
    train_run(make_config(steps=10).model_copy(update={"controller": first}), tmp_path / "first", progress=False)
    _, arrays = load_document_state(tmp_path / "first")
    last = arrays["last/copy"]
    errors = error_set(last, 0.25)
    n_seen = int(np.isfinite(last).sum())
    assert len(errors) == round(0.25 * n_seen)
    assert np.nanmin(last[errors]) >= np.nanmax(np.delete(last, errors))
    jtt = _ctrl({"kind": "jtt", "run": str(tmp_path / "first"), "top": 0.25, "factor": 4.0,
                 "groups": {"column": "source"}})
    train_run(make_config(steps=10).model_copy(update={"controller": jtt}), tmp_path / "second", progress=False)
    log = read(tmp_path / "second", "mixture_log.jsonl")
    assert len(log) == 1 and log[0]["step"] == 0  # before the first batch
    entry = log[0]["priorities"]["copy"]
    n = len(last)
    assert entry["error_set"] == len(errors) and entry["documents"] == n
    assert entry["error_share"] == pytest.approx(4 * len(errors) / (4 * len(errors) + n - len(errors)), abs=1e-6)
    m = read(tmp_path / "second", "metrics.jsonl")[-1]
    assert m["group/share/copy/synthetic copy"] == 1.0 and "eval/group_loss/copy/synthetic copy" in m
    other = _ctrl({"kind": "jtt", "run": str(tmp_path / "first"), "domains": ["arithmetic"]})
    with pytest.raises(CurricleError, match=rf"^controller.domains: {tmp_path / 'first'} kept no document state of "
                                            r"domain 'arithmetic' \(it has: copy\)$"):
        train_run(make_config(steps=2).model_copy(update={"controller": other}), tmp_path / "third", progress=False)
    with pytest.raises(CurricleError, match=r"plain: its controller is schedule, not one that keeps document state \(hard-examples or jtt\)$"):
        load_document_state(_plain_run(tmp_path, make_config))
    with pytest.raises(CurricleError, match="no complete checkpoint"):
        load_document_state(tmp_path / "nowhere")


def test_a_step_the_guard_skipped_at_warmup_steps_moves_jtts_table_to_the_next_step(monkeypatch):
    # The first run saw documents 0-2 of 'a'; its error set (top 0.25 of 3: one) is document 1.
    monkeypatch.setattr("curricle.controllers.jtt.load_document_state",
                        lambda run: (7, {"last/a": np.array([1.0, 3.0, 2.0, np.nan])}))
    context = ControllerContext(["a"], {"a": 100}, doc_counts={"a": 4})
    table = [1 / 7, 4 / 7, 1 / 7, 1 / 7]

    def jtt():
        return JTT(JTTConfig(run="first", top=0.25, factor=4.0, warmup_steps=2), context)

    c = jtt()
    handed, lines = _through_the_hook(c, [(1, [2.0], False), (2, [90.0], True), (3, [2.0], False), (4, [2.0], False)])
    assert [line["step"] for line in lines] == [3] and handed == [("a", pytest.approx(table))]
    # Resumed, the table is not set again; a checkpoint from before its state was kept holds
    # it set when the run is past warmup_steps, as the table was then set at warmup_steps.
    for state, step, again in ((c.state_dict(), 5, False), ({"name": "jtt", "smoothed": [None]}, 5, False),
                               ({"name": "jtt", "smoothed": [None]}, 2, True)):
        twin = jtt()
        twin.load_state_dict(json.loads(json.dumps(state)))
        assert (twin.doc_priorities(step) is not None) == again and twin.doc_priorities(step + 1) is None


def _plain_run(tmp_path, make_config):
    train_run(make_config(steps=2), tmp_path / "plain", progress=False)
    return tmp_path / "plain"
