import pytest

from curricle.errors import CurricleError
from curricle.sources.python_code import (
    EXCLUDED_DIRS,
    PythonCodeConfig,
    PythonCodeSource,
    stdlib_py_files,
    stdlib_root,
)


def read(**kw):
    src = PythonCodeSource(PythonCodeConfig(domain="code", **kw))
    return list(src), src.stats


def test_listing_is_sorted_and_has_no_tests_or_third_party():
    files = stdlib_py_files()
    rels = [rel for rel, _ in files]
    assert len(rels) > 100
    assert rels == sorted(rels) == sorted(set(rels))
    assert {"json/__init__.py", "textwrap.py", "unittest/case.py"} <= set(rels)
    for rel in rels:
        parts = rel.split("/")
        assert not EXCLUDED_DIRS.intersection(parts[:-1]), rel
        assert not parts[-1].startswith("test_"), rel
        assert not parts[0].startswith("config-"), rel


def test_include_reads_exactly_those_files():
    docs, stats = read(include=["json/*"])
    ids = [d.id for d in docs]
    assert ids == sorted(ids)
    assert ids[0] == "json/__init__.py" and "json/decoder.py" in ids
    assert all(i.startswith("json/") for i in ids)
    assert docs[0].text == (stdlib_root() / "json" / "__init__.py").read_text(encoding="utf-8")
    assert docs[0].meta == {"source": str(stdlib_root() / "json" / "__init__.py")}
    assert stats.total_skipped == 0


def test_deterministic_and_max_docs():
    a, _ = read(max_docs=40)
    b, _ = read(max_docs=40)
    assert len(a) == 40
    assert a == b


def test_too_large_counted():
    docs, stats = read(include=["json/*"], max_file_bytes=3000)
    # Which json modules are under 3 kB depends on the Python version (3.11: scanner.py).
    small = {rel for rel, p in stdlib_py_files(["json/*"]) if p.stat().st_size <= 3000}
    assert {d.id for d in docs} == small
    assert stats.skipped["too-large"] == 5 - len(small)


def test_include_matching_nothing_is_an_error():
    with pytest.raises(CurricleError, match="no such file or directory: .*nope/\\*"):
        read(include=["nope/*"])


def test_fingerprint_names_the_python():
    fp = PythonCodeSource(PythonCodeConfig(domain="code")).fingerprint()
    assert fp["max_file_bytes"] == 200_000 and fp["python"].count(".") == 2
