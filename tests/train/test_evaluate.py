"""Held-out evaluation: per-group losses map each label to its document's group; the loss's
standard error is the spread of the rows' mean losses."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from transformers import LlamaConfig, LlamaForCausalLM

from curricle.store import TokenStore
from curricle.train.evaluate import eval_row_groups, eval_rows, evaluate
from curricle.train.loss import TokenLoss


def test_eval_row_groups_follow_the_document_index(make_store):
    # Stream: 1 2 EOS | 3 4 5 EOS | 6 EOS -> rows of 4: [1 2 0 3], [4 5 0 6].
    store = TokenStore(make_store({"a": [[1, 2], [3, 4, 5], [6]]}, extra_meta={"a/dialect": ["x", "y", "x"]}))
    split = store.split("a")
    rows = eval_rows(split, 3, 10)
    assert rows.tolist() == [[1, 2, 0, 3], [4, 5, 0, 6]]
    names, ids = eval_row_groups(split, rows, "dialect")
    # Labels are tokens 1-3 (docs 0, 0, 1) and 5-7 (docs 1, 1, 2); a document's EOS is its own.
    assert names == ["x", "y"] and ids.tolist() == [[0, 0, 1], [1, 1, 0]]


def test_group_losses_are_the_mean_loss_of_their_labels_and_the_worst_is_named(make_store):
    store = TokenStore(make_store({"a": [[1, 2], [3, 4, 5], [6]], "b": [[7, 8, 9]]},
                                  extra_meta={"a/dialect": ["x", "y", "x"]}))
    torch.manual_seed(0)
    model = LlamaForCausalLM(LlamaConfig(vocab_size=16, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                                         intermediate_size=64, max_position_embeddings=16))
    loss = TokenLoss(model, chunk_tokens=4)
    rows = {d: eval_rows(store.split(d), 3, 10) for d in ("a", "b")}
    groups = {"a": eval_row_groups(store.split("a"), rows["a"], "dialect")}
    out = evaluate(loss, rows, 1, torch.device("cpu"), groups=groups)
    with torch.no_grad():
        nll = loss(torch.from_numpy(rows["a"]), with_stats=True)[0].double().numpy()
    ids = groups["a"][1]
    # evaluate's forward pass batches the rows otherwise than this one, so float32 kernels may
    # differ in the last bits (they do on an AMD EPYC): equal to float32's precision, while the
    # two groups' means differ in the first digits.
    assert abs(nll[ids == 0].mean() - nll[ids == 1].mean()) > 1e-3
    assert out["eval/group_loss/a/x"] == pytest.approx(nll[ids == 0].mean(), rel=1e-6)
    assert out["eval/group_loss/a/y"] == pytest.approx(nll[ids == 1].mean(), rel=1e-6)
    worst = max(("x", "y"), key=lambda g: out[f"eval/group_loss/a/{g}"])
    assert out["eval/worst_group"] == f"a/{worst}"
    assert out["eval/worst_group_loss"] == out[f"eval/group_loss/a/{worst}"]
    assert out["eval/loss/a"] == pytest.approx(nll.mean(), abs=1e-6)
    assert not any(k.startswith("eval/group_loss/b") for k in out)  # no groups there
    assert "eval/worst_group" not in evaluate(loss, rows, 1, torch.device("cpu"))


class LiteralLoss(torch.nn.Module):
    """A stand-in for :class:`TokenLoss` whose per-token loss is the label's token id / 10."""

    def __init__(self):
        super().__init__()
        self.model = torch.nn.Linear(1, 1)

    def forward(self, x, with_stats=False):
        nll = x[:, 1:].float() / 10  # (b, L)
        return nll, torch.zeros_like(nll), torch.zeros_like(nll, dtype=torch.bool)


def test_the_losss_standard_error_is_the_spread_of_the_rows_means():
    # Domain a's rows' mean losses: 0.25, 0.55, 0.85 (labels 2 3 | 5 6 | 8 9, over 10).
    rows = {"a": np.array([[1, 2, 3], [4, 5, 6], [7, 8, 9]]), "b": np.array([[1, 4, 4]])}
    out = evaluate(LiteralLoss(), rows, 2, torch.device("cpu"))
    assert out["eval/loss/a"] == pytest.approx(0.55)
    assert out["eval/loss_se/a"] == pytest.approx(np.std([0.25, 0.55, 0.85], ddof=1) / np.sqrt(3))
    assert out["eval/loss_se/a"] == pytest.approx(0.3 / np.sqrt(3))
    assert out["eval/loss/b"] == pytest.approx(0.4) and "eval/loss_se/b" not in out  # one row: no spread
    # However the rows are batched (one a forward pass here), the sums are the same.
    assert evaluate(LiteralLoss(), rows, 1, torch.device("cpu"))["eval/loss_se/a"] == pytest.approx(out["eval/loss_se/a"])


class Confident(torch.nn.Module):
    """Every label predicted with confidence 0.75: right in a row that starts with token 0
    (domain a: ECE 0.25), wrong otherwise (domain b: ECE 0.75)."""

    def __init__(self):
        super().__init__()
        self.model = torch.nn.Linear(1, 1)

    def forward(self, x, with_stats=False):
        b, n = x.size(0), x.size(1) - 1
        right = (x[:, :1] == 0).expand(b, n)
        return torch.ones(b, n), torch.full((b, n), math.log(0.75)), right


@pytest.mark.parametrize(("rows_b", "ece"), [(4, 0.5), (2, (4 * 0.25 + 2 * 0.75) / 6)])
def test_overall_ece_is_the_domains_ece_weighted_by_their_labels(rows_b, ece):
    rows = {"a": np.zeros((4, 9), dtype=np.int64), "b": np.ones((rows_b, 9), dtype=np.int64)}
    out = evaluate(Confident(), rows, 16, torch.device("cpu"))
    assert out["eval/ece/a"] == pytest.approx(0.25) and out["eval/ece/b"] == pytest.approx(0.75)
    assert out["eval/ece"] == pytest.approx(ece)  # (bins pooled over both: 0.25 with 4 rows of b)
