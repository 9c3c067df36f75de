"""The ledger's errors: each names the field or entry and what is wrong."""

from __future__ import annotations

from retention.errors import RetentionError


class LedgerError(RetentionError):
    """Refused: bad input to the ledger, or a ledger that cannot be written."""


class LedgerKeyError(LedgerError):
    """A hashing key is missing, unknown or too weak."""
