"""How varied a model's sampled completions are: the RL run's watch against mode collapse.

At each held-out evaluation with ``eval.samples`` (sampled pass@1), the ``K`` completions of
each test prompt are measured here, pure functions over strings:

- :func:`distinct_n`: distinct word n-grams over all n-grams (Li et al. 2016), over a prompt's
  ``K`` completions (words: whitespace-split). ``["a b", "a b"]``: distinct-1 2/4 = 0.5,
  distinct-2 1/2 = 0.5; a completion shorter than ``n`` words adds no n-gram.
- :func:`mean_pairwise_edit`: the mean, over the ``K (K - 1) / 2`` pairs of a prompt's
  completions, of their character Levenshtein distance over the longer one's length (0: all
  identical; 1: no character in place).
- :func:`answer_entropy`: the Shannon entropy, in bits, of the final answers' distribution (the
  completion stripped of surrounding whitespace): 0 when all ``K`` agree, ``log2 K`` when all
  differ.

:func:`group_diversity` averages each over prompts and adds distinct-n over every completion of
every prompt (``distinct_1_all``: whether different prompts get different answers). A policy
collapsing onto one answer shows as all of them falling while the reward may still rise.
"""

from __future__ import annotations

import math
from collections import Counter
from typing import Sequence

#: The per-prompt measures, by the name the metrics carry (``diversity/<name>``).
MEASURES = ("distinct_1", "distinct_2", "edit_distance", "answer_entropy")


def distinct_n(texts: Sequence[str], n: int) -> float | None:
    """Distinct word ``n``-grams over all ``n``-grams in ``texts`` (None: no ``n``-gram at all)."""
    grams: list[tuple[str, ...]] = []
    for t in texts:
        words = t.split()
        grams.extend(tuple(words[i:i + n]) for i in range(len(words) - n + 1))
    return len(set(grams)) / len(grams) if grams else None


def levenshtein(a: str, b: str) -> int:
    """The least number of single-character insertions, deletions and substitutions that turn
    ``a`` into ``b``."""
    if len(a) < len(b):
        a, b = b, a
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


def normalized_edit(a: str, b: str) -> float:
    """:func:`levenshtein` over the longer string's length (two empty strings: 0)."""
    longest = max(len(a), len(b))
    return levenshtein(a, b) / longest if longest else 0.0


def mean_pairwise_edit(texts: Sequence[str]) -> float | None:
    """The mean :func:`normalized_edit` over all pairs of ``texts`` (None: fewer than two)."""
    pairs = [normalized_edit(texts[i], texts[j]) for i in range(len(texts)) for j in range(i + 1, len(texts))]
    return sum(pairs) / len(pairs) if pairs else None


def answer_entropy(answers: Sequence[str]) -> float | None:
    """The Shannon entropy (bits) of the stripped answers' empirical distribution (None: none)."""
    if not answers:
        return None
    counts = Counter(a.strip() for a in answers)
    total = len(answers)
    return -sum(c / total * math.log2(c / total) for c in counts.values()) + 0.0  # (+0.0: no -0.0)


def prompt_diversity(texts: Sequence[str]) -> dict[str, float | None]:
    """Each of :data:`MEASURES` over one prompt's completions."""
    return {"distinct_1": distinct_n(texts, 1), "distinct_2": distinct_n(texts, 2),
            "edit_distance": mean_pairwise_edit(texts), "answer_entropy": answer_entropy(texts)}


def group_diversity(groups: Sequence[Sequence[str]]) -> dict[str, float]:
    """Each of :data:`MEASURES` averaged over the prompts that have a value, plus
    ``distinct_1_all`` and ``distinct_2_all`` over every completion of every prompt; a measure
    no prompt has a value for is left out."""
    per = [prompt_diversity(g) for g in groups]
    out: dict[str, float] = {}
    for m in MEASURES:
        vals = [p[m] for p in per if p[m] is not None]
        if vals:
            out[m] = sum(vals) / len(vals)
    pooled = [t for g in groups for t in g]
    for n in (1, 2):
        v = distinct_n(pooled, n)
        if v is not None:
            out[f"distinct_{n}_all"] = v
    return out


__all__ = ["MEASURES", "distinct_n", "levenshtein", "normalized_edit", "mean_pairwise_edit", "answer_entropy",
           "prompt_diversity", "group_diversity"]
