"""A token store's training text, decoded, and whether a string occurs in it verbatim.

Read by the contamination check (are probe items in the training data?) and by the held-out
text probes (skip passages the training text also holds).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from curricle.store import TokenStore


def store_texts(data_dir) -> list[tuple[str, str, int]]:
    """``(domain, text, documents)``: each domain's train split decoded in one piece
    (documents stay separated by the EOS token's text, which no item contains). Memoized per
    store state, since the suite's text probes and the check all read it."""
    path = Path(data_dir.data_dir if isinstance(data_dir, TokenStore) else data_dir).resolve()
    manifest = path / "manifest.json"
    return _decoded(str(path), manifest.stat().st_mtime_ns if manifest.exists() else 0)


@lru_cache(maxsize=2)
def _decoded(path: str, manifest_mtime: int) -> list[tuple[str, str, int]]:
    store = TokenStore(Path(path))
    tokenizer = store.load_tokenizer()
    out = []
    for domain in store.domains:
        split = store.split(domain, "train")
        # The array itself, not .tolist(): transformers type-checks a list element by element.
        out.append((domain, tokenizer.decode(split.tokens, skip_special_tokens=False), split.n_docs))
    return out


def occurs(needle: str, text: str) -> bool:
    """Whether ``needle`` is in ``text`` with no letter or digit glued to either end."""
    start = text.find(needle)
    while start >= 0:
        end = start + len(needle)
        before = text[start - 1] if start > 0 else ""
        after = text[end] if end < len(text) else ""
        if not (before.isalnum() and needle[0].isalnum()) and not (after.isalnum() and needle[-1].isalnum()):
            return True
        start = text.find(needle, start + 1)
    return False
