"""Subject identities: the one place an identity is normalised.

Matching (connectors), hashing (the ledger), lookup and redaction all call
these functions, so one person written as `+358 40 123 4567`, `040-1234567`
or `MATTI@X.FI ` is one identity everywhere. Everything is validated before
any query, so that an empty or wildcard identity can never match everyone.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import phonenumbers

from retention.errors import IdentityError

KINDS = ("email", "phone", "name", "crm_contact_id", "ticketing_user_id")
DEFAULT_REGION = "FI"
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_INVISIBLE = ("Cc", "Cf", "Cs")  # control, format (zero-width), lone surrogate
_WILDCARDS = re.compile(r"[*%?_\[\]]|\.\*")
# What a phone number may be written with; anything else (letters, wildcards)
# makes the text something other than one number.
_PHONE_TEXT = re.compile(r"[\d\s\-().+/]+")
_FULL_NAME = re.compile(r"[^\W\d_]+(?:[ '\-][^\W\d_]+)+")
# The region a number written without a country code belongs to. The policy
# sets it (settings.phone_region) when it is loaded: the ledger hashes
# identities without knowing the policy, and a sweep and a lookup both load
# the policy first, so both hash with the same region.
_region = DEFAULT_REGION


def set_default_region(region: str) -> None:
    global _region
    _region = check_region(region)


def default_region() -> str:
    return _region


def check_region(region: str) -> str:
    if region not in phonenumbers.SUPPORTED_REGIONS:
        raise IdentityError(
            f"phone region {region!r} is not a two-letter region phonenumbers knows (e.g. FI, SE)"
        )
    return region


def email(value: str) -> str:
    """Trimmed and case-folded: the case of an address never names another person."""
    text = value.strip()
    if "*" in text or "%" in text or _WILDCARDS.search(text.split("@")[0].replace("_", "")):
        raise IdentityError(f"email: {text!r} contains a wildcard; give one exact address")
    if not _EMAIL.match(text):
        raise IdentityError(f"email: {text!r} is not an email address")
    return text.casefold()


@dataclass(frozen=True)
class Phone:
    """A parsed number: E.164, its parts, and whether a country code was written."""

    e164: str
    country_code: int
    national: str
    international_written: bool

    def digit_forms(self) -> list[str]:
        """The digits a stored spelling of this number reduces to: +CC..., 00CC..., 0..."""
        national = phonenumbers.format_number(
            phonenumbers.parse(self.e164), phonenumbers.PhoneNumberFormat.NATIONAL
        )
        forms = {self.e164[1:], "00" + self.e164[1:], re.sub(r"\D", "", national)}
        return sorted(forms)


def parse_phone(value: str, region: str | None = None) -> Phone:
    """The number in `value` (any spacing, +CC, 00CC or trunk 0), or IdentityError."""
    text = value.strip()
    if not _PHONE_TEXT.fullmatch(text) or sum(c.isdigit() for c in text) < 6:
        raise IdentityError(f"phone: {text!r} is not a phone number")
    try:
        number = phonenumbers.parse(text, region or _region, keep_raw_input=True)
    except phonenumbers.NumberParseException as exc:
        raise IdentityError(f"phone: {text!r} is not a phone number ({exc._msg})") from None
    if not phonenumbers.is_possible_number(number):
        raise IdentityError(f"phone: {text!r} is not a possible phone number")
    source = phonenumbers.CountryCodeSource
    return Phone(
        e164=phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164),
        country_code=int(number.country_code or 0),
        national=phonenumbers.national_significant_number(number),
        international_written=number.country_code_source != source.FROM_DEFAULT_COUNTRY,
    )


def phone(value: str, region: str | None = None) -> str:
    """E.164, e.g. `+358401234567`, reading a national number in `region`."""
    return parse_phone(value, region).e164


def looks_like_phone(text: str) -> bool:
    """Written as a phone number is: a leading +, 00 or trunk 0 and phone characters.
    A bare run of digits is an id, not a number."""
    stripped = text.strip().lstrip("(")
    return bool(_PHONE_TEXT.fullmatch(text.strip())) and stripped[:1] in ("+", "0")


def canonical(value: str | int) -> str:
    """The form of a value whose kind is not known (the ledger's hashed
    subjects and keys), decided by its shape: emails and phone numbers as
    email() and phone() give them, full names case-folded, all else trimmed."""
    if isinstance(value, int):
        return str(value)
    text = " ".join(value.split())
    if _EMAIL.match(text):
        return text.casefold()
    if looks_like_phone(text):
        try:
            return phone(text)
        except IdentityError:
            pass  # phone characters but no possible number: keep it as written
    if _FULL_NAME.fullmatch(text):
        return text.casefold()
    return text


def normalise(kind: str, value: object) -> str:
    """The canonical form of one identity, or IdentityError saying why not."""
    if kind not in KINDS:
        raise IdentityError(f"identity kind {kind!r} is unknown; use one of {', '.join(KINDS)}")
    if not isinstance(value, str | int) or isinstance(value, bool):
        raise IdentityError(f"{kind}: {value!r} is not a string")
    text = str(value).strip()
    if not text:
        raise IdentityError(f"{kind}: empty value would match nothing sensible; refused")
    if any(unicodedata.category(ch) in _INVISIBLE for ch in text):
        # A NUL stops a PostgreSQL query; a zero-width space hides in a copy-paste.
        raise IdentityError(f"{kind}: {text!r} holds control or invisible characters; refused")
    if kind == "email":
        return email(text)
    if kind == "phone":
        return phone(text)
    if kind == "name":
        if re.search(r"[*%?]", text) or len(text.split()) < 2:
            raise IdentityError(
                f"name: {text!r} must be a full name (first and last), no wildcards"
            )
        return " ".join(text.split())
    if not re.fullmatch(r"[A-Za-z0-9\-]{1,64}", text) or text in {"0", "-"}:
        raise IdentityError(f"{kind}: {text!r} is not an id")
    return text


def validate(identities: Mapping[str, Sequence[object]]) -> dict[str, list[str]]:
    """All identities normalised; at least one required."""
    out: dict[str, list[str]] = {}
    for kind, values in identities.items():
        if isinstance(values, str | int):
            values = [values]
        out[kind] = sorted({normalise(kind, v) for v in values})
    if not any(out.values()):
        raise IdentityError("no identity given: name at least one email, phone or id")
    return out
