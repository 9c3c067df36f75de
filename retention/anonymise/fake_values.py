"""Deterministic fake values: the same seed always gives the same person.

The seed is an HMAC of the row's primary key, so a re-run writes the same
fake (idempotent) and nobody without the key can tell which row got which.
All of a row's fakes come from one invented person, so a faked first name,
last name and email still agree with each other.

Whoever holds the key can recompute which fake belongs to which key, so this
is pseudonymisation. A Faker upgrade may change the people it invents; rows
anonymised before keep their old fakes, which are still fake.
"""

from __future__ import annotations

import threading
import unicodedata
from collections.abc import Callable
from functools import cache

from faker import Faker

from retention.anonymise.errors import AnonymisationError

LOCALES = ("fi_FI", "sv_SE", "en_GB")
# RFC 2606 reserves .invalid: no mail to it can ever reach a real person.
FAKE_EMAIL_DOMAIN = "example.invalid"
# Ofcom keeps 07700 900000-900999 unallocated for drama: no real subscriber.
_FICTIONAL_MOBILE = "+44 7700 900"

# seed_instance mutates the shared generator; seeding and drawing must not interleave.
_lock = threading.Lock()


@cache
def _faker(locale: str) -> Faker:
    return Faker(locale)


def _ascii_slug(text: str) -> str:
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return "".join(ch for ch in folded.lower() if ch.isalnum())


def _email(first: str, last: str, seed: bytes) -> str:
    # The hex tag keeps fakes distinct where the column is unique.
    return f"{_ascii_slug(first)}.{_ascii_slug(last)}.{seed[20:26].hex()}@{FAKE_EMAIL_DOMAIN}"


def _phone(seed: bytes) -> str:
    return f"{_FICTIONAL_MOBILE}{int.from_bytes(seed[26:28], 'big') % 1000:03d}"


_FROM_FAKER: dict[str, Callable[[Faker], str]] = {
    "company": lambda f: f.company(),
    "address": lambda f: f.address().replace("\n", ", "),
    "city": lambda f: f.city(),
    "text": lambda f: f.sentence(nb_words=10),
}


def fake_value(kind: str, seed: bytes) -> str:
    """One fake value of `kind` (name, first_name, last_name, email, phone,
    company, address, city, text) for the person `seed` stands for."""
    if len(seed) < 28:
        raise AnonymisationError("fake: the seed must be an HMAC-SHA256 digest (32 bytes)")
    known = {"name", "first_name", "last_name", "email", "phone", *_FROM_FAKER}
    if kind not in known:
        raise AnonymisationError(f"fake: unknown kind {kind!r}; use one of {sorted(known)}")
    if kind == "phone":
        return _phone(seed)
    locale = LOCALES[seed[0] % len(LOCALES)]
    with _lock:
        faker = _faker(locale)
        faker.seed_instance(int.from_bytes(seed[1:9], "big"))
        # Always drawn first and in this order, so every kind sees the same person.
        first, last = faker.first_name(), faker.last_name()
        extra = _FROM_FAKER[kind](faker) if kind in _FROM_FAKER else ""
    match kind:
        case "name":
            return f"{first} {last}"
        case "first_name":
            return first
        case "last_name":
            return last
        case "email":
            return _email(first, last, seed)
    return extra
