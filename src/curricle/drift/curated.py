"""A curated output (``curricle curate``'s directory, with ``funnel.json``) as a side of a comparison.

Every domain's kept documents, read as ``prepare`` reads them (the ``curated`` source: only the
files ``funnel.json`` lists), become a text side (:mod:`curricle.drift.text`): word bins as
tokens, the documents' ids as ids, and per document the numeric columns ``n_chars``,
``n_words`` (words as :data:`curricle.curate.words.WORD` splits them) and every numeric field
of its ``meta`` (``language_score``, a source's ``meta_fields`` such as quality scores; where
a document lacks one it is NaN), locations (``line``, ``row``) aside. The funnel goes into
``Corpus.info["funnel"]``; when both sides are curated, :func:`funnels` puts the two side by
side in ``drift.json``'s lineage.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from curricle.curate.funnel import read_funnel
from curricle.drift.corpus import Corpus
from curricle.drift.text import WordBins, text_corpus, text_domain
from curricle.errors import CurricleError
from curricle.sources.config import CuratedConfig
from curricle.sources.curated import CuratedSource

#: ``meta`` fields that say where a document was, not what it is: never a column.
LOCATIONS = frozenset({"line", "row", "curated_line", "curated_row"})


def is_curated(path: Path) -> bool:
    """Whether ``path`` is a curate output (a directory with a ``funnel.json``)."""
    return (Path(path) / "funnel.json").is_file()


def load_curated(path: Path | str) -> Corpus:
    """The kept documents of every domain of the curate output at ``path``."""
    path = Path(path)
    funnel = read_funnel(path)
    if funnel is None:
        raise CurricleError(f"{path / 'funnel.json'}: not a funnel this curricle can read; rerun 'curricle curate'")
    words = WordBins()
    domains = {}
    for name in sorted(funnel["domains"]):
        if not funnel["domains"][name]["files"]:
            continue  # curate kept nothing of it: the funnel and the lineage say so
        ids, texts, metas = [], [], []
        for doc in CuratedSource(CuratedConfig(path=str(path), domain=name)):
            ids.append(doc.id)
            texts.append(doc.text)
            metas.append(doc.meta)
        names = sorted({k for m in metas for k, v in m.items() if _number(v) and k not in LOCATIONS})
        columns: dict[str, list[float | None]] = {"n_chars": [len(t) for t in texts]}
        columns.update({k: [m[k] if _number(m.get(k)) else None for m in metas] for k in names if k != "n_chars"})
        data = text_domain(name, ids, texts, words, columns)
        data.columns["n_words"] = data.lengths.astype(float)
        domains[name] = data
    return text_corpus(str(path), "curated", domains, words, funnel.get("snapshot"), {"funnel": funnel})


def _number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def funnels(old: Corpus, new: Corpus) -> dict[str, Any] | None:
    """Both sides' funnels side by side, per domain and step (in pipeline order): documents in,
    kept, and dropped per reason on OLD and on NEW (None on a side that lacks the domain or the
    step); None unless both sides are curated outputs."""
    fo, fn = old.info.get("funnel"), new.info.get("funnel")
    if fo is None or fn is None:
        return None
    out: dict[str, Any] = {}
    for domain in sorted(set(fo["domains"]) | set(fn["domains"])):
        sides = {side: {r["step"]: {"in": r["docs"]["in"], "kept": r["docs"]["kept"], "dropped": r["docs"]["dropped"]}
                        for r in funnel["domains"].get(domain, {}).get("steps", [])}
                 for side, funnel in (("old", fo), ("new", fn))}
        out[domain] = [{"step": s, "old": sides["old"].get(s), "new": sides["new"].get(s)}
                       for s in _step_order(list(sides["old"]), list(sides["new"]))]
    return out


def _step_order(old: list[str], new: list[str]) -> list[str]:
    """NEW's steps in its pipeline order, each step only OLD ran placed after its predecessor in OLD."""
    order = list(new)
    for i, s in enumerate(old):
        if s not in order:
            order.insert(order.index(old[i - 1]) + 1 if i else 0, s)
    return order


__all__ = ["LOCATIONS", "is_curated", "load_curated", "funnels"]
