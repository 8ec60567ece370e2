"""Built-in English technical prose: what ships with the running Python.

Two parts, read in the order ``parts`` lists them:

- ``topics``: the documentation topics pydoc shows (``pydoc_data.topics``), one document
  each, sorted by name; id ``topic:<name>``.
- ``docstrings``: module, class and function docstrings of the standard library's non-test
  modules (the files :mod:`curricle.sources.python_code` lists), read by parsing the source
  with :mod:`ast` -- nothing is imported, so no module's import-time side effects run. Files
  in sorted path order, docstrings in source order; id ``doc:<relpath>:<qualname>``
  (``<module>`` for the module's own; a name defined twice, e.g. per platform, gets
  ``@<line>`` on its second id).

Texts shorter than ``min_chars`` are skipped as ``too-short``; a file that does not parse as
``syntax-error``.
"""

from __future__ import annotations

import ast
import platform
from typing import Any, Iterator

from curricle.sources.base import Document, Source
from curricle.sources.config import PythonProseConfig
from curricle.sources.python_code import stdlib_py_files

_DEFS = (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)


def docstrings(tree: ast.Module) -> Iterator[tuple[str, int, str]]:
    """``(qualname, line, docstring)`` of a module and every class and function in it, in
    source order; qualnames as ``__qualname__`` spells them (``f.<locals>.g``)."""
    doc = ast.get_docstring(tree)
    if doc is not None:
        yield "<module>", 1, doc

    def visit(node: ast.AST, prefix: str) -> Iterator[tuple[str, int, str]]:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, _DEFS):
                qualname = prefix + child.name
                d = ast.get_docstring(child)
                if d is not None:
                    yield qualname, child.lineno, d
                inner = ".<locals>." if not isinstance(child, ast.ClassDef) else "."
                yield from visit(child, qualname + inner)
            else:
                # Definitions under if/try/with blocks belong to the enclosing scope.
                yield from visit(child, prefix)

    yield from visit(tree, "")


class PythonProseSource(Source):
    """Documents of English technical prose from the running Python's docs and docstrings."""

    config: PythonProseConfig

    def describe(self) -> str:
        return f"python-prose {'+'.join(self.config.parts)}"

    def fingerprint(self) -> dict[str, Any]:
        # The content is whatever this interpreter ships: a different Python, different data.
        return {**super().fingerprint(), "python": platform.python_version()}

    def _iter(self) -> Iterator[Document]:
        for part in self.config.parts:
            yield from self._topics() if part == "topics" else self._docstrings()

    def _topics(self) -> Iterator[Document]:
        try:
            from pydoc_data.topics import topics
        except ImportError:
            # Some distributions strip pydoc_data; the docstrings part may still yield.
            self.stats.skip("no-pydoc-data", "pydoc_data.topics")
            return
        for name in sorted(topics):
            text = topics[name]
            doc_id = f"topic:{name}"
            if len(text) < self.config.min_chars:
                self.stats.skip("too-short", doc_id)
                continue
            yield Document(
                id=doc_id, text=text, domain=self.config.domain, meta={"source": "pydoc_data.topics"}
            )

    def _docstrings(self) -> Iterator[Document]:
        for rel, path in stdlib_py_files(self.config.include):
            where = str(path)
            try:
                # ast reads the bytes' coding cookie itself.
                tree = ast.parse(path.read_bytes(), filename=where)
            except (SyntaxError, ValueError):
                self.stats.skip("syntax-error", where)
                continue
            seen: set[str] = set()
            for qualname, line, text in docstrings(tree):
                doc_id = f"doc:{rel}:{qualname}"
                if doc_id in seen:
                    doc_id = f"{doc_id}@{line}"
                seen.add(doc_id)
                if len(text) < self.config.min_chars:
                    self.stats.skip("too-short", f"{where}:{line}")
                    continue
                yield Document(
                    id=doc_id, text=text, domain=self.config.domain, meta={"source": where, "line": line}
                )
