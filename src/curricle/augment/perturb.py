"""``perturb``: seeded text perturbations of the targeted document.

Each augmented document is the target's text with ``ops`` applied in order, drawn from
``random.Random(derive_seed(seed, i))`` for the ``i``-th document:

- ``delete-span``: ``spans`` times, a run of 1 to ``span_words`` consecutive words (a word is a
  run of non-space characters) is deleted with the spaces after it; a line break after the
  span is kept unless the text before it already ends its line, so lines stay lines and no
  blank line appears. A document of one word is left alone.
- ``shuffle-words``: each sentence (a line, cut after ``.``, ``!`` or ``?`` followed by a space)
  of two or more words has, with chance ``shuffle_share``, its words shuffled (rejoined with
  single spaces).
- ``char-noise``: each non-space character is, with chance ``noise_rate``, replaced by another
  character of the document's own alphabet (so the noise stays in the tokenizer's usual range).

A document the operations left unchanged is rejected (``unchanged``).
"""

from __future__ import annotations

import random
import re

from curricle.augment.base import Augmented, Augmenter, Rejected, Target, derive_seed
from curricle.errors import CurricleError

_WORD = re.compile(r"\S+\s*")
_SENTENCE_END = re.compile(r"(?<=[.!?])[ \t]+")


def delete_spans(text: str, rng: random.Random, spans: int, span_words: int) -> str:
    lead = text[: len(text) - len(text.lstrip())]
    parts = _WORD.findall(text[len(lead):])  # each word with the whitespace after it
    for _ in range(spans):
        if len(parts) <= 1:
            break
        k = min(rng.randint(1, span_words), len(parts) - 1)
        i = rng.randrange(len(parts) - k + 1)
        tail = parts[i + k - 1][len(parts[i + k - 1].rstrip()):]
        del parts[i : i + k]
        # Does the text before the span end a line (or is it the start of the text)?
        line_start = "\n" in parts[i - 1] if i > 0 else (not lead or "\n" in lead)
        if "\n" in tail and not line_start:  # keep the line break the span ended with (not a blank line)
            if i > 0:
                parts[i - 1] = parts[i - 1].rstrip(" \t") + tail[tail.index("\n"):]
            else:
                lead += tail[tail.index("\n"):]
    return lead + "".join(parts)


def shuffle_words(text: str, rng: random.Random, share: float) -> str:
    out = []
    for line in text.splitlines(keepends=True):
        body = line.rstrip("\r\n")
        end = line[len(body):]
        lead = body[: len(body) - len(body.lstrip())]
        trail = body[len(body.rstrip()):]
        sentences = _SENTENCE_END.split(body.strip()) if body.strip() else []
        done = []
        for sentence in sentences:
            words = sentence.split()
            if len(words) >= 2 and rng.random() < share:
                rng.shuffle(words)
            done.append(" ".join(words))
        out.append(lead + " ".join(done) + trail + end)
    return "".join(out)


def char_noise(text: str, rng: random.Random, rate: float) -> str:
    alphabet = sorted({c for c in text if not c.isspace()})
    if len(alphabet) < 2 or rate == 0:
        return text
    chars = list(text)
    for i, c in enumerate(chars):
        if c.isspace():
            continue
        if rng.random() < rate:
            chars[i] = rng.choice([a for a in alphabet if a != c])
    return "".join(chars)


def perturb(text: str, ops: list[str], rng: random.Random, spans: int = 1, span_words: int = 3,
            shuffle_share: float = 0.5, noise_rate: float = 0.02) -> str:
    """``text`` with ``ops`` applied in order (see the module doc), drawn from ``rng``."""
    for op in ops:
        if op == "delete-span":
            text = delete_spans(text, rng, spans, span_words)
        elif op == "shuffle-words":
            text = shuffle_words(text, rng, shuffle_share)
        elif op == "char-noise":
            text = char_noise(text, rng, noise_rate)
        else:
            raise ValueError(f"unknown perturbation {op!r}")
    return text


class PerturbAugmenter(Augmenter):
    name = "perturb"

    def augment(self, target: Target, n: int, seed: int) -> list[Augmented | Rejected]:
        if target.text is None:
            raise CurricleError(f"augment.augmenter: 'perturb' rewrites a document, but the target "
                                f"'{target.augmented_from}' has no text")
        c = self.config
        knobs = {"spans": c.spans, "span_words": c.span_words, "shuffle_share": c.shuffle_share,
                 "noise_rate": c.noise_rate}
        out: list[Augmented | Rejected] = []
        for i in range(n):
            doc_seed = derive_seed(seed, i)
            text = perturb(target.text, c.ops, random.Random(doc_seed), **knobs)
            if text == target.text:
                out.append(Rejected("unchanged"))
            else:
                out.append(Augmented(text, {"ops": list(c.ops), "seed": doc_seed, **knobs}))
        return out
