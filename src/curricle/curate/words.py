"""How curation splits text into words, in one place.

- :data:`WORD_OR_PUNCT`: words and single punctuation marks, for decontamination (an
  arithmetic item ``31+79=110`` is five tokens, so it matches inside ``... 31 + 79 = 110.``).
- :data:`WORD`: words only, for near-duplicate shingles (punctuation and spacing changes do not
  make two documents different).
- :data:`PROSE_WORD`: words with their apostrophes, and single punctuation marks: the split
  :class:`~curricle.curate.regex_tokenizer.RegexWordTokenizer` hands datatrove's quality filters.
"""

from __future__ import annotations

import re

WORD_OR_PUNCT = re.compile(r"\w+|[^\w\s]")
WORD = re.compile(r"\w+")
PROSE_WORD = re.compile(r"\w+(?:['’]\w+)*|[^\w\s]")
