"""Tokenizers: train a byte-level BPE with HF ``tokenizers``, or load a local HF tokenizer.

Either way the result is saved as a ``transformers`` fast tokenizer directory, so
``AutoTokenizer.from_pretrained`` loads it next to every checkpoint.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Iterable

import numpy as np
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import AutoTokenizer, PreTrainedTokenizerFast

from curricle.errors import CurricleError

log = logging.getLogger(__name__)

EOS = "<|endoftext|>"
PAD = "<|pad|>"


def train_bpe(texts: Iterable[str], vocab_size: int, min_frequency: int = 2):
    """A byte-level BPE ``PreTrainedTokenizerFast`` trained on ``texts``."""
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
    return np.dtype(np.uint16) if vocab_size <= 2**16 else np.dtype(np.uint32)
