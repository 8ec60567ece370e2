"""Per-token cross-entropy that never holds full-vocabulary fp32 logits for a whole batch.

A causal LM's loss is usually ``cross_entropy(model(x).logits.float(), y)``: the logits of
every position at once, (tokens, vocab) in fp32 (4 bytes each), and as much again for their
gradient. With a 128k vocabulary and 8 x 2048 rows that is 8 GB before the gradient.
:class:`TokenLoss` runs the model's body once, then the output layer and the loss in chunks of
``chunk_tokens`` positions, fused (as Liger-Kernel's fused linear cross-entropy does, here in
plain PyTorch): each chunk's logits become its losses and, right away, the gradients of the
mean loss with respect to the chunk's hidden states and the output layer, and are freed. So the
peak is one chunk's logits, nothing is recomputed in the backward pass (which only scales the
stored gradients), and the matrix products are the three a plain loss does. What comes out is
every token's loss, (rows, L), so per-domain losses stay exact, and the mean that is trained.

It is one module wrapping the model, so DDP and FSDP wrap it as they would the model: every
parameter is used inside its ``forward``. Models whose output is not ``lm_head(body(x))``
(a logit scale or soft-capping after the head) are detected once, on the first batch, by
comparing the chunked logits with the model's own; they use the plain full-logits path, with a
log line that says so. ``chunk_tokens=None`` always uses the plain path.

When a hook asks for them (``with_signals``), the same pass also gives each token's
*difficulty signals* (:func:`token_signals`): the margin of the target logit over the best
other logit, the top-1 probability and whether the top-1 token is the target. They cost one
``amax`` per chunk of logits (the log-sum-exp is already there) and no host sync.
"""

from __future__ import annotations

import logging
from typing import Any, Callable, Iterator

import torch
import torch.nn.functional as F
from torch import nn

log = logging.getLogger(__name__)

#: The columns of :func:`token_signals`, in order.
SIGNALS = ("margin", "confidence", "correct")


def token_signals(logits: torch.Tensor, labels: torch.Tensor, lse: torch.Tensor | None = None) -> torch.Tensor:
    """Per token of fp32 ``logits`` (n, V) with targets ``labels`` (n,): (n, 3) fp32 columns
    :data:`SIGNALS`: the *margin* (target logit minus the best other logit: negative when
    another token is preferred), the *confidence* (top-1 probability) and whether the target is
    the top-1 token (1.0 or 0.0; a tie with another token is not). ``lse``: the rows'
    log-sum-exp, when already known.

    One reduction over the vocabulary: the best other logit is the ``amax`` of the logits with
    the target's set to -inf, in place, and put back after (so ``logits`` must be a tensor
    nothing reads meanwhile, such as the loss's own chunk; several times cheaper on a CPU than
    ``topk(2)``, which also finds indices)."""
    with torch.no_grad():
        if lse is None:
            lse = torch.logsumexp(logits, dim=-1)
        at = labels[:, None]
        target = logits.gather(1, at)  # (n, 1)
        logits.scatter_(1, at, float("-inf"))
        other = logits.amax(dim=-1)
        logits.scatter_(1, at, target)
        target = target[:, 0]
        top = torch.maximum(target, other)
        return torch.stack([target - other, (top - lse).exp(), (target > other).float()], dim=1)


