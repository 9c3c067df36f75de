"""Which of many people's identifiers a text may hold, without running every
one's pattern on it.

A batch of a thousand erasure requests redacts thousands of names, emails
and numbers; one regex of them all costs milliseconds per text and is
rebuilt per row. Every written form of an identifier contains a short key
the text can be indexed by in one pass:
- an email address: itself (any case), at an '@' of the text;
- a phone number: its last seven digits (all, if fewer), among the text's digits once the
  punctuation people type between them is dropped;
- a name word: its stem, the start all its forms share (Virtanen -> virta,
  for Virtasen; Otto -> ot, for Oton), at the start of a word of the text.
`relevant(text)` gives the identifiers whose key the text holds (for a
name, a word of the text that is one of its word's forms); the redactor then
runs only their patterns. A stem, not the first three letters: a batch of a
thousand people has a hundred Pekkas whose names start "pek", and each
would be tried on every "Pekka..." of every text. A name's initial alone (an "M." before
someone else's surname) is no key: the text must hold one of its words.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from functools import lru_cache
from typing import Any

from retention.anonymise.redact_contacts import is_email, phone_pattern
from retention.anonymise.redact_names import name_words, whole_regex, word_forms

_PHONE_TAIL = 7
_KEY = 3  # letters a name's start is looked up by
# Where a name's forms may start: a letter after a non-word character (as
# the redactor's pattern has it; a name word may hold an apostrophe or a
# hyphen, so the text is not cut into words first: O'Brien-Matti).
_WORD_START = re.compile(r"(?<!\w)[^\W\d_]")
_LEADING_LETTERS = re.compile(r"[^\W\d_]+")


def _around_ats(text: str) -> list[tuple[str, str]]:
    """For each '@', the run of other characters before and after it (up to
    a space or another '@'). Every '@' gets its own pair: a word such as
    `@handle'anna@x.fi` holds an email after its second '@', which a
    left-to-right token match would have consumed with the first."""
    pairs: list[tuple[str, str]] = []
    for word in text.split():
        parts = word.split("@")
        pairs += zip(parts, parts[1:], strict=False)
    return pairs


_PHONE_PUNCTUATION = re.compile(r"[\s\-./()+]")
_DIGIT_RUN = re.compile(r"\d+")
# Exactly where redact_names applies it (a double k, p or t before a final
# vowel): a needle must be in every form, and is best as long as that allows.
_FINAL_GRADATION = re.compile(r"(.*[^\W\d_])([kpt])\2([aeiouyäö])", re.IGNORECASE)


def _fold(text: str) -> str:
    return unicodedata.normalize("NFC", text).casefold()


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
def _classified(text: str) -> tuple[str, str, tuple[tuple[str, str], ...]]:
    """(kind, key, name words with their stems) of one identifier, once a
    process: each redact step of a batch's rules indexes the same thousands
    of identifiers, and telling a phone number costs a parse."""
    if is_email(text):
        return "email", _fold(text), ()
    if phone_pattern(text) is not None:
        return "phone", re.sub(r"\D", "", text)[-_PHONE_TAIL:], ()
    leading = _LEADING_LETTERS.match(text)
    words = tuple((word, name_stem(word)) for word in name_words(text))
    return "name", _fold(leading.group()) if leading else "", words


class MentionIndex:
    """Identifiers (names, emails, phone numbers) by the keys their written
    forms hold; anything else it cannot key is always relevant."""

    def __init__(self, identifiers: Iterable[str]) -> None:
        self.emails: dict[str, set[str]] = {}
        self.phones: dict[str, set[str]] = {}
        # A name's starts by their first letters (at most _KEY): (the start,
        # what to match where the text has it). A name word's start is its
        # stem, the start all its forms share; an identifier as given (the
        # redactor also matches it whole: mvirtanen2, where no word of it
        # ends) starts with its leading letters.
        self.starts: dict[str, _Bucket] = {}
        self.reach = 0
        self.phone_lengths: list[int] = []  # a number may have only 6 digits
        self.owners: dict[str, set[str]] = {}  # name word -> identifiers
        self.always: set[str] = set()
        # Any start, anywhere (and where each is): built on first use.
        self._found_by: tuple[re.Pattern[str], re.Pattern[str]] | None = None
        for identifier in identifiers:
            text = " ".join(str(identifier).split())
            if not text:
                continue
            kind, key, words = _classified(text)
            if kind == "email":
                self.emails.setdefault(key, set()).add(identifier)
            elif kind == "phone":
                self.phones.setdefault(key, set()).add(identifier)
            else:
                if not words or not key:
                    self.always.add(identifier)  # a whole that may start anywhere
                else:
                    self._start(key, identifier, whole=True)
                for word, stem in words:
                    self.owners.setdefault(word, set()).add(identifier)
                    self._start(stem, word, whole=False)
        self.reach = 2 * max((b.lengths[-1] for b in self.starts.values()), default=0)
        # Once here, not per text: a batch holds a thousand numbers.
        self.phone_lengths = sorted({len(tail) for tail in self.phones})

    def _finder(self) -> tuple[re.Pattern[str], re.Pattern[str]]:
        if self._found_by is None:
            self._found_by = _any_of(
                tuple(sorted(s for bucket in self.starts.values() for s in bucket.by_start))
            )
        return self._found_by

    def _start(self, start: str, target: str, *, whole: bool) -> None:
        bucket = self.starts.get(start[:_KEY])
        if bucket is None:
            bucket = self.starts[start[:_KEY]] = _Bucket()
        bucket.add(start, target, whole)

    def relevant(self, text: str) -> list[str]:
        found = set(self.always)
        folded = _fold(text)
        if self.emails and "@" in folded:
            for local, domain in _around_ats(folded):
                for start in range(len(local)):
                    for end in range(1, len(domain) + 1):
                        found.update(self.emails.get(f"{local[start:]}@{domain[:end]}", ()))
        if self.phones:
            for run in _DIGIT_RUN.findall(_PHONE_PUNCTUATION.sub("", folded)):
                for size in self.phone_lengths:
                    for start in range(len(run) - size + 1):
                        found.update(self.phones.get(run[start : start + size], ()))
        if self.starts:
            found |= self._names_in(text, folded)
        return sorted(found)

    def _names_in(self, text: str, folded: str) -> set[str]:
        found: set[str] = set()
        # Where folding kept every character one character (NFC already,
        # no ß -> ss), the folded text is read at the text's own positions.
        aligned = len(folded) == len(text) and unicodedata.is_normalized("NFC", text)
        if aligned:
            anywhere, where = self._finder()
            first = anywhere.search(folded)
            if first is None:
                # Most texts name nobody of the batch: no start of anyone's
                # name is anywhere in them (one pass in C over the text,
                # instead of a loop over every word).
                return found
            # Only where a start is, and only at a start of a word; there
            # the start decides nothing yet.
            at_starts = [m.start() for m in where.finditer(folded, first.start())]
            places = [at for at in at_starts if _WORD_START.match(text, at)]
        else:
            places = [m.start() for m in _WORD_START.finditer(text)]
        for at in places:
            # room for decomposed letters (ä as a and a combining mark)
            head = folded[at : at + self.reach] if aligned else _fold(text[at : at + self.reach])
            for size in range(1, min(_KEY, len(head)) + 1):
                bucket = self.starts.get(head[:size])
                if bucket is None:
                    continue
                for length in bucket.lengths:
                    # A start only narrows ("Liisa" begins "Liisamari"): the
                    # redactor's own match, where it would try it, decides.
                    for target, whole in bucket.by_start.get(head[:length], ()):
                        if whole:
                            if whole_regex(target).match(text, at):
                                found.add(target)
                        elif word_forms(target).match_end(text, at) is not None:
                            found |= self.owners[target]
        return found


@lru_cache(maxsize=8)
def mention_index(identifiers: tuple[str, ...]) -> MentionIndex:
    """The index of these identifiers, built once a process: a batch's
    mention search and each redact step of its rules (a step per column of
    each dataset) index the same thousands of identifiers. An index is not
    changed once built."""
    return MentionIndex(identifiers)


@lru_cache(maxsize=64)
def _any_of(starts: tuple[str, ...]) -> tuple[re.Pattern[str], re.Pattern[str]]:
    """Patterns that find any of `starts` (as they are: folded) anywhere in
    a text, and every place one begins (a lookahead: places may overlap),
    as a trie (vir(?:ta|pi)), so a text is read once however
    many starts there are; an alternation of thousands would try each in
    turn at every letter. A start that begins with another is left out: the
    shorter one is found wherever the longer one is."""
    trie: dict[str, Any] = {}
    for start in sorted(starts, key=len):
        node = trie
        for char in start:
            if "" in node:
                break  # a shorter start already ends here
            node = node.setdefault(char, {})
        else:
            node.clear()
            node[""] = {}
    any_start = _trie_pattern(trie) if trie else "(?!)"
    return re.compile(any_start), re.compile(f"(?=(?:{any_start}))")


def _trie_pattern(node: dict[str, Any]) -> str:
    if "" in node:
        return ""
    branches = [re.escape(char) + _trie_pattern(child) for char, child in sorted(node.items())]
    if len(branches) == 1:
        return branches[0]
    if all(len(child) == 1 and "" in child for child in node.values()):
        return "[" + "".join(re.escape(char) for char in sorted(node)) + "]"
    return "(?:" + "|".join(branches) + ")"


class _Bucket:
    """The starts that share their first letters, by start: a batch has a
    hundred people whose names begin "pek"."""

    def __init__(self) -> None:
        self.by_start: dict[str, list[tuple[str, bool]]] = {}
        self.lengths: list[int] = []

    def add(self, start: str, target: str, whole: bool) -> None:
        if start not in self.by_start:
            self.by_start[start] = []
            if len(start) not in self.lengths:
                self.lengths = sorted([*self.lengths, len(start)])
        listed = self.by_start[start]
        if (target, whole) not in listed:
            listed.append((target, whole))
