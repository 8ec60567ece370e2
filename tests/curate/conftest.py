"""Helpers for curation tests: literal corpora, run configs, and reading curate's files."""

from __future__ import annotations

import gzip
import json
from pathlib import Path


from curricle.config import parse_config
from curricle.curate.config import CurateConfig
from curricle.curate.document import CurDoc
from curricle.curate.steps import DomainRoles, StepContext

#: Every step off: a test turns on what it exercises.
ALL_OFF = {name: {"enabled": False} for name in (
    "extract", "langid", "quality", "code_quality", "pii", "decontam", "exact_dedup", "near_dedup", "line_dedup")}


def doc(text: str, domain: str = "prose", doc_id: str = "d1") -> CurDoc:
    return CurDoc(id=doc_id, text=text, domain=domain, meta={}, source="test", location=f"test#{doc_id}")


def context(work_dir: Path | None = None, code: tuple[str, ...] = ("code",)) -> StepContext:
    return StepContext(DomainRoles(code=frozenset(code)), work_dir)


def write_jsonl(path: Path, records: list, raw_lines: list[bytes] = ()) -> Path:
    lines = [json.dumps(r).encode() for r in records] + list(raw_lines)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path


def run_config(tmp_path: Path, sources: list[dict]):
    return parse_config({"data_dir": str(tmp_path / "data"), "sources": sources})


def curate_config(tmp_path: Path, **steps) -> CurateConfig:
    data = {"output_dir": str(tmp_path / "curated"), **ALL_OFF}
    data.update(steps)
    return CurateConfig.model_validate(data)


def quarantine(out: Path, step: str) -> list[dict]:
    path = Path(out) / "quarantine" / f"{step}.jsonl"
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()] if path.exists() else []


def curated_docs(report) -> dict[str, list[dict]]:
    """domain -> records of the curated files, in file order."""
    out: dict[str, list[dict]] = {}
    for domain, files in report.files.items():
        for f in files:
            path = Path(report.output_dir) / f
            if f.endswith(".parquet"):
                import pyarrow.parquet as pq

                for r in pq.read_table(path).to_pylist():
                    out.setdefault(domain, []).append({**r, "meta": json.loads(r["meta"])})
            else:
                with gzip.open(path, "rt", encoding="utf-8") as fh:
                    out.setdefault(domain, []).extend(json.loads(line) for line in fh)
    return out




SENTENCES = [
    "The river town woke slowly on the first cold morning of the year.",
    "Fishermen pulled their boats onto the shore and talked about the weather.",
    "Children ran between the stalls of the market with their hands full of apples.",
    "By noon the fog had lifted and the whole valley was visible from the church tower.",
    "Travellers who came up the road said that they had never seen the hills so clear.",
    "In the evening the lamps were lit one by one, and the town settled into its quiet.",
    "The baker opened his shop before dawn and sold the first loaves to the night watchmen.",
    "A letter from the capital arrived with news that the old bridge would be rebuilt.",
    "Her grandmother kept a garden of herbs that smelled of rain in the late summer.",
    "The teacher asked the class to write a story about a journey they would like to make.",
    "Snow covered the mountain pass for most of the winter, and the mail came by sled.",
    "The council met in the long hall and argued about the price of grain until midnight.",
    "An old sailor told stories of storms at sea to anyone who would buy him a drink.",
    "The library was small but warm, and its shelves held more maps than novels.",
    "Every spring the farmers drove their sheep up to the high meadows above the lake.",
    "The clockmaker repaired watches for half the county and never raised his prices.",
    "A new road was built along the coast, and the village became a stop for the coaches.",
    "The doctor walked to the farms on the hill with a lantern and a leather bag.",
    "At the harvest festival there was music, dancing and a contest for the largest pumpkin.",
    "The painter set up her easel by the mill and worked until the light was gone.",
    "Merchants from the south brought silk, spices and strange stories of distant cities.",
    "The old castle on the ridge had been empty for a hundred years, or so they said.",
    "On market days the square was so full that carts could hardly pass through it.",
    "The blacksmith's hammer could be heard from one end of the street to the other.",
    "When the river flooded, the families on the low street moved up to the school.",
    "The stationmaster knew every train by its whistle and every passenger by name.",
    "A traveling theatre came every autumn and performed the same three plays each year.",
    "The orchard behind the inn produced the sweetest pears anyone had ever tasted.",
    "Young men left for the cities to find work, and some of them never came back.",
    "The priest rang the bell at noon, and the workers in the fields stopped to eat.",
]


def make_prose(seed: int, sentences: int = 8) -> str:
    """An English paragraph pair that passes the quality rules and shares no line with
    another seed's (5-word shingle Jaccard between seeds is well below the LSH threshold)."""
    import random

    picked = random.Random(seed).sample(SENTENCES, sentences)
    half = sentences // 2
    return " ".join(picked[:half]) + "\n" + " ".join(picked[half:])
