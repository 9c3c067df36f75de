"""Where a set of names is in a text, without compiling the set's pattern.

name_pattern (redact_names) is one regex per set of name identifiers; it
costs tens of milliseconds to compile, and a batch of a thousand erasure
requests meets a thousand different sets (a text names one person, and
each person is a set of their own), so compiling it per set was most of a
batch's time. This finds the very spans that pattern finds from parts that
are compiled once per word or once per process:

- every name word's forms alone (`word_forms`, cached per word) give the
  text's name-word regions: at each word start, the extent the pattern's
  `any_word` takes there (the first word in its order that matches);
- the pattern's run structure (initials, separators, words) does not depend
  on the words once they are found, so it runs as one fixed regex over a
  shadow of the text in which each region is a run of a placeholder
  character and each initial's letter another one (same length: spans map
  back one to one);
- whole identifiers and lone words are tried at each start in the
  pattern's order of alternatives.

A regex tries its alternatives at the leftmost position first, in order;
`spans` does the same over the only positions where an alternative can
start. Where the shadow could differ from the pattern (two words' forms
ending differently at one start, regions overlapping, an initial that is
also a word, a placeholder character in the text itself), it answers None
and the caller compiles the pattern as before.
"""

from __future__ import annotations

import re
from functools import lru_cache

from retention.anonymise.redact_names import NameParts, name_parts, whole_regex, word_forms

_ALONE = "\ue000"  # a region that may be redacted on its own
_WORD_ONLY = "\ue001"  # a region that goes only as part of a run
_INITIAL = "\ue002"  # the letter of an initial ("M" of "M.")
_SHADOW_CHARS = (_ALONE, _WORD_ONLY, _INITIAL)

# name_pattern's run alternatives, over the shadow (redact_names: runs).
_X = f"[{_ALONE}{_WORD_ONLY}]+"
_I = rf"{_INITIAL}\."
_SEP = r"(?:\s*,\s*|\s+|(?<=\.))"
_T = f"(?:{_X}|{_I})"
_RUN = re.compile(rf"(?:(?:{_I}{_SEP})+{_X}(?:{_SEP}{_T})*)|(?:{_X}(?:{_SEP}{_T})+)")
# A capital and a dot after a non-word character; name_pattern's own class
# of initials (first letters of the words, upper-cased) is checked apart.
_INITIAL_AT = re.compile(r"(?<!\w)(.)\.", re.DOTALL)
# Where a name word may start: a letter after a non-word character.
_WORD_START = re.compile(r"(?<!\w)[^\W\d_]")


@lru_cache(maxsize=4096)
def _parts(names: tuple[str, ...]) -> NameParts:
    return name_parts(names)


def name_spans(text: str, names: tuple[str, ...]) -> list[tuple[int, int]] | None:
    """The spans name_pattern(names) finds in `text` (leftmost first, not
    overlapping), or None where this cannot be sure to agree with it."""
    parts = _parts(names)
    if not parts.words or any(c in text for c in _SHADOW_CHARS):
        return None
    alone = set(parts.alone)
    regions: dict[int, tuple[int, bool]] = {}  # start -> (end, may go alone)
    for start_match in _WORD_START.finditer(text):
        start = start_match.start()
        ends: set[int] = set()
        alone_here = False
        for word in parts.words:
            end = word_forms(word).match_end(text, start)
            if end is not None:
                ends.add(end)
                alone_here = alone_here or word in alone
        if len(ends) > 1:
            return None  # words whose forms end differently here: the pattern backtracks
        if ends:
            regions[start] = (ends.pop(), alone_here)
    initials = set("".join(w[0].upper() for w in parts.words))
    initial_at = [m.start() for m in _INITIAL_AT.finditer(text) if m.group(1) in initials]
    shadow = list(text)
    covered = -1
    for start in sorted(regions):
        end, may_alone = regions[start]
        if start < covered:
            return None  # overlapping regions
        shadow[start:end] = (_ALONE if may_alone else _WORD_ONLY) * (end - start)
        covered = end
    for at in initial_at:
        if shadow[at] != text[at]:
            return None  # an initial inside a region, or one that is also a word
        shadow[at] = _INITIAL
    image = "".join(shadow)
    whole_starts: set[int] = set()
    for identifier in parts.wholes:
        pattern = whole_regex(identifier)
        found = pattern.search(text)
        while found:
            whole_starts.add(found.start())
            found = pattern.search(text, found.start() + 1)
    spans: list[tuple[int, int]] = []
    position = 0
    for start in sorted(set(regions) | set(initial_at) | whole_starts):
        if start < position:
            continue
        end = _end_at(text, image, start, parts, regions)
        if end is not None:
            spans.append((start, end))
            position = end
    return spans


def _end_at(
    text: str, image: str, start: int, parts: NameParts, regions: dict[int, tuple[int, bool]]
) -> int | None:
    """Where name_pattern's first alternative that matches at `start` ends."""
    run = _RUN.match(image, start)
    if run and run.end() > start:
        return run.end()
    for identifier in parts.wholes:
        found = whole_regex(identifier).match(text, start)
        if found and found.end() > start:
            return found.end()
    region = regions.get(start)
    if region is not None and region[1]:
        return region[0]
    return None
