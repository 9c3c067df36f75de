"""Keyed hashing: a stable pseudonym for a value, so joins survive anonymisation.

Without the key the pseudonym cannot be reversed by hashing guessed values;
with it, anyone can re-link. That makes it pseudonymisation, not anonymisation
(GDPR recital 26), and the key must be guarded like the data itself.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import unicodedata

from retention.anonymise.errors import AnonymisationError

PREFIX = "h:"
_HEX_CHARS = 16
_SHAPE = re.compile(rf"{PREFIX}[0-9a-f]{{{_HEX_CHARS}}}")


def is_keyed_hash(value: object) -> bool:
    return isinstance(value, str) and _SHAPE.fullmatch(value) is not None


def normalise(value: object) -> str:
    # Case and surrounding space differ between systems ("Matti@X.fi " in the
    # CRM, "matti@x.fi" in ticketing); the pseudonyms must still join.
    return unicodedata.normalize("NFC", str(value)).strip().casefold()


def check_key(key: object) -> bytes:
    if not isinstance(key, bytes | bytearray) or not key:
        # An empty key turns HMAC into a plain hash that a dictionary attack reverses.
        raise AnonymisationError("hash_key must be non-empty bytes (the secret HMAC key)")
    return bytes(key)


def hmac_digest(key: bytes, value: object) -> bytes:
    return hmac.new(check_key(key), normalise(value).encode("utf-8"), hashlib.sha256).digest()


def keyed_hash(value: str | int, key: bytes) -> str:
    """`h:` and the first 16 hex digits of HMAC-SHA256(key, normalised value).

    A value already of that shape is returned as it is, so hashing twice is
    hashing once and a re-run leaves anonymised rows alone."""
    if value is None:
        raise AnonymisationError("keyed_hash: there is no value to hash (None)")
    if is_keyed_hash(value):
        return str(value)
    return PREFIX + hmac_digest(key, value).hex()[:_HEX_CHARS]
