"""Exact, near-duplicate and repeated-line decisions on literal documents."""

from __future__ import annotations

import random

import pyarrow as pa

from curricle.curate.dedup import (
    EXACT,
    LINES,
    NEAR,
    DedupPlan,
    Decision,
    ExactDedupConfig,
    LineDedupConfig,
    NearDedupConfig,
    Signer,
    decide,
    signature_schema,
)

from curricle.curate.steps import DomainRoles

from tests.curate.conftest import doc

WORDS = ("river stone bread lamp field window garden letter market winter harbor candle forest mirror "
         "valley ladder bottle thread pocket engine silver shadow meadow basket anchor feather").split()


def prose(seed: int, n: int = 120) -> str:
    rng = random.Random(seed)
    return " ".join(rng.choice(WORDS) + str(rng.randrange(50)) for _ in range(n)) + "."


def edit(text: str, n_changes: int, seed: int = 0) -> str:
    rng = random.Random(seed)
    words = text.split()
    for i in rng.sample(range(len(words)), n_changes):
        words[i] = "changed" + str(i)
    return " ".join(words)


def plan(**kw) -> DedupPlan:
    return DedupPlan(ExactDedupConfig(), NearDedupConfig(**kw.get("near", {})), LineDedupConfig(**kw.get("lines", {})),
                     roles=DomainRoles(code=frozenset({"code"})))


def shard(p: DedupPlan, docs) -> pa.Table:
    signer = Signer(p)
    schema = signature_schema(p.near.num_perm)
    rows = {name: [] for name in schema.names}
    for i, d in enumerate(docs):
        rows["idx"].append(i)
        rows["id"].append(d.id)
        rows["domain"].append(d.domain)
        for k, v in signer.sign(d).items():
            rows[k].append(v)
    return pa.table(rows, schema=schema)


def test_exact_duplicates_keep_the_first_copy_across_shards():
    p = plan()
    a, b = prose(1), prose(2)
    s0 = shard(p, [doc(a, doc_id="a"), doc(b, doc_id="b")])
    s1 = shard(p, [doc(a, doc_id="a2"), doc(a, doc_id="a3")])
    assert decide([s0, s1], p) == [[], [Decision(0, EXACT, {"duplicate_of": "a"}), Decision(1, EXACT, {"duplicate_of": "a"})]]


def test_near_duplicates_name_the_kept_document():
    p = plan()
    base = prose(7)
    docs = [doc(base, doc_id="orig"), doc(prose(8), doc_id="other"), doc(edit(base, 1), doc_id="copy1"),
            doc(edit(base, 60, seed=3), doc_id="rewritten")]  # half the words changed: not a duplicate
    (decisions,) = decide([shard(p, docs)], p)
    assert [(d.idx, d.step, d.detail["duplicate_of"]) for d in decisions] == [(2, NEAR, "orig")]
    assert 0.8 < decisions[0].detail["jaccard_estimate"] < 1.0


def test_near_dedup_verification_threshold():
    p = plan(near={"min_jaccard": 0.99})
    base = prose(7)
    (decisions,) = decide([shard(p, [doc(base, doc_id="orig"), doc(edit(base, 1), doc_id="copy1")])], p)
    assert decisions == []  # one changed word in 120 is below a 0.99 estimated Jaccard


def test_repeated_lines_are_removed_from_later_documents_only():
    p = plan()
    header = "Copyright 2024 The Example Authors. All rights reserved worldwide."
    first = f"{header}\nThe first document's own text is long enough to count as a line."
    second = f"Intro of the second document, also long enough to be a line.\n{header}\nshort\nshort"
    third = f"{header}\n   {header}   "
    (decisions,) = decide([shard(p, [doc(first, doc_id="1"), doc(second, doc_id="2"), doc(third, doc_id="3"),
                                     doc("x = 1\n" + header, domain="code", doc_id="c")])], p)
    assert decisions == [
        Decision(1, LINES, {"lines_removed": 1}, lines=[1]),
        Decision(2, LINES, {"lines_removed": 2}, lines=[0, 1]),
    ]  # short lines and the code document are left alone


def test_signer_skips_what_does_not_apply():
    p = plan()
    sig = Signer(p).sign(doc("x = 1\n" * 3, domain="code"))
    assert sig["line_idx"] is None and sig["doc_hash"] is not None and sig["minhash"] is not None
    assert Signer(p).sign(doc("... !!!"))["minhash"] is None  # no words: no shingles
