"""A checkpoint that reads the store's documents: each document's mean token loss
(``prepare.reference_model``'s ``reference_loss`` column) or mean-pooled last hidden state
(``curricle prune --by prototype``).

A document is read as in training: its tokens after an EOS (the token before every document
in the store), so its first token is predicted too and a one-token document has a loss. A
document longer than the model's window is read in consecutive windows, each without the
previous one's context; its mean is over all of its tokens. Batches are padded on the right and
masked; everything runs on the CPU without gradients.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from curricle.errors import CurricleError
from curricle.model.build import build_model, check_fits, checkpoint_config, max_positions
from curricle.model.config import ModelConfig
from curricle.sources.files import files_fingerprint
from curricle.store.tokenizer import load_tokenizer
from curricle.train.checkpoint import latest_complete

#: Window when the checkpoint states no position limit.
DEFAULT_MAX_TOKENS = 2048


def resolve_checkpoint(path: Path | str, key: str) -> Path:
    """The HF model directory ``path`` names: itself when it holds a ``config.json`` (a
    curricle checkpoint ``step_N`` does), or a curricle run directory's newest complete
    checkpoint. A one-line error naming ``key`` otherwise."""
    p = Path(path).expanduser()
    if (p / "config.json").is_file():
        return p
    if (p / "checkpoints").is_dir():
        found = latest_complete(p / "checkpoints")
        if found is None:
            raise CurricleError(f"{key}: no complete checkpoint under {p / 'checkpoints'}")
        return found[1]
    if not p.is_dir():
        raise CurricleError(f"{key}: no such directory: {p}")
    raise CurricleError(f"{key}: {p} is neither an HF checkpoint (no config.json) nor a curricle run "
                        f"(no checkpoints/)")


def reference_fingerprint(path: Path | str) -> list[Any]:
    """What identifies the checkpoint ``path`` resolves to: its directory and its files'
    names, sizes and times (a run's newer checkpoint is another reference)."""
    d = resolve_checkpoint(path, "prepare.reference_model")
    return [str(d), files_fingerprint([str(f) for f in sorted(d.iterdir()) if f.is_file()])]


class CheckpointScorer:
    """A causal LM from ``path`` (see :func:`resolve_checkpoint`) that reads token-id
    documents of a store whose tokenizer is in ``tokenizer_dir``, ``batch_docs`` at a time."""

    def __init__(self, path: Path | str, vocab_size: int, tokenizer_dir: Path | str | None = None,
                 batch_docs: int = 16, max_tokens: int | None = None, key: str = "prepare.reference_model"):
        self.path = resolve_checkpoint(path, key)
        hf = checkpoint_config(self.path, key)
        if tokenizer_dir is not None:
            tok = load_tokenizer(tokenizer_dir)
            self.eos_id = int(tok.eos_token_id)
            try:  # the same vocabulary and special tokens as the store's, where the checkpoint has a tokenizer
                check_fits(ModelConfig(path=self.path), 1, tokenizer_dir)
            except CurricleError as err:
                raise CurricleError(f"{key}: {self.path} does not read this store's tokens ({err})") from None
        else:
            self.eos_id = int(hf.eos_token_id) if hf.eos_token_id is not None else 0
        if hf.vocab_size < vocab_size:
            raise CurricleError(f"{key}: the vocabulary of {self.path} ({hf.vocab_size}) is smaller than the "
                                f"store's ({vocab_size}); it must read the store's tokenizer")
        self.model = build_model(ModelConfig(path=self.path), vocab_size, self.eos_id).float().eval()
        self.batch_docs = batch_docs
        self.window = max_tokens or max_positions(hf) or DEFAULT_MAX_TOKENS

    def _windows(self, docs: list[np.ndarray]) -> tuple[list[np.ndarray], list[int]]:
        """Every document as ``[EOS] + tokens`` cut into windows of at most ``window + 1``
        tokens that overlap by one (each window's last token is the next one's first input),
        and the document each window belongs to."""
        pieces, owner = [], []
        for i, ids in enumerate(docs):
            seq = np.concatenate([[self.eos_id], np.asarray(ids, dtype=np.int64)])
            for start in range(0, max(1, len(seq) - 1), self.window):
                pieces.append(seq[start : start + self.window + 1])
                owner.append(i)
        return pieces, owner

    def _forward(self, pieces: list[np.ndarray]):
        """Inputs, targets and mask of padded windows, and the model's output on the inputs."""
        width = max(len(p) for p in pieces) - 1
        inputs = torch.zeros(len(pieces), max(width, 1), dtype=torch.long)
        targets = torch.zeros_like(inputs)
        mask = torch.zeros_like(inputs, dtype=torch.bool)
        for r, p in enumerate(pieces):
            n = len(p) - 1
            inputs[r, :n] = torch.from_numpy(p[:-1])
            targets[r, :n] = torch.from_numpy(p[1:])
            mask[r, :n] = True
        with torch.no_grad():
            out = self.model(input_ids=inputs, attention_mask=mask.long(), output_hidden_states=True)
        return inputs, targets, mask, out  # (W, T) each; out.logits (W, T, V)

    def mean_losses(self, docs: list[np.ndarray]) -> np.ndarray:
        """Each document's mean token loss in nats (NaN for an empty document)."""
        sums = np.zeros(len(docs))
        counts = np.zeros(len(docs))
        pieces, owner = self._windows(docs)
        for b in range(0, len(pieces), self.batch_docs):
            chunk = [p for p in pieces[b : b + self.batch_docs] if len(p) > 1]
            owners = [o for p, o in zip(pieces[b : b + self.batch_docs], owner[b : b + self.batch_docs]) if len(p) > 1]
            if not chunk:
                continue
            _, targets, mask, out = self._forward(chunk)
            loss = torch.nn.functional.cross_entropy(out.logits.float().transpose(1, 2), targets, reduction="none")
            loss = (loss * mask).sum(dim=1).numpy()  # (W,)
            np.add.at(sums, owners, loss)
            np.add.at(counts, owners, mask.sum(dim=1).numpy())
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)

    def mean_hidden(self, docs: list[np.ndarray]) -> np.ndarray:
        """Each document's last hidden state averaged over its tokens (the inputs: EOS and
        every token but the last), shape (n_docs, hidden)."""
        sums: np.ndarray | None = None
        counts = np.zeros(len(docs))  # tokens read per document
        pieces, owner = self._windows(docs)
        for b in range(0, len(pieces), self.batch_docs):
            chunk, owners = pieces[b : b + self.batch_docs], owner[b : b + self.batch_docs]
            chunk = [p if len(p) > 1 else np.concatenate([p, p]) for p in chunk]  # an empty document reads its EOS
            _, _, mask, out = self._forward(chunk)
            hidden = out.hidden_states[-1].float() * mask.unsqueeze(-1)  # (W, T, H)
            if sums is None:
                sums = np.zeros((len(docs), hidden.shape[-1]))
            np.add.at(sums, owners, hidden.sum(dim=1).numpy())
            np.add.at(counts, owners, mask.sum(dim=1).numpy())
        if sums is None:  # no documents
            return np.zeros((0, int(self.model.config.hidden_size)))
        return sums / np.maximum(counts, 1)[:, None]
