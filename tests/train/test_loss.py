"""The chunked per-token loss equals the plain one, and the step syncs with the host once."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from transformers import GPT2Config, GPT2LMHeadModel, LlamaConfig, LlamaForCausalLM, Qwen2Config, Qwen2ForCausalLM

from curricle.mixture.config import MixtureConfig, StaticConfig
from curricle.mixture.sampler import MixtureSampler
from curricle.store import TokenStore
from curricle.train.config import TrainConfig
from curricle.train.loop import Trainer
from curricle.train.loss import TokenLoss, token_signals

V = 97


def tiny(kind: str):
    torch.manual_seed(0)
    if kind == "llama":
        return LlamaForCausalLM(LlamaConfig(vocab_size=V, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                                            intermediate_size=64, max_position_embeddings=64))
    if kind == "qwen2":
        return Qwen2ForCausalLM(Qwen2Config(vocab_size=V, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                                            num_key_value_heads=2, intermediate_size=64, max_position_embeddings=64))
    return GPT2LMHeadModel(GPT2Config(vocab_size=V, n_embd=32, n_layer=2, n_head=4, n_positions=64, bos_token_id=0,
                                      eos_token_id=0, resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0))


def plain(model, tokens):
    logits = model(input_ids=tokens[:, :-1]).logits
    return F.cross_entropy(logits.float().flatten(0, 1), tokens[:, 1:].flatten(), reduction="none").view(
        tokens.size(0), -1)


@pytest.mark.parametrize("kind", ["llama", "qwen2", "gpt2"])
def test_the_chunked_loss_and_its_gradient_equal_the_plain_ones(kind):
    model = tiny(kind)
    tokens = torch.randint(0, V, (3, 21), generator=torch.Generator().manual_seed(1))
    ref = plain(model, tokens)
    ref.mean().backward()
    ref_grads = {n: p.grad.clone() for n, p in model.named_parameters()}
    model.zero_grad()
    chunked = TokenLoss(model, chunk_tokens=7)  # 60 positions: 9 chunks, the last one short
    mean, per_token = chunked(tokens)
    assert chunked._chunked is True
    assert per_token.shape == (3, 20) and not per_token.requires_grad
    assert torch.allclose(per_token, ref, atol=1e-6, rtol=0)
    assert mean.item() == pytest.approx(ref.mean().item(), abs=1e-6)
    (mean * 2.5).backward()  # the backward pass scales the gradients found chunk by chunk
    for n, p in model.named_parameters():
        assert torch.allclose(p.grad, 2.5 * ref_grads[n], atol=1e-6, rtol=1e-5), n
    # Evaluation reads the same log-probabilities a chunk at a time: the loss, the top
    # log-probability and whether the top token is the label, per token.
    nll, top, correct = chunked(tokens, with_stats=True)
    with torch.no_grad():
        logp = model(input_ids=tokens[:, :-1]).logits.float().log_softmax(-1)
    assert torch.allclose(nll, ref.detach(), atol=1e-6, rtol=0)
    assert torch.allclose(top, logp.max(-1).values, atol=1e-6, rtol=0)
    assert torch.equal(correct, logp.argmax(-1) == tokens[:, 1:])
    # Without gradients (evaluation, a reference model) nothing is kept for a backward pass.
    with torch.no_grad():
        mean2, per_token2 = chunked(tokens)
    assert torch.equal(per_token2, per_token) and not mean2.requires_grad


def test_token_weights_from_the_forwards_own_losses_give_the_weighted_loss_and_gradient():
    model = tiny("llama")
    tokens = torch.randint(0, V, (2, 9), generator=torch.Generator().manual_seed(2))
    ref = plain(model, tokens)
    seen = []

    def weigh(token_loss):  # DoReMi's proxy: weights that depend on this very forward pass
        seen.append(token_loss.clone())
        w = torch.tensor([[3.0], [1.0]]).expand_as(token_loss)
        return w / w.sum()

    w = torch.tensor([[3.0], [1.0]]).expand_as(ref)
    ((ref * w).sum() / w.sum()).backward()
    ref_grads = {n: p.grad.clone() for n, p in model.named_parameters()}
    model.zero_grad()
    loss, per_token = TokenLoss(model, chunk_tokens=4)(tokens, token_weights=weigh)
    assert torch.allclose(seen[0], ref.detach(), atol=1e-6) and torch.allclose(per_token, ref.detach(), atol=1e-6)
    assert loss.item() == pytest.approx(((ref * w).sum() / w.sum()).item(), abs=1e-6)
    loss.backward()
    for n, p in model.named_parameters():
        assert torch.allclose(p.grad, ref_grads[n], atol=1e-6, rtol=1e-5), n


class ScaledLlama(LlamaForCausalLM):
    """Logits scaled after the head (as some model families do): not lm_head(body(x))."""

    def forward(self, *args, **kwargs):
        out = super().forward(*args, **kwargs)
        out.logits = out.logits * 0.5
        return out


def test_a_model_whose_logits_are_not_the_heads_output_uses_the_plain_loss():
    torch.manual_seed(0)
    model = ScaledLlama(LlamaConfig(vocab_size=V, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                                    intermediate_size=64, max_position_embeddings=64))
    tokens = torch.randint(0, V, (2, 9))
    loss = TokenLoss(model, chunk_tokens=4)
    assert torch.allclose(loss(tokens)[1], plain(model, tokens), atol=1e-6)
    assert loss._chunked is False
    assert torch.equal(TokenLoss(model, chunk_tokens=None)(tokens)[1], plain(model, tokens))


class RecordingSGD(torch.optim.SGD):
    """SGD that keeps a copy of the gradients it was asked to apply."""

    def step(self, closure=None):
        self.seen = [p.grad.clone() for g in self.param_groups for p in g["params"]]
        return super().step(closure)


def one_step(store, grad_accum: int, rows: int = 7):
    torch.manual_seed(3)
    model = LlamaForCausalLM(LlamaConfig(vocab_size=store.vocab_size, hidden_size=32, num_hidden_layers=2,
                                         num_attention_heads=4, intermediate_size=64, max_position_embeddings=64))
    optimizer = RecordingSGD(model.parameters(), lr=0.1)
    sampler = MixtureSampler(store, MixtureConfig(batch_rows=rows, seq_len=16, schedule=StaticConfig(temperature=1.0)),
                             seed=0)
    cfg = TrainConfig(steps=1, grad_accum=grad_accum, grad_clip=None, telemetry={"tensorboard": False})
    return model, optimizer, sampler, cfg


def test_seven_rows_in_two_micro_batches_give_the_one_batch_gradient(tmp_path, prepared_dir):
    store = TokenStore(prepared_dir)
    grads = {}
    for accum in (1, 2, 3):
        model, opt, sampler, cfg = one_step(store, accum)
        trainer = Trainer(model, opt, sampler, cfg, tmp_path / f"a{accum}", progress=False)
        metrics = trainer.train_step(sampler.next_batch())
        grads[accum] = opt.seen
        if accum == 1:
            loss = metrics["loss"]
        assert metrics["loss"] == pytest.approx(loss, abs=1e-6)  # the step's loss: the mean over its tokens
    for accum in (2, 3):  # 7 rows: micro-batches of 3, 3, 1 and 2, 2, 2, 1
        for a, b in zip(grads[1], grads[accum]):
            assert torch.allclose(a, b, atol=1e-6, rtol=0)


def test_a_step_copies_to_the_host_once_whatever_the_accumulation(tmp_path, prepared_dir, monkeypatch):
    store = TokenStore(prepared_dir)
    model, opt, sampler, cfg = one_step(store, grad_accum=4, rows=8)
    cfg = cfg.model_copy(update={"guard": cfg.guard.model_copy(update={"enabled": False})})
    trainer = Trainer(model, opt, sampler, cfg, tmp_path / "run", progress=False)
    batch = sampler.next_batch()
    trainer.train_step(batch)  # the first step also checks once that the loss can be chunked
    calls = {"cpu": 0, "item": 0, "tolist": 0}
    for name in calls:
        real = getattr(torch.Tensor, name)

        def counted(self, *a, _real=real, _name=name, **k):
            calls[_name] += 1
            return _real(self, *a, **k)

        monkeypatch.setattr(torch.Tensor, name, counted)
    trainer.train_step(sampler.next_batch())
    monkeypatch.undo()
    assert calls == {"cpu": 1, "item": 0, "tolist": 0}


def test_token_signals_on_literal_logits():
    logits = torch.tensor([[2.0, 1.0, 0.0], [0.0, 3.0, 1.0], [1.0, 1.0, -1.0]])
    labels = torch.tensor([0, 2, 1])
    margin, confidence, correct = token_signals(logits, labels).unbind(1)
    e = torch.tensor(1.0).exp().item()
    # Row 0: the target (2) leads the best other (1) by 1 and is the top-1 token. Row 1: the
    # target (1) trails the best other (3) by 2. Row 2: a tie at the top: margin 0, not correct.
    assert margin.tolist() == [1.0, -2.0, 0.0]
    assert confidence.tolist() == pytest.approx([e**2 / (e**2 + e + 1), e**3 / (1 + e**3 + e), e / (2 * e + 1 / e)],
                                                abs=1e-7)
    assert correct.tolist() == [1.0, 0.0, 0.0]
    # The logits are put back as they were; a known log-sum-exp gives the same signals.
    assert logits.tolist() == [[2.0, 1.0, 0.0], [0.0, 3.0, 1.0], [1.0, 1.0, -1.0]]
    assert torch.equal(token_signals(logits, labels, torch.logsumexp(logits, -1)), token_signals(logits, labels))


@pytest.mark.parametrize("chunk", [7, None])
def test_signals_come_from_the_same_pass_and_leave_the_loss_and_gradient_alone(chunk):
    model = tiny("llama")
    tokens = torch.randint(0, V, (3, 21), generator=torch.Generator().manual_seed(1))
    loss = TokenLoss(model, chunk_tokens=chunk)
    mean, per_token = loss(tokens)
    mean.backward()
    grads = {n: p.grad.clone() for n, p in model.named_parameters()}
    model.zero_grad()
    mean2, per_token2, signals = loss(tokens, with_signals=True)
    mean2.backward()
    assert mean2.item() == mean.item() and torch.equal(per_token2, per_token)
    for n, p in model.named_parameters():
        assert torch.equal(p.grad, grads[n]), n
    with torch.no_grad():
        logits = model(input_ids=tokens[:, :-1]).logits.float().flatten(0, 1)
    expected = token_signals(logits, tokens[:, 1:].flatten()).view(3, 20, 3)
    assert signals.shape == (3, 20, 3) and not signals.requires_grad
    assert torch.allclose(signals, expected, atol=1e-5, rtol=0)
