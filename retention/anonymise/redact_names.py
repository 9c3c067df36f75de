"""A regex source that finds a person's name in free text, in the forms people
write it.

Rules (all case-insensitive, on word boundaries):
- the identifier exactly as given, any whitespace between its words;
- the words of all name identifiers, in any order, joined by spaces or a
  comma: "Matti Virtanen", "Virtanen Matti", "Virtanen, Matti";
- initials (capital letter and a dot) beside a word: "M. Virtanen",
  "M.Virtanen", "Virtanen, M.", "Matti V.";
- one word alone only when it has at least 3 letters, or is a whole
  identifier by itself: "Li" of "Li Wang" stays, "Virtanen" goes;
- inflected forms: Finnish case endings ("Virtasen", "Virtaselle", "Matin",
  "Mattia", "Laineen"), "Smith:n", possessive "Smith's", Swedish "Virtanens".
A word of a company or street name given as an identifier is a name word too:
list as identifiers only columns that name the person.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

_WORD = re.compile(r"[^\W\d_]+(?:['’\-][^\W\d_]+)*")
_ENDINGS = (
    "ineen|lle|lla|llä|lta|ltä|ssa|ssä|sta|stä|ksi|tta|ttä|han|hen|hin|hon|hun|hyn|hän|hön"
    "|ta|tä|na|nä|en|in|n|a|ä|t|s"
)
# After -nen the stem ends in -s: Virtanen -> Virtasen, Virtaselle, Virtasta.
_NEN_ENDINGS = "e(?:en|lle|lla|llä|lta|ltä|ssa|ssä|sta|stä|ksi|na|nä|n|t)|t[aä]|ten"
# Consonant gradation: Matti -> Matin, Pekka -> Pekan, Antti -> Antille.
_GRADATION = re.compile(r"(.*[^\W\d_])([kpt])\2([aeiouyäö])", re.IGNORECASE)
_WEAK_ENDINGS = "lle|lla|llä|lta|ltä|ssa|ssä|sta|stä|ksi|n|t"
# "Virtanenkin", "Matinkaan": a clitic may follow any form.
_CLITICS = "kin|kaan|kään"
_INITIAL_SEP = r"(?:\s*,\s*|\s+|(?<=\.))"
_MIN_ALONE = 3


def _spellings(word: str) -> list[str]:
    # Text from another system may carry "ä" decomposed (a + combining diaeresis).
    return sorted({word, unicodedata.normalize("NFC", word), unicodedata.normalize("NFD", word)})


def _forms(word: str) -> str:
    forms: list[str] = []
    for spelling in _spellings(word):
        escaped = re.escape(spelling)
        forms.append(rf"{escaped}(?:[:'’]?(?:{_ENDINGS}))?")
        if len(spelling) > 4 and spelling.lower().endswith("nen"):
            forms.append(rf"{re.escape(spelling[:-3])}s(?:{_NEN_ENDINGS})")
        weak = _GRADATION.fullmatch(spelling)
        if weak:
            forms.append(rf"{re.escape(weak[1] + weak[2] + weak[3])}(?:{_WEAK_ENDINGS})")
    return rf"(?<!\w)(?:{'|'.join(forms)})(?:{_CLITICS})?(?!\w)"


def name_words(identifier: str) -> list[str]:
    """The words of a name; a hyphenated name also gives its parts."""
    words: list[str] = []
    for word in _WORD.findall(identifier):
        words.append(word)
        if "-" in word:
            words.extend(part for part in word.split("-") if part)
    return words


def _whole(identifier: str) -> str:
    body = r"\s+".join(re.escape(token) for token in identifier.split())
    start = r"(?<!\w)" if re.match(r"\w", identifier) else ""
    end = r"(?!\w)" if re.search(r"\w$", identifier) else ""
    return start + body + end


# _forms(word) split where its literal part ends: the word-specific part is
# a literal, the rest is the same for every word (compiled once here).
_SUFFIX_PLAIN = re.compile(rf"(?:[:'’]?(?:{_ENDINGS}))?(?:{_CLITICS})?(?!\w)", re.IGNORECASE)
_SUFFIX_NEN = re.compile(rf"(?:{_NEN_ENDINGS})(?:{_CLITICS})?(?!\w)", re.IGNORECASE)
_SUFFIX_WEAK = re.compile(rf"(?:{_WEAK_ENDINGS})(?:{_CLITICS})?(?!\w)", re.IGNORECASE)
_NOT_AFTER_WORD = re.compile(r"(?<!\w)")


class WordForms:
    """re.compile(_forms(word), re.IGNORECASE), in effect, without compiling
    it (a millisecond or more a word; a batch of requests has thousands):
    each alternative of _forms is a literal base (compiled alone, cheap)
    and a suffix shared by every word, tried in _forms' order, so the
    first match found is the regex's."""

    def __init__(self, word: str) -> None:
        self.bases: list[tuple[re.Pattern[str], int, re.Pattern[str]]] = []
        for spelling in _spellings(word):
            self._add(spelling, _SUFFIX_PLAIN)
            if len(spelling) > 4 and spelling.lower().endswith("nen"):
                self._add(spelling[:-3] + "s", _SUFFIX_NEN)
            weak = _GRADATION.fullmatch(spelling)
            if weak:
                self._add(weak[1] + weak[2] + weak[3], _SUFFIX_WEAK)

    def _add(self, base: str, suffix: re.Pattern[str]) -> None:
        # A literal matched ignoring case takes exactly one character per character.
        self.bases.append((re.compile(re.escape(base), re.IGNORECASE), len(base), suffix))

    def match_end(self, text: str, position: int = 0) -> int | None:
        """Where the forms' regex, matched at `position`, ends (None: no match)."""
        if not _NOT_AFTER_WORD.match(text, position):
            return None
        for literal, size, suffix in self.bases:
            if literal.match(text, position):
                found = suffix.match(text, position + size)
                if found:
                    return found.end()
        return None

    def fullmatch(self, token: str) -> bool:
        return any(
            literal.match(token) and suffix.fullmatch(token, size)
            for literal, size, suffix in self.bases
        )


