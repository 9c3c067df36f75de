"""Removing one subject's identifiers from free text, keeping the rest exactly.

Emails and phone numbers are found first and masked, so a name found later
cannot end inside an address ("matti.virtanen@x.fi" goes as one piece).
An identifier with fewer than two letters or digits is ignored: an empty or
one-character identifier would otherwise match almost anything.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from retention.anonymise.redact_contacts import email_pattern, is_email, phone_pattern
from retention.anonymise.redact_names import name_pattern

_MIN_SIGNIFICANT = 2
_MASK = "\x00"


def _usable(identifiers: Iterable[object]) -> list[str]:
    usable = []
    for identifier in identifiers:
        if identifier is None or isinstance(identifier, bool):
            continue
        text = " ".join(str(identifier).split())
        if sum(ch.isalnum() for ch in text) >= _MIN_SIGNIFICANT:
            usable.append(text)
    return usable


def compile_identifiers(identifiers: Iterable[object]) -> list[re.Pattern[str]]:
    """Patterns in the order they must run: contact details, then names."""
    contacts: list[str] = []
    names: list[str] = []
    for identifier in _usable(identifiers):
        if is_email(identifier):
            contacts.append(email_pattern(identifier))
        elif (phone := phone_pattern(identifier)) is not None:
            contacts.append(phone)
        else:
            names.append(identifier)
    sources = ["|".join(contacts) if contacts else None, name_pattern(names)]
    return [re.compile(s, re.IGNORECASE) for s in sources if s]


def _spans(text: str, patterns: list[re.Pattern[str]]) -> list[tuple[int, int]]:
    spans: list[tuple[int, int]] = []
    working = text
    for pattern in patterns:
        found = [m.span() for m in pattern.finditer(working) if m.end() > m.start()]
        for start, end in found:
            working = working[:start] + _MASK * (end - start) + working[end:]
        spans.extend(found)
    return sorted(spans)


def redact_text(
    text: str | None, identifiers: Iterable[str | None], replacement: str = "[redacted]"
) -> str | None:
    """`text` with every occurrence of each identifier replaced by `replacement`."""
    if text is None:
        return None
    if not isinstance(text, str):
        raise TypeError(f"redact_text needs a str, not {type(text).__name__}")
    patterns = compile_identifiers(identifiers)
    if not patterns:
        return text
    pieces: list[str] = []
    position = 0
    for start, end in _spans(text, patterns):
        pieces.append(text[position:start])
        pieces.append(replacement)
        position = end
    pieces.append(text[position:])
    return "".join(pieces)
