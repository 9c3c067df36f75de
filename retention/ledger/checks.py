"""Checks on what the pipeline hands the ledger: names, not free text.

Every string field the ledger stores in the clear is a name from the policy
or the run (rule id, dataset, hold id, trigger). Holding them to a name's
shape keeps an email or a sentence with a name in it out of the ledger.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime

from retention.ledger.errors import LedgerError

ACTIONS = ("delete", "anonymise")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_\-]{0,127}")
_DOTTED_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_\-]*(?:\.[A-Za-z_][A-Za-z0-9_\-]*)?")
_TOKEN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:\-]{0,127}")
_OUTCOME = re.compile(r"[a-z][a-z_\-]{0,31}")
_HASH = re.compile(r"[0-9a-f]{64}")


def name(field: str, value: object) -> str:
    if not isinstance(value, str) or not _NAME.fullmatch(value):
        raise LedgerError(f"{field}: {value!r} is not a name (letters, digits, '_', '-')")
    return value


def dataset(field: str, value: object) -> str:
    if not isinstance(value, str) or len(value) > 128 or not _DOTTED_NAME.fullmatch(value):
        raise LedgerError(
            f"{field}: {value!r} is not a dataset name ('dataset' or 'system.dataset')"
        )
    return value


def token(field: str, value: object) -> str:
    """run ids, policy hashes, triggers, hold ids: ids, never sentences."""
    if not isinstance(value, str) or "@" in value or not _TOKEN.fullmatch(value):
        raise LedgerError(
            f"{field}: {value!r} must be an id of up to 128 letters, digits, '_', '-', '.' or ':'"
        )
    return value


def action(value: object) -> str:
    if value not in ACTIONS:
        raise LedgerError(f"action: {value!r} is not one of {', '.join(ACTIONS)}")
    return str(value)


def outcome(value: object) -> str:
    if not isinstance(value, str) or not _OUTCOME.fullmatch(value):
        raise LedgerError(f"outcome: {value!r} must be a short lower-case word, e.g. 'completed'")
    return value


def key_hash(field: str, value: object) -> str:
    if not isinstance(value, str) or not _HASH.fullmatch(value):
        raise LedgerError(f"{field}: {value!r} is not a key hash (64 lower-case hex digits)")
    return value


def approver(value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip() or len(value) > 128 or "\n" in value:
        raise LedgerError(f"approved_by: {value!r} must be a reviewer's user name (1-128 chars)")
    return value.strip()


def counts(field: str, value: Mapping[str, int]) -> dict[str, int]:
    out: dict[str, int] = {}
    for key, number in value.items():
        name(f"{field} key", key)
        if isinstance(number, bool) or not isinstance(number, int) or number < 0:
            raise LedgerError(f"{field}[{key}]: {number!r} is not a count (an integer >= 0)")
        out[key] = number
    return out


def utc_text(field: str, value: object) -> str | None:
    """ISO-8601 UTC. A naive time is taken as UTC rather than refused: this is
    called after a batch committed, when refusing would lose its evidence."""
    if value is None:
        return None
    if not isinstance(value, datetime):
        raise LedgerError(f"{field}: {value!r} is not a datetime")
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat()


_EMAIL = re.compile(r"[^\s@]+@[^\s@]+")
_LONG_NUMBER = re.compile(r"\+?\d[\d\s\-()]{6,}\d")


def free_text(field: str, value: object, limit: int = 500) -> str:
    """An operator's words (a comment, a reason): one paragraph, bounded, and
    with anything shaped like an email or a phone number masked, so a note
    cannot carry a data subject's identity into the ledger in the clear."""
    if not isinstance(value, str):
        raise LedgerError(f"{field}: {value!r} is not text")
    text = " ".join(value.split())[:limit]
    return _LONG_NUMBER.sub("[number]", _EMAIL.sub("[email]", text))
