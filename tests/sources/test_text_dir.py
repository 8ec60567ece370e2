import pytest
from pydantic import ValidationError

from curricle.errors import CurricleError
from curricle.sources.base import Document
from curricle.sources.text_dir import TextDirConfig, TextDirSource


def read(**kw):
    src = TextDirSource(TextDirConfig(domain="books", **kw))
    return list(src), src.stats


@pytest.fixture
def tree(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "b.txt").write_text("bee\n")
    (tmp_path / "sub" / "a.txt").write_text("sub a")
    (tmp_path / "a.txt").write_bytes("\ufeffay".encode())  # a BOM is not text
    (tmp_path / "bin.txt").write_bytes(b"PK\x03\x04\x00\x00junk")
    (tmp_path / "latin.txt").write_bytes(b"caf\xe9")
    (tmp_path / "blank.txt").write_text(" \n\t\n")
    (tmp_path / "notes.md").write_text("# not matched")
    return tmp_path


def test_each_file_one_document_sorted_by_relative_path(tree):
    docs, stats = read(path=str(tree))
    assert docs == [
        Document(id="a.txt", text="ay", domain="books", meta={"source": str(tree / "a.txt")}),
        Document(id="b.txt", text="bee\n", domain="books", meta={"source": str(tree / "b.txt")}),
        Document(id="sub/a.txt", text="sub a", domain="books", meta={"source": str(tree / "sub" / "a.txt")}),
    ]
    assert stats.examples == {
        "binary": [str(tree / "bin.txt")],
        "empty-text": [str(tree / "blank.txt")],
        "invalid-utf8": [str(tree / "latin.txt")],
    }
    assert dict(stats.skipped) == {"binary": 1, "empty-text": 1, "invalid-utf8": 1}


def test_custom_glob_and_max_docs(tree):
    docs, _ = read(path=str(tree), glob="*.md")
    assert [d.id for d in docs] == ["notes.md"]
    docs, _ = read(path=str(tree), max_docs=2)
    assert [d.id for d in docs] == ["a.txt", "b.txt"]


def test_missing_dir_is_one_line_error(tmp_path):
    path = str(tmp_path / "nope")
    with pytest.raises(CurricleError) as e:
        read(path=path)
    assert str(e.value) == f"source 'text {path}/**/*.txt': no such file or directory: {path}"


def test_no_matching_files_is_one_line_error(tmp_path):
    with pytest.raises(CurricleError) as e:
        read(path=str(tmp_path))
    assert str(e.value) == (
        f"source 'text {tmp_path}/**/*.txt': no such file or directory: {tmp_path}/**/*.txt"
    )


def test_absolute_glob_rejected_at_load():
    with pytest.raises(ValidationError, match="relative to 'path'"):
        TextDirConfig(domain="books", path="d", glob="/etc/*")


def test_fingerprint_lists_matched_files(tree):
    fp = TextDirSource(TextDirConfig(domain="books", path=str(tree), glob="*.md")).fingerprint()
    st = (tree / "notes.md").stat()
    assert fp["files"] == [[str(tree / "notes.md"), st.st_size, st.st_mtime_ns]]
    assert fp["glob"] == "*.md"
