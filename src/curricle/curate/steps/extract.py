"""Text extraction from HTML: datatrove's Trafilatura extractor, in datatrove's sandbox.

``mode: auto`` extracts only documents that look like an HTML page (a doctype, ``<html>``,
``<head>`` or ``<body>`` tag in the first 2 KB) and passes every other document through
untouched, so plain text and code in the same run are safe. ``mode: always`` treats every
document of the step's domains as HTML.

The extraction itself is datatrove's (``Trafilatura.extract``: trafilatura with precision
favoured, comments dropped, trafilatura's own deduplication), run in datatrove's
``ExtractorSandbox``: a child process per shard with a per-document timeout, so a page that
makes the parser hang or blow up costs one document, not the run. Code domains are left out
by default (a Python module that writes HTML is not a web page). Drop reasons:
``no-text`` (nothing extractable, e.g. a page of navigation only), ``timeout``, ``error``.
"""

from __future__ import annotations

import re
from typing import Any

from curricle.curate.config import ExtractConfig
from curricle.curate.document import CurDoc, Drop
from curricle.curate.steps.base import CurationStep

_HTML_SNIFF = re.compile(r"<!doctype\s+html|<html[\s>]|<head[\s>]|<body[\s>]", re.IGNORECASE)
_SNIFF_CHARS = 2048


def looks_like_html(text: str) -> bool:
    """Whether ``text`` looks like an HTML page (a tag of the page skeleton near its start)."""
    return _HTML_SNIFF.search(text, 0, _SNIFF_CHARS) is not None


class ExtractStep(CurationStep):
    default_domains = "prose"  # source code that writes HTML is not a web page
    config: ExtractConfig

    def __init__(self, config: ExtractConfig, context: Any):
        super().__init__(config, context)
        self._sandbox: Any = None
        self._extractor: Any = None

    def _start(self) -> None:
        from datatrove.pipeline.extractors import Trafilatura
        from datatrove.pipeline.extractors.base import ExtractorSandbox

        self._extractor = Trafilatura(favour_precision=self.config.favour_precision, timeout=self.config.timeout_s)
        self._sandbox = ExtractorSandbox(timeout=self.config.timeout_s, warmup_text="").__enter__()

    def teardown(self) -> None:
        if self._sandbox is not None:
            self._sandbox.__exit__(None, None, None)
            self._sandbox = None

    def apply(self, doc: CurDoc) -> Drop | None:
        if self.config.mode == "auto" and not looks_like_html(doc.text):
            return None
        if self._sandbox is None:
            self._start()
        try:
            text = self._sandbox.process_document(doc.text, self._extractor.extract)
        except TimeoutError:
            return Drop("timeout", {"timeout_s": self.config.timeout_s})
        except EOFError:
            return Drop("error", {"error": "the extraction process died (out of memory?)"})
        if not text or not text.strip():
            return Drop("no-text")
        doc.text = text
        return None
