"""Removing one subject's identifiers from free text, keeping the rest exactly.

Emails and phone numbers are found first and masked, so a name found later
cannot end inside an address ("matti.virtanen@x.fi" goes as one piece).
An identifier with fewer than two letters or digits is ignored: an empty or
one-character identifier would otherwise match almost anything.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache

from retention.anonymise.redact_contacts import email_pattern, is_email, phone_pattern
from retention.anonymise.redact_names import name_pattern
from retention.anonymise.redact_spans import name_spans

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
        working = _masked(working, found)
        spans.extend(found)
    return sorted(spans)


def _masked(text: str, spans: list[tuple[int, int]]) -> str:
    for start, end in spans:
        text = text[:start] + _MASK * (end - start) + text[end:]
    return text


# Compiling is per identifier or per word, once a process: a batch of erasure
# requests gives each text its own set of identifiers, and a set's pattern
# took tens of milliseconds to compile (compile_identifiers).
@lru_cache(maxsize=65536)
def _contact(identifier: str) -> re.Pattern[str] | None:
    if is_email(identifier):
        return re.compile(email_pattern(identifier), re.IGNORECASE)
    phone = phone_pattern(identifier)
    return None if phone is None else re.compile(phone, re.IGNORECASE)


@lru_cache(maxsize=1024)
def _names_regex(names: tuple[str, ...]) -> re.Pattern[str] | None:
    source = name_pattern(names)
    return None if source is None else re.compile(source, re.IGNORECASE)


def _leftmost(text: str, patterns: list[re.Pattern[str]]) -> list[tuple[int, int]] | None:
    """The spans of the alternation of `patterns` (leftmost match first, the
    earlier pattern at a tie), from each pattern searched on its own; None
    if one matches empty (the alternation would report that, not skip it)."""
    spans: list[tuple[int, int]] = []
    position = 0
    upcoming = [p.search(text) for p in patterns]
    while True:
        best = None
        for found in upcoming:
            if found is not None and (best is None or found.start() < best.start()):
                best = found
        if best is None:
            return spans
        if best.end() == best.start():
            return None
        spans.append(best.span())
        position = best.end()
        upcoming = [
            found if found is None or found.start() >= position else p.search(text, position)
            for p, found in zip(patterns, upcoming, strict=True)
        ]


def redaction_spans(text: str, identifiers: Iterable[object]) -> list[tuple[int, int]]:
    """What redact_text replaces: the spans compile_identifiers' patterns
    find, run in order on a text masked as it goes, found without compiling
    a pattern per set of identifiers."""
    identifiers = list(identifiers)
    contacts: list[re.Pattern[str]] = []
    names: list[str] = []
    for identifier in _usable(identifiers):
        pattern = _contact(identifier)
        if pattern is not None:
            contacts.append(pattern)
        else:
            names.append(identifier)
    found = _leftmost(text, contacts) if contacts else []
    if found is None:
        return _spans(text, compile_identifiers(identifiers))
    working = _masked(text, found)
    named = name_spans(working, tuple(names)) if names else []
    if named is None:  # a case the span finder leaves to the compiled pattern
        regex = _names_regex(tuple(names))
        named = [] if regex is None else _spans(working, [regex])
    return sorted(found + named)


def redact_text(
    text: str | None, identifiers: Iterable[str | None], replacement: str = "[redacted]"
) -> str | None:
    """`text` with every occurrence of each identifier replaced by `replacement`."""
    if text is None:
        return None
    if not isinstance(text, str):
        raise TypeError(f"redact_text needs a str, not {type(text).__name__}")
    spans = redaction_spans(text, identifiers)
    if not spans:
        return text
    pieces: list[str] = []
    position = 0
    for start, end in spans:
        pieces.append(text[position:start])
        pieces.append(replacement)
        position = end
    pieces.append(text[position:])
    return "".join(pieces)
