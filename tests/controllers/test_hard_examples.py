import shutil

import numpy as np
import pytest
import torch

from curricle.controllers.base import ControllerContext
from curricle.controllers.hard_examples import HardExamples, HardExamplesConfig, doc_losses
from curricle.mixture.config import MixtureConfig, StaticConfig
from curricle.mixture.sampler import Batch, MixtureSampler
from curricle.store import TokenStore
from curricle.train.command import train_run
from tests.controllers.test_in_training import _ctrl, read


def controller(**kw):
    c = HardExamples(HardExamplesConfig(warmup_steps=0, update_every=1, **kw),
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
