"""The mention index (retention.anonymise.redact_index): a text redacted with
only the identifiers the index finds relevant to it comes out exactly as
redacted with every identifier of a whole batch, for names in their
inflected forms, emails in any case and phone numbers in any spacing."""

from __future__ import annotations

import unicodedata

from hypothesis import given, settings
from hypothesis import strategies as st

from retention.anonymise.redact import redact_text
from retention.anonymise.redact_index import MentionIndex, _any_of, name_stem

PEOPLE = [
    ("Matti Virtanen", "matti.virtanen@example.fi", "+358 40 123 4567"),
    ("Otto Laine", "otto.laine@example.fi", "050 765 4321"),
    ("Pekka Hämäläinen", "PEKKA.H@Example.com", "+46 70 123 45 67"),
    ("Anna-Liisa Smith", "als@example.co.uk", "123456"),
    ("Li Wang", "li.wang@example.cn", "+86 138 0013 8000"),
    ("Jukka Nieminen", "jukka@nieminen.example", "09 555 1234"),
]
ALL = [value for person in PEOPLE for value in person] + ["mvirtanen", "pwang88"]
MENTIONS = [
    "Virtasen", "Virtaselle", "Matin", "Mattia", "MATTI VIRTANEN", "Virtanen, Matti",
    "M. Virtanen", "Virtanenkin", "Oton", "Ottolle", "Laineen", "Pekan",
    unicodedata.normalize("NFD", "Hämäläisen"), "Anna-Liisa", "Liisa", "Smith's", "Smith:n",
    "Li Wang", "Wang", "Niemisen", "MATTI.VIRTANEN@EXAMPLE.FI", "<otto.laine@example.fi>",
    "pekka.h@example.com", "040-123 4567", "0401234567", "(050) 765 43 21", "+46 70 1234567",
    "123 456", "+86 138 0013 8000", "09-555 1234", "@mvirtanen", "pwang88",
]  # fmt: skip
FILLER = ["Hello", "the printer", "is broken", "call", "Matias", "Lainelaskuri", "Wangari",
          "12 34 56", "info@example.fi", "tomorrow.", "Otsikko", "Pekingissä", ","]  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(MENTIONS + FILLER), min_size=1, max_size=8))
def test_redacting_with_the_relevant_identifiers_equals_redacting_with_all(pieces):
    text = " ".join(pieces)
    index = MentionIndex(ALL)
    assert redact_text(text, index.relevant(text)) == redact_text(text, ALL)


def test_a_text_naming_nobody_needs_no_identifier():
    index = MentionIndex(ALL)
    assert index.relevant("The printer on floor 3 is broken; ticket 98.") == []
    assert index.relevant("Terveisin Virtasen tiimi") == ["Matti Virtanen"]
    assert "+358 40 123 4567" in index.relevant("soita 040 123 4567")


def test_a_name_stem_is_in_every_form_the_redactor_finds():
    forms = {
        "Virtanen": ["Virtanen", "Virtasen", "Virtaselle", "VIRTASTA", "Virtanenkin"],
        "Matti": ["Matti", "Matin", "Mattia", "Matille"],
        "Laine": ["Laine", "Laineen", "Lainetta", "Laine's"],
        "Mikael": ["Mikael", "Mikaelin", "Mikaels"],
        "Hämäläinen": ["Hämäläisen", "HÄMÄLÄINEN"],
    }
    for word, written in forms.items():
        stem = name_stem(word)
        assert len(stem) >= 3
        for form in written:
            assert "[redacted]" in (redact_text(form, [word]) or ""), form
            assert stem in form.casefold(), (word, stem, form)
    assert name_stem("Laine") == "laine" and name_stem("Virtanen") == "virta"
    assert name_stem("Pekkarinen") == "pekkari"  # no weak grade inside a word


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.text("abö'-.[]^\\ ", max_size=4), max_size=8),
    st.text("abö'-.[]^\\ x", max_size=30),
)
def test_the_start_finder_finds_every_place_a_start_begins(starts, text):
    """The pre-filter of a text (one trie pattern of every name start) finds
    a start wherever one begins, also one inside another, one that is a
    start of another, and one of the characters a pattern treats specially."""
    anywhere, where = _any_of(tuple(sorted(set(starts))))
    places = {m.start() for m in where.finditer(text)}
    expected = {i for i in range(len(text) + 1) for s in starts if text.startswith(s, i)}
    assert places == expected
    assert (anywhere.search(text) is not None) == bool(expected)
