"""Which of many people's identifiers a text may hold, without running every
one's pattern on it.

A batch of a thousand erasure requests redacts thousands of names, emails
and numbers; one regex of them all costs milliseconds per text and is
rebuilt per row. Every written form of an identifier contains a short key
the text can be indexed by in one pass:
- an email address: itself (any case), at an '@' of the text;
- a phone number: its last seven digits (all, if fewer), among the text's digits once the
  punctuation people type between them is dropped;
- a name word: its first three letters, or those of its -nen stem
  (Virtanen -> Virtasen) or its weak grade (Otto -> Oton), at the start of a
  word of the text (words of two letters or less: the whole word).
`relevant(text)` gives the identifiers whose key the text holds (for a
name, a word of the text that is one of its word's forms); the redactor then
runs only their patterns. A name's initial alone (an "M." before
someone else's surname) is no key: the text must hold one of its words.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from functools import lru_cache

from retention.anonymise.redact_contacts import is_email, phone_pattern
from retention.anonymise.redact_names import _forms, name_words

_KEY = 3
_PHONE_TAIL = 7
_WORD = re.compile(r"[^\W\d_]+")
_AT_TOKEN = re.compile(r"[^\s@]*@[^\s@]*")
_PHONE_PUNCTUATION = re.compile(r"[\s\-./()+]")
_DIGIT_RUN = re.compile(r"\d+")
# The consonant gradation redact_names applies: Matti -> Matin, Otto -> Oton
# (for index keys, also inside a word: a key may be found too often, never
# too rarely).
_GRADATION = re.compile(r"(.*[^\W\d_])([kpt])\2([aeiouyäö].*)", re.IGNORECASE)
# Exactly where redact_names applies it (a double k, p or t before a final
# vowel): a needle must be in every form, and is best as long as that allows.
_FINAL_GRADATION = re.compile(r"(.*[^\W\d_])([kpt])\2([aeiouyäö])", re.IGNORECASE)


def _fold(text: str) -> str:
    return unicodedata.normalize("NFC", text).casefold()


def _name_keys(word: str) -> set[str]:
    word = _fold(word)
    if len(word) < _KEY:
        return {word}
    forms = {word}
    if len(word) > 4 and word.endswith("nen"):
        forms.add(word[:-3] + "s")
    weak = _GRADATION.fullmatch(word)
    if weak:
        forms.add(weak[1] + weak[2] + weak[3])
    return {form[:_KEY] for form in forms}


def name_stem(word: str) -> str:
    """The longest start every written form of a name word shares, for a
    database search: Virtanen -> virta (Virtasen), Matti -> mat (Matin),
    Laine -> laine (Laineen): a name without a -nen stem or a weak grade
    keeps its whole word, and finds far fewer rows than its first letters."""
    word = _fold(word)
    forms = [word]
    if len(word) > 4 and word.endswith("nen"):
        forms.append(word[:-3] + "s")
    weak = _FINAL_GRADATION.fullmatch(word)
    if weak:
        forms.append(weak[1] + weak[2] + weak[3])
    stem = forms[0]
    for form in forms[1:]:
        while not form.startswith(stem):
            stem = stem[:-1]
    return stem


@lru_cache(maxsize=65536)
def _word_forms(word: str) -> re.Pattern[str]:
    """Every form of one name word the redactor finds (as a whole word): its
    own word-forms source, not a whole name pattern (a quarter of the size:
    compiling is most of this index's cost)."""
    return re.compile(_forms(word), re.IGNORECASE)


class MentionIndex:
    """Identifiers (names, emails, phone numbers) by the keys their written
    forms hold; anything else it cannot key is always relevant."""

    def __init__(self, identifiers: Iterable[str]) -> None:
        self.emails: dict[str, set[str]] = {}
        self.phones: dict[str, set[str]] = {}
        self.names: dict[str, set[str]] = {}  # key -> name words
        self.owners: dict[str, set[str]] = {}  # name word -> identifiers
        self.always: set[str] = set()
        for identifier in identifiers:
            text = " ".join(str(identifier).split())
            if not text:
                continue
            if is_email(text):
                self.emails.setdefault(_fold(text), set()).add(identifier)
            elif phone_pattern(text) is not None:
                tail = re.sub(r"\D", "", text)[-_PHONE_TAIL:]
                self.phones.setdefault(tail, set()).add(identifier)
            else:
                words = name_words(text)
                if not words:
                    self.always.add(identifier)
                for word in words:
                    self.owners.setdefault(word, set()).add(identifier)
                    for key in _name_keys(word):
                        self.names.setdefault(key, set()).add(word)

    def relevant(self, text: str) -> list[str]:
        found = set(self.always)
        folded = _fold(text)
        if self.emails and "@" in folded:
            for token in _AT_TOKEN.findall(folded):
                local, _, domain = token.partition("@")
                for start in range(len(local)):
                    for end in range(1, len(domain) + 1):
                        found |= self.emails.get(f"{local[start:]}@{domain[:end]}", set())
        if self.phones:
            lengths = {len(tail) for tail in self.phones}  # a number may have only 6 digits
            for run in _DIGIT_RUN.findall(_PHONE_PUNCTUATION.sub("", folded)):
                for size in lengths:
                    for start in range(len(run) - size + 1):
                        found |= self.phones.get(run[start : start + size], set())
        if self.names:
            # A key only narrows: "Liisa" shares one with "Liisamari", so the
            # word's own forms decide.
            for token in set(_WORD.findall(folded)):
                key = token[:_KEY] if len(token) >= _KEY else token
                for word in self.names.get(key, ()):
                    if _word_forms(word).fullmatch(token):
                        found |= self.owners[word]
        return sorted(found)
