"""Passages of a domain's held-out documents in a token store, for next-token loss probes.

The store's held-out split is chosen by a hash of each document id at ``prepare`` time, so
these documents are never trained on. Each passage is the start of one document, decoded to
text (so any model's tokenizer can score it) and cut at the last line break (else the last
space) before ``chars`` characters; documents shorter than ``min_chars`` are passed over.

A held-out document can still duplicate training text (the same docstring in a module and in
its main class); with ``exclude_train_overlap`` (the default) a passage that occurs verbatim
in any domain's train split is passed over too, and counted in the log.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from curricle.errors import CurricleError
from curricle.probes.datasets.base import BuildContext, DatasetConfig
from curricle.probes.item import ProbeItem
from curricle.probes.training_text import occurs, store_texts
from curricle.store import TokenStore

log = logging.getLogger(__name__)


def cut_passage(text: str, chars: int, min_chars: int) -> str | None:
    """The first ``chars`` characters of ``text``, ended at a line break or space when one
    leaves at least ``min_chars``; None when the text is too short."""
    if len(text.strip()) < min_chars:
        return None
    if len(text) <= chars:
        return text
    head = text[:chars]
    for sep in ("\n", " "):
        cut = head.rfind(sep)
        if cut >= min_chars:
            return head[: cut + (1 if sep == "\n" else 0)]
    return head


class HeldoutTextDatasetConfig(DatasetConfig):
    kind: Literal["heldout-text"] = "heldout-text"
    """Always ``heldout-text``."""
    domain: str
    """The store domain whose held-out documents are read."""
    data_dir: Path | None = None
    """The prepared store (default: the one the probe is given, e.g. the run's)."""
    n: int = Field(64, ge=1)
    """How many passages (fewer if the split has fewer usable documents)."""
    chars: int = Field(400, ge=16)
    """Longest passage, in characters."""
    min_chars: int = Field(100, ge=1)
    """Documents shorter than this are passed over."""
    exclude_train_overlap: bool = True
    """Pass over passages that occur verbatim in the store's training text."""

    @model_validator(mode="after")
    def _lengths(self) -> "HeldoutTextDatasetConfig":
        if self.min_chars > self.chars:
            raise ValueError(f"min_chars ({self.min_chars}) must be <= chars ({self.chars})")
        return self

    def build(self, context: BuildContext) -> list[ProbeItem]:
        data_dir = self.data_dir or context.data_dir
        if data_dir is None:
            raise CurricleError(f"dataset (heldout-text {self.domain}): no token store: give data_dir "
                                f"(or probe a curricle run, whose config names one)")
        store = TokenStore(data_dir)
        split = store.split(self.domain, "heldout")
        tokenizer = store.load_tokenizer()
        doc_ids = split.meta(["doc_id"]).column("doc_id").to_pylist() if split.n_docs else []
        train_texts = None
        if self.exclude_train_overlap:
            train_texts = [text for _, text, _ in store_texts(store)]
        items, overlapping = [], 0
        for i in range(split.n_docs):
            # A token is at least one character: the first `chars` tokens hold the passage.
            ids = split.document(i)[: self.chars].tolist()
            text = tokenizer.decode(ids, skip_special_tokens=False)
            passage = cut_passage(text, self.chars, self.min_chars)
            if passage is not None and train_texts and any(occurs(passage, t) for t in train_texts):
                overlapping += 1
                continue
            if passage is not None:
                items.append(ProbeItem(str(doc_ids[i]), "", passage))
            if len(items) == self.n:
                break
        if overlapping:
            log.info("heldout-text %s: passed over %d held-out passage(s) that occur in training text",
                     self.domain, overlapping)
        if not items:
            raise CurricleError(f"{data_dir}: domain '{self.domain}' has no held-out document of "
                                f">= {self.min_chars} characters")
        return items
