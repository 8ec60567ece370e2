"""Per-token cross-entropy that never holds full-vocabulary fp32 logits for a whole batch.

A causal LM's loss is usually ``cross_entropy(model(x).logits.float(), y)``: the logits of
every position at once, (tokens, vocab) in fp32 (4 bytes each), and as much again for their
gradient. With a 128k vocabulary and 8 x 2048 rows that is 8 GB before the gradient.
:class:`TokenLoss` runs the model's body once and the output layer and the loss in chunks of
``chunk_tokens`` positions: each chunk's logits exist only while its loss is computed, and in
training they are recomputed in the backward pass (activation checkpointing of the chunk), so
the peak is one chunk's logits instead of all of them. The result is the loss of every token,
(rows, L), so per-domain losses stay exact.

It is one module wrapping the model, so DDP and FSDP wrap it as they would the model: every
parameter is used inside its ``forward``. Models whose output is not ``lm_head(body(x))``
(a logit scale or soft-capping after the head) are detected once, on the first batch, by
comparing the chunked logits with the model's own; they use the plain full-logits path, with a
log line that says so. ``chunk_tokens=None`` always uses the plain path.
"""

from __future__ import annotations

import logging
from typing import Iterator

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.checkpoint import checkpoint

log = logging.getLogger(__name__)


def _chunk_loss(hidden: torch.Tensor, labels: torch.Tensor, weight: torch.Tensor,
                bias: torch.Tensor | None) -> torch.Tensor:
    logits = F.linear(hidden, weight, bias).float()  # (n, V), this chunk only
    return F.cross_entropy(logits, labels, reduction="none")


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

    def forward(self, tokens: torch.Tensor, with_stats: bool = False):
        """The per-token loss (rows, L), fp32. With ``with_stats`` (no gradient) also each
        position's top log-probability and whether the top token is the label, (rows, L) each:
        what held-out loss and calibration read. Everything goes through this ``forward``, so a
        sharded (FSDP) model is gathered for it."""
        inputs, labels = tokens[:, :-1], tokens[:, 1:]
        if self._chunked is None:
            self._chunked = self._check_chunkable(inputs)
            if not self._chunked:
                log.info("%s: its logits are not lm_head(body(x)); computing the loss from full logits",
                         type(self.model).__name__)
        if with_stats:
            return self._stats(inputs, labels)
        if not self._chunked:
            logits = self.model(input_ids=inputs).logits  # (b, L, V)
            return F.cross_entropy(logits.float().flatten(0, 1), labels.flatten(), reduction="none").view(labels.shape)
        hidden = self._body(inputs).flatten(0, 1)  # (b * L, d)
        flat = labels.flatten()
        head = self._head()
        out = []
        for start in range(0, hidden.size(0), self.chunk_tokens):
            h, y = hidden[start : start + self.chunk_tokens], flat[start : start + self.chunk_tokens]
            if torch.is_grad_enabled():
                out.append(checkpoint(_chunk_loss, h, y, head.weight, head.bias, use_reentrant=False))
            else:
                out.append(_chunk_loss(h, y, head.weight, head.bias))
        return torch.cat(out).view(labels.shape)

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
