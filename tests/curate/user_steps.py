"""User curation steps, as a user would write them in their own module: imported by name
(``tests.curate.user_steps:drop_ads``) in the launching process and in every worker."""

from __future__ import annotations

import numpy as np

from curricle.curate.document import Drop


def drop_ads(doc):
    """Drops documents that advertise; marks the rest with the count of exclamation marks."""
    if "BUY NOW" in doc.text:
        return Drop("advert", {"phrase": "BUY NOW"})
    if "explode" in doc.text:
        raise ValueError("this document blows up")
    doc.meta["bangs"] = doc.text.count("!")
    return None


def keep_or_false(doc):
    """``False`` drops under the step's name; ``True`` keeps."""
    return "spam" not in doc.text


def numpy_detail(doc):
    """Drops documents that explode, with a detail JSON has no type for."""
    if "explode" in doc.text:
        return Drop("odd-detail", {"score": np.float32(0.9), "ids": {1, 2}})
    return None


def lower_license(doc):
    """Lower-cases the document's licence (``MIT`` -> ``mit``)."""
    if doc.meta.get("license"):
        doc.meta["license"] = doc.meta["license"].lower()
    return None


def bytes_text(doc):
    """Sets the text of the document holding "explode" to bytes: a step's error, not a crash."""
    if "explode" in doc.text:
        doc.text = doc.text.encode()
    return None


def returns_a_string(doc):
    return "not an answer"


class MinWords:
    """Drops documents shorter than ``min_words`` words; rewrites tabs as spaces."""

    def __init__(self, min_words: int, reason: str = "too-few-words"):
        self.min_words = min_words
        self.reason = reason
        self.ready = False

    def setup(self):
        self.ready = True

    def apply(self, doc):
        assert self.ready, "setup() runs before apply()"
        if len(doc.text.split()) < self.min_words:
            return Drop(self.reason, {"words": len(doc.text.split())})
        if "\t" in doc.text:
            doc.text = doc.text.replace("\t", " ")
        return None


def toxicity(text: str) -> float:
    """A stand-in classifier: the share of words that are 'darn'."""
    words = text.lower().split()
    return words.count("darn") / len(words)


def bad_score(text: str):
    if "nan" in text:
        return float("nan")
    if "infinite" in text:
        return float("inf")
    if "boom" in text:
        raise RuntimeError("model crashed")
    return "high" if "string" in text else 0.5
