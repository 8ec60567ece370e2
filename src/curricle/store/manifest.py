"""The token store's ``manifest.json``: its schema, its writer and its reader.

``curricle prepare`` writes it last (the commit point: a domain directory exists before the
manifest names it); :class:`~curricle.store.token_store.TokenStore` reads it; tests and
``benchmarks/sampler_throughput.py`` build stores by hand with :func:`write_manifest`. This
module is the one place that knows its keys::

    format        FORMAT_VERSION; a store of another format is refused
    dtype         numpy dtype name of every tokens.bin ("uint16" or "uint32")
    eos_id        the token after every document
    vocab_size    the tokenizer's vocabulary
    tokenizer     {dir, and from prepare: fingerprint, kind, vocab_size, eos_id}
    domains       per domain {dir, group, train: {docs, tokens}, heldout: {docs, tokens}}
    groups        per source group {fingerprint, domains}: what prepare reuses on a rerun
    sources       per source, what it read and skipped (SourceStats.to_dict()), keyed by its
                  name, with its domain where sources share one (prepare.pipeline.source_keys)

Written as JSON with sorted keys and an indent of 2, atomically: the same manifest gives the
same bytes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from curricle import atomic
from curricle.errors import CurricleError

FORMAT_VERSION = 1
MANIFEST_FILE = "manifest.json"


@dataclass(frozen=True)
class SplitCounts:
    """One domain split's size."""

    docs: int
    tokens: int
    """Tokens including each document's EOS."""

    def to_json(self) -> dict[str, int]:
        return {"docs": self.docs, "tokens": self.tokens}


@dataclass(frozen=True)
class TokenizerEntry:
    """Where the store's tokenizer is (``dir``, relative to the data directory) and, for a
    store ``prepare`` wrote, what made it. A hand-built store may name a directory that does
    not exist and leave the rest out."""

    dir: str
    fingerprint: str | None = None
    kind: str | None = None
    vocab_size: int | None = None
    eos_id: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {k: v for k, v in (("fingerprint", self.fingerprint), ("dir", self.dir), ("kind", self.kind),
                                  ("vocab_size", self.vocab_size), ("eos_id", self.eos_id)) if v is not None}


@dataclass(frozen=True)
class DomainEntry:
    """One domain: its directory (relative to the data directory, holding ``train/`` and
    ``heldout/``), the source group that wrote it, and each split's size."""

    dir: str
    group: str
    train: SplitCounts
    heldout: SplitCounts

    def split(self, name: str) -> SplitCounts:
        return {"train": self.train, "heldout": self.heldout}[name]

    def to_json(self) -> dict[str, Any]:
        return {"dir": self.dir, "group": self.group, "train": self.train.to_json(),
                "heldout": self.heldout.to_json()}


@dataclass(frozen=True)
class GroupEntry:
    """The sources writing a set of domains, by the fingerprint of their inputs."""

    fingerprint: str
    domains: list[str]

    def to_json(self) -> dict[str, Any]:
        return {"fingerprint": self.fingerprint, "domains": list(self.domains)}


@dataclass
class Manifest:
    """A token store's manifest (see the module docstring)."""

    dtype: str
    eos_id: int
    vocab_size: int
    tokenizer: TokenizerEntry
    domains: dict[str, DomainEntry] = field(default_factory=dict)
    groups: dict[str, GroupEntry] = field(default_factory=dict)
    sources: dict[str, dict[str, Any]] = field(default_factory=dict)
    format: int = FORMAT_VERSION

    def to_json(self) -> dict[str, Any]:
        return {
            "format": self.format,
            "tokenizer": self.tokenizer.to_json(),
            "dtype": self.dtype,
            "eos_id": self.eos_id,
            "vocab_size": self.vocab_size,
            "domains": {d: e.to_json() for d, e in self.domains.items()},
            "groups": {g: e.to_json() for g, e in self.groups.items()},
            "sources": dict(self.sources),
        }

    @classmethod
    def from_json(cls, obj: Any, where: str = MANIFEST_FILE) -> Manifest:
        """The manifest in ``obj`` (parsed JSON); a missing or mistyped key is a one-line
        :class:`CurricleError` naming it (a store of another format is refused first)."""
        if not isinstance(obj, dict):
            raise CurricleError(f"{where}: not a JSON object")
        if obj.get("format") != FORMAT_VERSION:
            raise CurricleError(f"{where}: store format {obj.get('format')} is not {FORMAT_VERSION}; "
                                f"rerun 'curricle prepare'")
        try:
            tok = obj["tokenizer"]
            return cls(
                dtype=str(obj["dtype"]), eos_id=int(obj["eos_id"]), vocab_size=int(obj["vocab_size"]),
                tokenizer=TokenizerEntry(**tok),
                domains={d: DomainEntry(dir=e["dir"], group=e["group"], train=SplitCounts(**e["train"]),
                                        heldout=SplitCounts(**e["heldout"]))
                         for d, e in obj["domains"].items()},
                groups={g: GroupEntry(**e) for g, e in obj.get("groups", {}).items()},
                sources=dict(obj.get("sources", {})),
            )
        except KeyError as err:
            raise CurricleError(f"{where}: no key {err} in the manifest; rerun 'curricle prepare'") from None
        except (TypeError, ValueError, AttributeError) as err:
            raise CurricleError(f"{where}: not a token store manifest ({err}); rerun 'curricle prepare'") from None


def manifest_text(manifest: Manifest) -> str:
    """The text of ``manifest.json`` for ``manifest`` (sorted keys, indent 2): what
    :func:`write_manifest` writes, so a snapshot can name it before it is written."""
    return json.dumps(manifest.to_json(), indent=2, sort_keys=True) + "\n"


def write_manifest(data_dir: Path, manifest: Manifest) -> None:
    """Replace ``data_dir/manifest.json`` atomically (sorted keys, indent 2)."""
    atomic.write_text(Path(data_dir) / MANIFEST_FILE, manifest_text(manifest))


def read_manifest(data_dir: Path) -> Manifest:
    """The manifest of the prepared data directory ``data_dir``; a directory without one, or
    with one that is not a manifest of this format, is a one-line :class:`CurricleError`."""
    path = Path(data_dir) / MANIFEST_FILE
    if not path.is_file():
        raise CurricleError(f"{data_dir}: not a prepared data directory (no {MANIFEST_FILE}); "
                            f"run 'curricle prepare CONFIG' first")
    try:
        obj = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise CurricleError(f"{path}: not valid JSON ({err})") from err
    return Manifest.from_json(obj, str(path))
