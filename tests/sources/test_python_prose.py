import ast
from pathlib import Path

import pytest
from pydantic import ValidationError

from curricle.sources import python_prose
from curricle.sources.base import Document
from curricle.sources.python_prose import PythonProseConfig, PythonProseSource, docstrings

LONG = "x" * 30

MODULE = f'''"""Module doc {LONG}."""
import sys


class Box:
    """Box doc {LONG}."""

    def open(self):
        """Box.open doc {LONG}."""

        def inner():
            """inner doc {LONG}."""

    def shut(self):
        """short"""


if sys.platform == "win32":
    def path():
        """path doc, windows {LONG}."""
else:
    def path():
        """path doc, posix {LONG}."""


async def fetch():
    """fetch doc {LONG}."""
'''


def read(**kw):
    src = PythonProseSource(PythonProseConfig(domain="prose", **kw))
    return list(src), src.stats


def test_docstrings_in_source_order_with_qualnames():
    got = [(q, line) for q, line, _ in docstrings(ast.parse(MODULE))]
    assert got == [
        ("<module>", 1),
        ("Box", 5),
        ("Box.open", 8),
        ("Box.open.<locals>.inner", 11),
        ("Box.shut", 14),
        ("path", 19),
        ("path", 22),
        ("fetch", 26),
    ]


@pytest.fixture
def fake_stdlib(tmp_path, monkeypatch):
    (tmp_path / "mod.py").write_text(MODULE)
    (tmp_path / "py2.py").write_text('print "hello"\n')
    files = [("mod.py", tmp_path / "mod.py"), ("py2.py", tmp_path / "py2.py")]
    monkeypatch.setattr(python_prose, "stdlib_py_files", lambda include=None: files)
    return tmp_path


def test_docstring_documents_exact(fake_stdlib):
    src = str(fake_stdlib / "mod.py")
    docs, stats = read(parts=["docstrings"], min_chars=30)
    assert [(d.id, d.meta["line"]) for d in docs] == [
        ("doc:mod.py:<module>", 1),
        ("doc:mod.py:Box", 5),
        ("doc:mod.py:Box.open", 8),
        ("doc:mod.py:Box.open.<locals>.inner", 11),
        ("doc:mod.py:path", 19),
        ("doc:mod.py:path@22", 22),
        ("doc:mod.py:fetch", 26),
    ]
    assert docs[0] == Document(
        id="doc:mod.py:<module>", text=f"Module doc {LONG}.", domain="prose", meta={"source": src, "line": 1}
    )
    assert docs[5].text == f"path doc, posix {LONG}."
    assert stats.examples == {"too-short": [f"{src}:14"], "syntax-error": [str(fake_stdlib / "py2.py")]}


def test_parts_order_is_followed(fake_stdlib):
    docs, _ = read(parts=["docstrings", "topics"], min_chars=30)
    assert docs[0].id == "doc:mod.py:<module>"
    assert docs[7].id.startswith("topic:")


def test_topics_sorted_deterministic_and_long_enough():
    a, stats = read(parts=["topics"], max_docs=10)
    b, _ = read(parts=["topics"], max_docs=10)
    assert a == b and len(a) == 10
    names = [d.id.removeprefix("topic:") for d in a]
    assert names == sorted(names)
    assert all(d.id.startswith("topic:") and len(d.text) >= 200 for d in a)


def test_real_stdlib_docstrings_without_importing():
    a, stats = read(parts=["docstrings"], include=["json/*"])
    b, _ = read(parts=["docstrings"], include=["json/*"])
    assert a == b and len(a) > 3
    ids = [d.id for d in a]
    assert ids[0] == "doc:json/__init__.py:<module>"
    assert "doc:json/__init__.py:dumps" in ids
    assert all(i.startswith("doc:json/") for i in ids) and len(set(ids)) == len(ids)
    assert all(len(d.text) >= 200 for d in a)
    assert stats.skipped["too-short"] > 0
    assert not any("/test" in Path(d.meta["source"]).as_posix() for d in a)


def test_default_reads_topics_first():
    docs, _ = read(max_docs=3)
    assert [d.id.split(":")[0] for d in docs] == ["topic"] * 3


@pytest.mark.parametrize("parts", [[], ["topics", "topics"], ["manpages"]])
def test_bad_parts_rejected(parts):
    with pytest.raises(ValidationError):
        PythonProseConfig(domain="prose", parts=parts)
