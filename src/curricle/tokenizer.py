"""Tokenizers: train a byte-level BPE with HF ``tokenizers``, or load a local HF tokenizer.

Either way the result is saved as a ``transformers`` fast tokenizer directory, so
``AutoTokenizer.from_pretrained`` loads it next to every checkpoint.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Iterable, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from curricle.errors import CurricleError

log = logging.getLogger(__name__)

EOS = "<|endoftext|>"
PAD = "<|pad|>"


class TokenizerConfig(BaseModel):
    """How ``prepare`` gets its tokenizer."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["bpe", "pretrained"] = "bpe"
    """``bpe``: train a byte-level BPE on a sample of the sources; ``pretrained``: load ``path``."""
    vocab_size: int = Field(4096, ge=260, le=1_000_000)
    """Vocabulary size of a trained BPE (256 bytes + special tokens + merges)."""
    min_frequency: int = Field(2, ge=1)
    """A pair must occur this often in the sample to become a merge."""
    sample_docs_per_source: int = Field(2000, ge=1)
    """How many documents of each source the BPE is trained on."""
    path: Path | None = None
    """A local HF tokenizer directory (``kind: pretrained``); never downloaded."""

    @model_validator(mode="after")
    def _path_matches_kind(self) -> "TokenizerConfig":
        if self.kind == "pretrained" and self.path is None:
            raise ValueError("kind 'pretrained' needs 'path' (a local tokenizer directory)")
        if self.kind == "bpe" and self.path is not None:
            raise ValueError("'path' is only for kind 'pretrained'; kind 'bpe' trains its own")
        return self


def train_bpe(texts: Iterable[str], vocab_size: int, min_frequency: int = 2):
    """A byte-level BPE ``PreTrainedTokenizerFast`` trained on ``texts``."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=min_frequency,
        special_tokens=[EOS, PAD],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer=trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, eos_token=EOS, bos_token=EOS, pad_token=PAD, unk_token=None
    )


def load_tokenizer(path: Path):
    """A local HF tokenizer directory as a fast tokenizer; it must define an EOS token."""
    from transformers import AutoTokenizer

    path = Path(path)
    if not path.is_dir():
        raise CurricleError(f"tokenizer.path: no such directory: {path}")
    try:
        tok = AutoTokenizer.from_pretrained(str(path), local_files_only=True)
    except Exception as err:  # transformers raises many kinds here
        raise CurricleError(f"tokenizer.path: cannot load a tokenizer from {path}: {err}") from err
    if not getattr(tok, "is_fast", False):
        raise CurricleError(f"tokenizer.path: {path} is not a fast (Rust) tokenizer")
    if tok.eos_token_id is None:
        raise CurricleError(f"tokenizer.path: {path} defines no eos_token; documents are separated by it")
    return tok


def token_dtype(vocab_size: int):
    """The narrowest unsigned dtype that holds every token id."""
    import numpy as np

    return np.dtype(np.uint16) if vocab_size <= 2**16 else np.dtype(np.uint32)