class _FusedLinearCrossEntropy(torch.autograd.Function):
    """``mean_i CE(h_i W^T + b, y_i)`` (and every token's loss, without gradient), a chunk of
    positions at a time; the backward pass scales the gradients found in the forward pass."""

    @staticmethod
    def forward(ctx: Any, hidden: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None,
                labels: torch.Tensor, chunk: int, with_grads: bool,
                with_signals: bool = False) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        n = hidden.size(0)
        dtype = hidden.dtype  # under autocast the body's output dtype: the head runs in it too
        w = weight.to(dtype)
        b = bias.to(dtype) if bias is not None else None
        losses = torch.empty(n, dtype=torch.float32, device=hidden.device)
        # (n, 3) when asked for (token_signals), else empty: an autograd output must be a tensor.
        signals = torch.empty((n if with_signals else 0, len(SIGNALS)), dtype=torch.float32, device=hidden.device)
        grad_hidden = torch.empty_like(hidden) if with_grads and hidden.requires_grad else None
        grad_weight = torch.zeros(weight.shape, dtype=torch.float32, device=weight.device) \
            if with_grads and weight.requires_grad else None
        grad_bias = torch.zeros(bias.shape, dtype=torch.float32, device=bias.device) \
            if with_grads and bias is not None and bias.requires_grad else None
        for start in range(0, n, chunk):
            h, y = hidden[start : start + chunk], labels[start : start + chunk]
            logits = F.linear(h, w, b).float()  # (c, V): this chunk only
            lse = torch.logsumexp(logits, dim=-1)
            losses[start : start + chunk] = lse - logits.gather(1, y[:, None])[:, 0]
            if with_signals:  # before the logits become their gradient, in place
                signals[start : start + chunk] = token_signals(logits, y, lse)
            if grad_hidden is None and grad_weight is None and grad_bias is None:
                continue
            # d mean / d logits = (softmax - onehot) / n, in place of the logits.
            grad = logits.sub_(lse[:, None]).exp_()
            grad.scatter_add_(1, y[:, None], torch.full_like(lse[:, None], -1.0))
            grad.div_(n)
            if grad_hidden is not None:
                grad_hidden[start : start + chunk] = (grad.to(dtype) @ w).to(hidden.dtype)
            if grad_weight is not None:
                grad_weight.add_(grad.t() @ h.float())
            if grad_bias is not None:
                grad_bias.add_(grad.sum(0))
        ctx.save_for_backward(grad_hidden, grad_weight, grad_bias)
        ctx.weight_dtype = weight.dtype
        ctx.bias_dtype = bias.dtype if bias is not None else None
        ctx.mark_non_differentiable(losses, signals)
        return losses.mean(), losses, signals

    @staticmethod
    def backward(ctx: Any, grad_mean: torch.Tensor, _grad_losses: torch.Tensor, _grad_signals: torch.Tensor):
        grad_hidden, grad_weight, grad_bias = ctx.saved_tensors
        scale = grad_mean
        return (None if grad_hidden is None else grad_hidden * scale.to(grad_hidden.dtype),
                None if grad_weight is None else (grad_weight * scale).to(ctx.weight_dtype),
                None if grad_bias is None else (grad_bias * scale).to(ctx.bias_dtype),
                None, None, None, None)