@lru_cache(maxsize=65536)
def word_forms(word: str) -> WordForms:
    """One name word's forms alone (as a whole word), built once per
    process: what the fast span finder (redact_spans) and the mention index
    share."""
    return WordForms(word)


@dataclass(frozen=True)
class NameParts:
    """What name_pattern is made of, in its order of trial: `words` as
    any_word tries them, `wholes` and `alone` as the pattern's last
    alternatives list them."""

    words: list[str]
    alone: list[str]
    wholes: list[str]


def name_parts(identifiers: Iterable[str]) -> NameParts:
    identifiers = [i for i in identifiers if i]
    words = sorted({w for i in identifiers for w in name_words(i)}, key=len, reverse=True)
    if not words:
        return NameParts([], [], list(identifiers))
    alone_ok = {w for w in words if len(w) >= _MIN_ALONE}
    alone_ok |= {i for i in identifiers if _WORD.fullmatch(i)}
    wholes = sorted(identifiers, key=len, reverse=True)
    return NameParts(words, sorted(alone_ok, key=len, reverse=True), wholes)


def initials_of(words: Iterable[str]) -> str:
    return "".join(sorted({re.escape(w[0].upper()) for w in words}))


@lru_cache(maxsize=65536)
def whole_regex(identifier: str) -> re.Pattern[str]:
    """name_pattern's alternative for the identifier exactly as given."""
    return re.compile(_whole(identifier), re.IGNORECASE)


def name_pattern(identifiers: Iterable[str]) -> str | None:
    """One regex source for all the name-like identifiers of one subject."""
    parts = name_parts(identifiers)
    if not parts.words:
        wholes = [_whole(i) for i in parts.wholes]
        return "|".join(wholes) if wholes else None
    any_word = "(?:" + "|".join(_forms(w) for w in parts.words) + ")"
    # Capital initials only, and only with a dot: "I met" must not read as a name.
    initial = rf"(?<!\w)(?-i:[{initials_of(parts.words)}])\."
    token = f"(?:{any_word}|{initial})"
    run_from_initials = rf"(?:{initial}{_INITIAL_SEP})+{any_word}(?:{_INITIAL_SEP}{token})*"
    run_from_word = rf"{any_word}(?:{_INITIAL_SEP}{token})+"
    # Runs first: "Li Wang" is one name, not the identifier "Li" then "Wang".
    alternatives = [run_from_initials, run_from_word]
    alternatives += [_whole(i) for i in parts.wholes]
    alternatives += [_forms(w) for w in parts.alone]
    return "|".join(f"(?:{a})" for a in alternatives)
