"""The contract of an augmenter: more documents like a target, each with its provenance.

An augmenter answers :meth:`Augmenter.augment` for one :class:`Target` (a document, or a
ladder level of a synthetic skill) with up to ``n`` new documents, deterministic in ``seed``:
each an :class:`Augmented` (its text and the parameters that made it) or a :class:`Rejected`
(a candidate it made and threw away, with the reason). :meth:`Augmenter.run` does the rest,
the same way for every augmenter: it drops empty documents (``empty``) and documents that
contain a protected probe item (``probe-item``: the held-out items decontamination protects,
:func:`protected_items`), counts every drop under its reason, and stamps each kept document
with its provenance (``augmented_from``, ``augmenter``, ``params`` as a JSON string) and its
target's ``group`` (when the run has groups).
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, ClassVar

from curricle.augment.config import AugmenterConfig
from curricle.curate.config import DecontamConfig
from curricle.curate.steps.decontam import probe_items
from curricle.errors import CurricleError
from curricle.probes.training_text import occurs
from curricle.synthetic import GENERATORS, make_generator


@dataclass(frozen=True)
class Target:
    """What to make more of."""

    domain: str
    augmented_from: str
    """The provenance: a document's ``doc_id``, a level ``skill@level``, or a region
    ``<column>=<value>``."""
    text: str | None = None
    """The targeted document's text (None for a level or region target)."""
    skill: str | None = None
    """For a synthetic domain: the skill (a key of ``curricle.synthetic.GENERATORS``)."""
    level: str | None = None
    """The ladder level whose parameters new items take (None: the source's own parameters)."""
    params: dict[str, Any] = field(default_factory=dict)
    """The generator's other parameters (the source's ``params``)."""
    source_seed: int = 0
    """The source generator's seed (``facts``: it fixes the people)."""
    items_per_doc: int = 16
    """Items per document of the source."""
    group: str | None = None
    """The group its documents count in (the value of the controller's ``groups.column`` for
    what they are made from; see :mod:`curricle.augment.targets`); None: the run has no groups."""


@dataclass(frozen=True)
class Augmented:
    """One new document and the parameters that made it (JSON-able)."""

    text: str
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Rejected:
    """A candidate the augmenter made and dropped, and why (``too-short``, ``high-loss``, ...)."""

    reason: str


@dataclass(frozen=True)
class AugmentedDoc:
    """A kept document with its provenance, as the overlay stores it."""

    text: str
    augmented_from: str
    augmenter: str
    params: str
    """The parameters that made it, as a JSON string (keys sorted)."""
    group: str | None = None
    """Its group: its target's (:attr:`Target.group`)."""


def derive_seed(*parts: Any) -> int:
    """A 63-bit seed from ``parts`` (run seed, domain, step, ...): stable across processes and
    Python versions (not ``hash()``)."""
    h = hashlib.blake2b(":".join(map(str, parts)).encode(), digest_size=8).digest()
    return int.from_bytes(h, "big") >> 1


class Augmenter:
    """Base class of the augmenters (one file each, registered in
    ``curricle.augment.config.AUGMENTERS``); subclasses set ``name`` and implement :meth:`augment`.

    ``protect``: the protected probe items (:class:`ProtectedItems`; None: no check).
    """

    name: ClassVar[str]

    def __init__(self, config: AugmenterConfig, protect: Any = None):
        self.config = config
        self.protect = protect

    def augment(self, target: Target, n: int, seed: int) -> list[Augmented | Rejected]:  # pragma: no cover
        """Up to ``n`` new documents like ``target`` (and the candidates rejected on the way),
        deterministic in ``seed``."""
        raise NotImplementedError

    def run(self, target: Target, n: int, seed: int) -> tuple[list[AugmentedDoc], Counter]:
        """:meth:`augment`, checked and stamped: the kept documents with provenance, and the
        dropped ones counted by reason. Each document is in its target's group."""
        made = self.augment(target, n, seed)
        dropped: Counter = Counter()
        kept: list[AugmentedDoc] = []
        for out in made:
            if isinstance(out, Rejected):
                dropped[out.reason] += 1
                continue
            if not isinstance(out, Augmented) or not isinstance(out.text, str):
                raise CurricleError(f"augmenter '{self.name}' returned {type(out).__name__}, not a document")
            if not out.text.strip():
                dropped["empty"] += 1
                continue
            if self.protect is not None and self.protect.find(out.text) is not None:
                dropped["probe-item"] += 1
                continue
            kept.append(AugmentedDoc(out.text, target.augmented_from, self.name,
                                     json.dumps(out.params, sort_keys=True), target.group))
        if len(kept) > n:
            raise CurricleError(f"augmenter '{self.name}' made {len(kept)} documents, more than the {n} asked for")
        return kept, dropped


class ProtectedItems:
    """Probe items no augmented document may contain (verbatim, not inside a longer word or
    number: the probes' own test of a leak, :func:`curricle.probes.training_text.occurs`)."""

    def __init__(self, items: dict[str, list[str]]):
        self.items = [(label, text) for label in sorted(items) for text in dict.fromkeys(items[label]) if text.strip()]

    def find(self, text: str) -> str | None:
        """The label (``probe:<skill>``) of the first protected item in ``text``, or None."""
        for label, item in self.items:
            if occurs(item, text):
                return label
        return None


def protected_items(sources: list[Any] = (), suites: list[Any] = ()) -> ProtectedItems:
    """The probe items augmentation protects: what decontamination protects (every skill's
    held-out items at seed 0, and at each synthetic source's seed, parameters and levels:
    :func:`curricle.curate.steps.decontam.probe_items`), plus the held-out items of each
    in-loop probe suite in ``suites`` (its seed, size and levels)."""
    sets = probe_items(DecontamConfig(), list(sources))
    for suite in suites:
        for skill in GENERATORS:
            for level in suite.skill_levels(skill) or [None]:
                items = make_generator(skill, suite.seed, level=level).items("heldout", suite.n, at_most=True)
                sets.setdefault(f"probe:{skill}", []).extend(i.text for i in items)
    return ProtectedItems(sets)
