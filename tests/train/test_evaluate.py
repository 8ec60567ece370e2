"""Held-out evaluation: per-group losses map each label to its document's group."""

from __future__ import annotations

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
    assert out["eval/group_loss/a/x"] == pytest.approx(nll[ids == 0].mean(), abs=1e-12)
    assert out["eval/group_loss/a/y"] == pytest.approx(nll[ids == 1].mean(), abs=1e-12)
    worst = max(("x", "y"), key=lambda g: out[f"eval/group_loss/a/{g}"])
    assert out["eval/worst_group"] == f"a/{worst}"
    assert out["eval/worst_group_loss"] == out[f"eval/group_loss/a/{worst}"]
    assert out["eval/loss/a"] == pytest.approx(nll.mean(), abs=1e-6)
    assert not any(k.startswith("eval/group_loss/b") for k in out)  # no groups there
    assert "eval/worst_group" not in evaluate(loss, rows, 1, torch.device("cpu"))