class TokenLoss(nn.Module):
    """``forward(tokens) -> (rows, L)`` fp32 per-token loss of a causal LM; ``tokens`` is
    (rows, L + 1): inputs ``tokens[:, :-1]``, labels ``tokens[:, 1:]``."""

    def __init__(self, model: nn.Module, chunk_tokens: int | None = 1024):
        super().__init__()
        self.model = model
        self.chunk_tokens = chunk_tokens
        self._chunked: bool | None = None if chunk_tokens else False  # decided on the first batch

    # -- the pieces of the model the chunked path uses -----------------------------------

    def _body(self, inputs: torch.Tensor) -> torch.Tensor:
        return self.model.base_model(input_ids=inputs).last_hidden_state  # (b, L, d)

    def _head(self) -> nn.Linear:
        return self.model.get_output_embeddings()

    @torch.no_grad()
    def _check_chunkable(self, inputs: torch.Tensor) -> bool:
        """Whether ``head(body(x))`` is the model's own logits (on a short prefix)."""
        head = self._head()
        if not isinstance(head, nn.Linear) or not hasattr(self.model, "base_model"):
            return False
        x = inputs[:1, : min(inputs.size(1), 16)]
        was_training = self.model.training
        self.model.eval()  # no dropout: both paths must see the same network
        try:
            mine = F.linear(self._body(x), head.weight, head.bias).float()
            theirs = self.model(input_ids=x).logits.float()
        except (AttributeError, TypeError):
            return False
        finally:
            self.model.train(was_training)
        return mine.shape == theirs.shape and torch.allclose(mine, theirs, rtol=1e-4, atol=1e-4)

    # -- forward -------------------------------------------------------------------------

    def forward(self, tokens: torch.Tensor, with_stats: bool = False,
                token_weights: Callable[[torch.Tensor], torch.Tensor] | None = None, with_signals: bool = False):
        """``(mean, token_losses)``: the mean loss over every token (what is trained) and each
        token's loss, (rows, L) fp32, without gradient. With ``with_signals``, a third item:
        each token's :func:`token_signals`, (rows, L, 3) fp32, from the same logits. With
        ``with_stats`` (no gradient): each token's loss, top log-probability and whether the
        top token is the label, (rows, L) each, for held-out loss and calibration. With
        ``token_weights``, a function of the (detached) token losses that returns (rows, L)
        weights, the trained loss is ``sum(weights * token_losses)`` instead of the mean
        (DoReMi's proxy: its weights depend on this very forward pass; this path computes full
        logits). Everything goes through this ``forward``, so a sharded (FSDP) model is
        gathered for it."""
        inputs, labels = tokens[:, :-1], tokens[:, 1:]
        if self._chunked is None:
            self._chunked = self._check_chunkable(inputs)
            if not self._chunked:
                log.info("%s: its logits are not lm_head(body(x)); computing the loss from full logits",
                         type(self.model).__name__)
        if with_stats:
            return self._stats(inputs, labels)
        if token_weights is not None or not self._chunked:
            logits = self.model(input_ids=inputs).logits.float().flatten(0, 1)  # (b * L, V)
            token_loss = F.cross_entropy(logits, labels.flatten(), reduction="none").view(labels.shape)
            if token_weights is not None:
                loss = (token_loss * token_weights(token_loss.detach())).sum()
            else:
                loss = token_loss.mean()
            out = (loss, token_loss.detach())
            if with_signals:  # the log-sum-exp is the loss plus the target logit: no second reduction
                flat, logits = labels.flatten(), logits.detach()
                lse = token_loss.detach().flatten() + logits.gather(1, flat[:, None])[:, 0]
                # A copy a chunk at a time: the logits may be saved for the backward pass.
                step = self.chunk_tokens or 1024
                signals = torch.cat([token_signals(logits[i : i + step].clone(), flat[i : i + step], lse[i : i + step])
                                     for i in range(0, len(flat), step)])
                out += (signals.view(*labels.shape, len(SIGNALS)),)
            return out
        hidden = self._body(inputs).flatten(0, 1)  # (b * L, d)
        head = self._head()
        mean, token_loss, signals = _FusedLinearCrossEntropy.apply(
            hidden, head.weight, head.bias, labels.flatten(), self.chunk_tokens, torch.is_grad_enabled(), with_signals)
        if with_signals:
            return mean, token_loss.view(labels.shape), signals.view(*labels.shape, len(SIGNALS))
        return mean, token_loss.view(labels.shape)

    @torch.no_grad()
    def _stats(self, inputs: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        flat = labels.flatten()
        nll, top, correct = [], [], []
        for logp, y in self._log_probs(inputs, flat):  # (n, V) fp32, (n,)
            nll.append(-logp.gather(1, y[:, None])[:, 0])
            best, pred = logp.max(-1)
            top.append(best)
            correct.append(pred == y)
        return tuple(torch.cat(x).view(labels.shape) for x in (nll, top, correct))

    def _log_probs(self, inputs: torch.Tensor, flat_labels: torch.Tensor) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        if not self._chunked:
            yield self.model(input_ids=inputs).logits.float().flatten(0, 1).log_softmax(-1), flat_labels
            return
        hidden = self._body(inputs).flatten(0, 1)
        head = self._head()
        for start in range(0, hidden.size(0), self.chunk_tokens):
            logits = F.linear(hidden[start : start + self.chunk_tokens], head.weight, head.bias).float()
            yield logits.log_softmax(-1), flat_labels[start : start + self.chunk_tokens]
