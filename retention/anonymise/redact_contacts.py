"""Regex sources that find one email address or one phone number in free text,
however it was typed: any case, any spacing, with or without a country code."""

from __future__ import annotations

import re

_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
_PHONE_CHARS = re.compile(r"[(\s]*\+?[\d\s\-./()]+")
# People type these between digits: "040 123 4567", "040-1234567", "(040) 123.45.67".
_BETWEEN_DIGITS = r"[\s\-./()]*"
# E.164 codes are prefix-free, so the first that matches is the right one.
# The register is Nordic; others still match in their full international form.
_COUNTRY_CODES = ("358", "46", "47", "45", "354", "372", "371", "370", "44", "49", "48", "7", "1")
_ANY_COUNTRY = r"\d{1,3}"


def is_email(identifier: str) -> bool:
    return _EMAIL.fullmatch(identifier) is not None


def email_pattern(identifier: str) -> str:
    # The lookarounds stop a match inside a longer address (xmatti@x.fi, matti@x.fi-y.com).
    return rf"(?<![\w.+\-]){re.escape(identifier)}(?![\w\-]|\.\w)"


def _digits_pattern(digits: str) -> str:
    return _BETWEEN_DIGITS.join(digits)


def phone_national_digits(identifier: str) -> tuple[str | None, str] | None:
    """(country code or None if unknown, national number without trunk 0),
    or None when the identifier is not a phone number (6 to 15 digits)."""
    if _PHONE_CHARS.fullmatch(identifier) is None:
        return None
    digits = re.sub(r"\D", "", identifier)
    if not 6 <= len(digits) <= 15:
        return None
    plus = identifier.lstrip("( ").startswith("+")
    international = plus or digits.startswith("00")
    if not international:
        # "040 1234567": trunk 0 dropped, the country is unknown.
        return None, digits[1:] if digits.startswith("0") else digits
    if not plus:
        digits = digits[2:]
    code = next((c for c in _COUNTRY_CODES if digits.startswith(c)), None)
    if code is None:
        return "", digits
    # "+358 (0)40 ...": the bracketed trunk 0 is not part of the number.
    return code, digits[len(code) :].removeprefix("0")


def phone_pattern(identifier: str) -> str | None:
    """A regex source matching the number as written (any spacing), and with
    +CC, 00CC, (0), 0 or no prefix before its national part."""
    parsed = phone_national_digits(identifier)
    if parsed is None:
        return None
    code, national = parsed
    # The digits exactly as the identifier has them always match, whatever
    # the guess about country and trunk prefix was.
    all_digits = re.sub(r"\D", "", identifier)
    as_written = rf"\(?\+?{_digits_pattern(all_digits)}"
    if code == "":
        # Unknown country: only the full international form is certain.
        return rf"(?<![\w+])(?:{as_written})(?!\d)"
    country = _ANY_COUNTRY if code is None else code
    # "+358 40", "(+358) 40", "00358 40", "+358 (0)40", "+358040", "040", "(040)", "40".
    prefix = rf"(?:\(?(?:\+|00)[\s\-]*{country}\)?[\s\-]*(?:\(?0\)?[\s\-]*)?|\(?0\)?[\s\-]*)?"
    return rf"(?<![\w+])(?:{as_written}|{prefix}{_digits_pattern(national)})(?!\d)"
