"""PII redaction: rewrite e-mail addresses, phone numbers, IP addresses, credit-card numbers
and secrets into placeholders, counting each kind.

What comes from datatrove: the e-mail and IPv4 patterns and the public-IP validator of its
``PIIFormatter`` (private, loopback and reserved addresses such as ``127.0.0.1`` or
``192.168.0.1`` are left alone by default: they identify no one). datatrove's formatter
itself is not used: it covers only those two kinds and does not report what it replaced.

Written here (datatrove has none): phone numbers, credit-card numbers and secrets.

- Phone numbers need separators (``555-123-4567``, ``(555) 123-4567``, ``+44 20 7946 0958``):
  bare digit runs in code and tables are far more often ids, sizes and timestamps.
- Known false positives, accepted (they err toward redaction): a dotted version or section
  number that is also a valid public IPv4 address (``section 8.2.4.44``) is redacted, as
  datatrove's formatter would.
- Credit-card numbers: 13-19 digits (optionally grouped by spaces or dashes) starting like a
  card (2-6) and passing the Luhn checksum.
- Secrets: well-known key formats (AWS access key ids, GitHub, Slack, Stripe, Google and
  OpenAI-style keys, JSON web tokens, PEM private-key blocks) and the value in assignments
  such as ``api_key = "..."`` / ``password: '...'`` (the name is kept, the value replaced).

Kinds are applied in the order secrets, credit cards, e-mails, IP addresses, phones, so a card
number is not half-taken for a phone number. Each kind is one ``re.subn`` over the text (a
validator runs only on candidate matches). The step never drops a document.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any, Callable

from curricle.curate.config import PIIConfig
from curricle.curate.document import CurDoc, Drop
from curricle.curate.steps.base import CurationStep

PHONE = (
    r"(?<![\w+.-])"
    r"(?:\+\d{1,3}[\s.-]?)?"  # country code
    r"(?:\(\d{2,4}\)[\s.-]?|\d{2,4}[\s.-])"  # area code, bracketed or followed by a separator
    r"\d{3,4}[\s.-]\d{3,4}"
    r"(?![\w-]|\.\d)"  # not the start of a longer number, nor three groups of a dotted quad
)
CREDIT_CARD = r"(?<![\w-])[2-6]\d{3}(?:[ -]?\d){9,15}(?![\w-])"
#: Each pattern starts with its literal prefix and checks the word boundary behind it with a
#: lookbehind: Python's regex engine then scans for the prefix at C speed (a leading ``\b``
#: or an alternation of the patterns is ~100x slower on source code).
SECRETS = [
    r"-----BEGIN (?:[A-Z]+ )?PRIVATE KEY-----[\s\S]*?-----END (?:[A-Z]+ )?PRIVATE KEY-----",
    r"AKIA(?<!\wAKIA)[0-9A-Z]{16}\b",  # AWS access key ids
    r"ASIA(?<!\wASIA)[0-9A-Z]{16}\b",
    r"gh[pousr]_(?<!\wgh[pousr]_)[A-Za-z0-9]{36,}\b",  # GitHub tokens
    r"github_pat_(?<!\wgithub_pat_)[A-Za-z0-9_]{50,}\b",
    r"xox[abposr]-(?<!\wxox[abposr]-)[A-Za-z0-9-]{10,}\b",  # Slack
    r"[sr]k_(?:live|test)_(?<!\w[sr]k_(?:live|test)_)[A-Za-z0-9]{16,}\b",  # Stripe
    r"AIza(?<!\wAIza)[0-9A-Za-z_-]{35}\b",  # Google API keys
    r"sk-(?<!\wsk-)(?:proj-)?[A-Za-z0-9_-]{20,}\b",  # OpenAI-style
    r"eyJ(?<!\weyJ)[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\b",  # JSON web tokens
]
#: ``name = "value"`` / ``name: 'value'`` where the name says it is a secret; group 2 is the value.
SECRET_ASSIGNMENT = (
    r"(?i)\b((?:api[_-]?key|apikey|secret(?:[_-]?key)?|access[_-]?token|auth[_-]?token|password|passwd|pwd)"
    r"[\"']?\s*[:=]\s*[\"'])(?!{placeholder}[\"'])([^\"'\s]{{8,}})(?=[\"'])"
)


def luhn_ok(number: str) -> bool:
    """Whether the digits of ``number`` pass the Luhn checksum (runs only on candidates)."""
    digits = [int(c) for c in number if c.isdigit()]
    total = 0
    for i, d in enumerate(reversed(digits)):
        if i % 2 == 1:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def is_public_ip(text: str) -> bool:
    try:
        return ipaddress.ip_address(text).is_global
    except ValueError:
        return False


class _Rule:
    """One kind: a pattern, its placeholder, an optional validator of each match."""

    def __init__(self, kind: str, pattern: re.Pattern, replacement: str,
                 validator: Callable[[str], bool] | None = None, keep_group: int | None = None,
                 needs: str | None = None):
        self.kind = kind
        self.needs = needs  # a substring any match contains: skip texts without it
        self.pattern = pattern
        self.replacement = replacement
        self.validator = validator
        self.keep_group = keep_group

    def apply(self, text: str) -> tuple[str, int]:
        if self.needs is not None and self.needs not in text:
            return text, 0
        if self.keep_group is not None:
            repl = rf"\g<{self.keep_group}>" + self.replacement.replace("\\", r"\\")
            return self.pattern.subn(repl, text)
        if self.validator is None:
            return self.pattern.subn(self.replacement.replace("\\", r"\\"), text)
        count = 0

        def sub(m: re.Match) -> str:
            nonlocal count
            if not self.validator(m.group(0)):
                return m.group(0)
            count += 1
            return self.replacement

        return self.pattern.sub(sub, text), count


def build_rules(config: PIIConfig) -> list[_Rule]:
    from datatrove.pipeline.formatters.pii import PIIFormatter

    dt = PIIFormatter()  # only for its e-mail and IPv4 patterns
    r = config.replacements
    rules: list[_Rule] = []
    if config.secrets:
        rules.extend(_Rule("secret", re.compile(p), r.secret) for p in SECRETS)
        # (a value a key pattern already replaced is not counted twice)
        assignment = SECRET_ASSIGNMENT.format(placeholder=re.escape(r.secret))
        rules.append(_Rule("secret", re.compile(assignment), r.secret, keep_group=1))
    if config.credit_cards:
        rules.append(_Rule("credit_card", re.compile(CREDIT_CARD), r.credit_card, validator=luhn_ok))
    if config.emails:
        rules.append(_Rule("email", dt.emails_replacer.regex, r.email, needs="@"))
    if config.ip_addresses:
        ip_re = re.compile(rf"(?<![\w.]){dt.ip_replacer.regex.pattern}(?![\w.])")
        rules.append(_Rule("ip_address", ip_re, r.ip_address,
                           validator=is_public_ip if config.only_public_ips else None, needs="."))
    if config.phones:
        rules.append(_Rule("phone", re.compile(PHONE), r.phone))
    return rules


class PIIStep(CurationStep):
    config: PIIConfig

    def __init__(self, config: PIIConfig, context: Any):
        super().__init__(config, context)
        self._rules = build_rules(config)

    def apply(self, doc: CurDoc) -> Drop | None:
        text = doc.text
        for rule in self._rules:
            text, n = rule.apply(text)
            if n:
                doc.replaced[rule.kind] += n
        if doc.replaced:
            doc.text = text
        return None
