"""A literal planted split for the quality classifier's tests: reference-like prose (the
curation tests' English sentences) against three kinds of junk."""

from __future__ import annotations

import random

from tests.curate.conftest import SENTENCES, make_prose

BOILERPLATE = (
    "Accept all cookies to continue. Manage your cookie preferences. Privacy policy.",
    "Home | About | Products | Contact | Login | Register | Cart",
    "Subscribe to our newsletter and save ten percent on your next order today.",
    "Copyright 2024 Example Corporation. All rights reserved. Terms of use.",
)


def junk(seed: int) -> str:
    """One low-quality document: boilerplate, shuffled prose words, or a repeated phrase
    (by ``seed % 3``)."""
    rng = random.Random(seed)
    kind = seed % 3
    if kind == 0:
        return " ".join(rng.choice(BOILERPLATE) for _ in range(rng.randint(3, 6)))
    if kind == 1:
        words = make_prose(seed).split()
        rng.shuffle(words)
        return " ".join(words)
    phrase = " ".join(rng.choice(SENTENCES).split()[:4])
    return " ".join([phrase] * rng.randint(6, 12))


def planted(seeds: range) -> tuple[list[str], list[str]]:
    """(reference-like, junk) documents of ``seeds``."""
    return [make_prose(s) for s in seeds], [junk(s) for s in seeds]
