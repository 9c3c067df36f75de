"""Does a column look personal? By its name, or by a bounded sample of its
values. The answers are kinds ("email", "phone"...), never the values: a
finding is printed, logged and published, and must not leak what it read."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Sequence

from retention import identity
from retention.errors import IdentityError

# Name parts that mean a person's data in most schemas (English, Finnish, Swedish).
_NAME_PARTS = {
    "email": ("email", "mail", "sahkoposti", "epost"),
    "phone": ("phone", "mobile", "tel", "telephone", "gsm", "msisdn", "puhelin", "telefon"),
    "name": ("name", "firstname", "lastname", "fullname", "surname", "nimi", "namn"),
    "address": ("address", "street", "postal", "zip", "postcode", "osoite", "adress"),
    "ip address": ("ip", "ipaddr", "ipv4", "ipv6"),
    "birth date": ("birth", "birthday", "dob", "hetu", "ssn", "personnummer"),
    "login": ("username", "login", "password", "cookie"),
}
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[A-Za-z]{2,}")
_EMAIL_IN_TEXT = re.compile(r"[\w.+\-]+@[\w\-]+(?:\.[\w\-]+)*\.[A-Za-z]{2,}")
# A run of phone characters with a leading + or 0, as people write numbers.
_PHONE_IN_TEXT = re.compile(r"(?<![\w+])(?:\+|00|0)\d[\d \-()]{5,17}\d(?!\d)")
# A whole-value kind counts when this share of the sampled values has it: a
# column of ids with one stray email is not an email column, but see
# free text below.
WHOLE_VALUE_SHARE = 0.3


def name_kinds(column: str) -> list[str]:
    """Kinds the column's name suggests: `mobile_phone` -> phone."""
    parts = [p for p in re.split(r"[^a-z0-9]+", _words(column)) if p]
    joined = "".join(parts)
    found = []
    for kind, words in _NAME_PARTS.items():
        if any(p in words for p in parts) or joined in words:
            found.append(kind)
    return found


def _words(column: str) -> str:
    # camelCase -> camel_case, so `mobilePhone` is read like `mobile_phone`.
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", column).lower()


def value_kinds(values: Sequence[str]) -> list[str]:
    """Kinds a sample of a text column's values shows. Free text (values with
    spaces) counts at one email or phone number in it: that is a person
    named, whoever wrote it."""
    sample = [v.strip() for v in values if v and v.strip()]
    if not sample:
        return []
    counts = {"email": 0, "phone": 0, "ip address": 0}
    text_email = text_phone = False
    for value in sample:
        if _EMAIL.fullmatch(value):
            counts["email"] += 1
        elif _is_phone(value):
            counts["phone"] += 1
        elif _is_ip(value):
            counts["ip address"] += 1
        elif " " in value:
            text_email |= _EMAIL_IN_TEXT.search(value) is not None
            text_phone |= any(_is_phone(m.group()) for m in _PHONE_IN_TEXT.finditer(value))
    found = [k for k, n in counts.items() if n / len(sample) >= WHOLE_VALUE_SHARE]
    if text_email:
        found.append("free text with emails")
    if text_phone:
        found.append("free text with phone numbers")
    return found


def _is_phone(value: str) -> bool:
    if not identity.looks_like_phone(value):
        return False
    try:
        number = identity.parse_phone(value)
    except IdentityError:
        return False
    return len(number.national) >= 6


def _is_ip(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True
