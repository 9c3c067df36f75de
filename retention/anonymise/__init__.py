"""Anonymisation strategies: pure functions from a row to its changed columns.

build_anonymiser(fields, hash_key=..., primary_key=...) -> RowAnonymiser
keyed_hash(value, key) -> "h:" + 16 hex digits
redact_text(text, identifiers, replacement) -> text without the identifiers
"""

from retention.anonymise.dates import generalise_date
from retention.anonymise.errors import AnonymisationError
from retention.anonymise.fake_values import FAKE_EMAIL_DOMAIN, fake_value
from retention.anonymise.keyed_hash import is_keyed_hash, keyed_hash
from retention.anonymise.redact import redact_text
from retention.anonymise.row import RowAnonymiser, build_anonymiser

__all__ = [
    "FAKE_EMAIL_DOMAIN",
    "AnonymisationError",
    "RowAnonymiser",
    "build_anonymiser",
    "fake_value",
    "generalise_date",
    "is_keyed_hash",
    "keyed_hash",
    "redact_text",
]
