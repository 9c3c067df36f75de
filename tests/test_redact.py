"""redact_text: the subject's identifiers leave free text; everything else stays."""

from __future__ import annotations

import pytest

from retention.anonymise import redact_text

MATTI = ["Matti Virtanen", "matti.virtanen@example.fi", "+358 40 123 4567"]
R = "[redacted]"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Matti Virtanen called.", f"{R} called."),
        ("MATTI VIRTANEN called.", f"{R} called."),
        ("Virtanen, Matti called.", f"{R} called."),
        ("Virtanen Matti called.", f"{R} called."),
        ("M. Virtanen called.", f"{R} called."),
        ("M.Virtanen called.", f"{R} called."),
        ("Matti V. called.", f"{R} called."),
        ("Matti called.", f"{R} called."),
        ("Called virtanen.", f"Called {R}."),
        ("Matti\n  Virtanen called.", f"{R} called."),
    ],
)
def test_the_forms_people_write_a_name_in(text: str, expected: str) -> None:
    assert redact_text(text, MATTI) == expected


@pytest.mark.parametrize(
    "form",
    [
        "Virtasen",
        "Virtaselle",
        "Virtasta",
        "Virtasella",
        "Virtanenkin",
        "Matin",
        "Mattia",
        "Matille",
        "Virtanens",
        "Virtanen's",
        "Virtanen’s",
    ],
)
def test_inflected_and_possessive_forms_go_too(form: str) -> None:
    assert redact_text(f"Puhuin {form} kanssa.", MATTI) == f"Puhuin {R} kanssa."


@pytest.mark.parametrize(
    "text",
    ["Mattila was there.", "Virtanenhof", "matti2", "Lomatti"],
)
def test_other_words_that_contain_a_name_stay(text: str) -> None:
    result = redact_text(text, ["Matti Virtanen"])
    assert result == text


@pytest.mark.parametrize(
    "text", ["cc xmatti.virtanen@example.fi", "cc matti.virtanen@example.fi.com"]
)
def test_another_address_containing_the_email_stays(text: str) -> None:
    assert redact_text(text, ["matti.virtanen@example.fi"]) == text


def test_an_email_at_the_end_of_a_sentence_goes() -> None:
    assert redact_text("Write to matti.virtanen@example.fi.", ["matti.virtanen@example.fi"]) == (
        "Write to [redacted]."
    )


@pytest.mark.parametrize(
    "email", ["matti.virtanen@example.fi", "MATTI.VIRTANEN@EXAMPLE.FI", "Matti.Virtanen@Example.fi"]
)
def test_an_email_in_any_case_goes_whole(email: str) -> None:
    assert redact_text(f"Mail <{email}> now", MATTI) == f"Mail <{R}> now"


@pytest.mark.parametrize(
    "phone",
    [
        "+358 40 123 4567",
        "+358401234567",
        "+358 (0)40 123 4567",
        "(+358) 40 123 4567",
        "+358 040 123 4567",
        "00358 40 1234567",
        "040 123 4567",
        "040-1234567",
        "(040) 123 45 67",
        "040.123.45.67",
        "0401234567",
    ],
)
def test_a_phone_number_in_any_spacing_or_prefix_goes(phone: str) -> None:
    assert redact_text(f"Soita {phone} huomenna", MATTI) == f"Soita {R} huomenna"


def test_a_national_phone_identifier_also_finds_the_international_form() -> None:
    assert redact_text("Ring +46 70 123 45 67.", ["070-123 45 67"]) == f"Ring {R}."


def test_a_bracketed_country_code_identifier_finds_every_form() -> None:
    text = "a +358401234567 b 040 123 4567 c (+358) 40 1234567 d"
    assert redact_text(text, ["(+358) 40 123 4567"]) == f"a {R} b {R} c {R} d"


def test_other_numbers_stay() -> None:
    text = "Invoice 2024-05-17, order 1234567, phone 040 765 4321."
    assert redact_text(text, MATTI) == text


def test_a_short_name_part_is_only_taken_with_the_rest_of_the_name() -> None:
    text = "Li Wang met Wang, Li and L. Wang; Li is also a word in Lithuania."
    assert redact_text(text, ["Li Wang"]) == f"{R} met {R} and {R}; Li is also a word in Lithuania."


def test_a_short_identifier_given_alone_is_taken() -> None:
    assert redact_text("Bo Ek called; Ek called", ["Bo", "Ek"]) == f"{R} called; {R} called"


def test_nordic_letters_and_hyphenated_names() -> None:
    text = "Anna-Liisa Mäkinen ja Mäkisen lapset; Åsa Öberg och Öbergs hund; LIISA."
    expected = f"{R} ja {R} lapset; {R} och {R} hund; {R}."
    assert redact_text(text, ["Anna-Liisa Mäkinen", "Åsa Öberg"]) == expected


def test_a_decomposed_umlaut_in_the_text_still_matches() -> None:
    assert redact_text("Soitin Ma\u0308kiselle.", ["Mäkinen"]) == f"Soitin {R}."


def test_the_rest_of_the_text_is_kept_byte_for_byte() -> None:
    text = "  Asiakas:\tMatti Virtanen (ID 17)\r\nSoitti  2x — ok?!  "
    assert redact_text(text, MATTI) == f"  Asiakas:\t{R} (ID 17)\r\nSoitti  2x — ok?!  "


def test_a_custom_replacement() -> None:
    assert redact_text("Matti soitti", MATTI, replacement="XXX") == "XXX soitti"


@pytest.mark.parametrize(
    "identifiers", [[], [""], [None], ["   "], ["a"], ["."], ["*"], ["%"], [".*"]]
)
def test_empty_or_meaningless_identifiers_change_nothing(identifiers: list) -> None:
    text = "Matti Virtanen, a * . % .* 040 123 4567"
    assert redact_text(text, identifiers) == text


def test_none_text_stays_none() -> None:
    assert redact_text(None, MATTI) is None


def test_identifiers_with_regex_characters_are_taken_literally() -> None:
    text = "Firm (A+B) Oy and AB Oy"
    assert redact_text(text, ["(A+B) Oy"]) == f"Firm {R} and AB Oy"


def test_redacting_twice_is_redacting_once() -> None:
    text = "Virtanen, Matti <matti.virtanen@example.fi> +358 40 123 4567 said hi"
    once = redact_text(text, MATTI)
    assert redact_text(once, MATTI) == once
