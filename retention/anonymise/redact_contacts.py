"""Regex sources that find one email address or one phone number in free text,
however it was typed: any case, any spacing, with or without a country code."""

from __future__ import annotations

import re

from retention import identity
from retention.errors import IdentityError

_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
# People type these between digits: "040 123 4567", "040-1234567", "(040) 123.45.67".
_BETWEEN_DIGITS = r"[\s\-./()]*"
_PHONE_TEXT = re.compile(r"[(\s]*\+?[\d\s\-./()]+")
_ANY_COUNTRY = r"\d{1,3}"


def is_email(identifier: str) -> bool:
    return _EMAIL.fullmatch(identifier) is not None


def email_pattern(identifier: str) -> str:
    # The lookarounds stop a match inside a longer address (xmatti@x.fi, matti@x.fi-y.com).
    return rf"(?<![\w.+\-]){re.escape(identifier)}(?![\w\-]|\.\w)"


def _digits_pattern(digits: str) -> str:
    return _BETWEEN_DIGITS.join(digits)


def phone_pattern(identifier: str) -> str | None:
    """A regex source matching the number as written (any spacing), and with
    +CC, 00CC, (0), 0 or no prefix before its national part."""
    # Redaction takes any run of phone characters with 6 to 15 digits for a
    # number: better an id masked too than a number left in the text.
    all_digits = re.sub(r"\D", "", identifier)
    if not _PHONE_TEXT.fullmatch(identifier) or not 6 <= len(all_digits) <= 15:
        return None
    # The digits exactly as the identifier has them always match, whatever
    # the guess about country and trunk prefix was.
    as_written = rf"\(?\+?{_digits_pattern(all_digits)}"
    try:
        number = identity.parse_phone(identifier)
    except IdentityError:
        # Not a number phonenumbers knows (e.g. 00 and an unknown code): still
        # someone's number as typed, so it goes as typed, in any spacing.
        return rf"(?<![\w+])(?:{as_written})(?!\d)"
    # A number written without its country code may be quoted with any.
    code = str(number.country_code) if number.international_written else None
    national = number.national
    country = _ANY_COUNTRY if code is None else code
    # "+358 40", "(+358) 40", "00358 40", "+358 (0)40", "+358040", "040", "(040)", "40".
    prefix = rf"(?:\(?(?:\+|00)[\s\-]*{country}\)?[\s\-]*(?:\(?0\)?[\s\-]*)?|\(?0\)?[\s\-]*)?"
    return rf"(?<![\w+])(?:{as_written}|{prefix}{_digits_pattern(national)})(?!\d)"
