"""The evidence ledger: append-only, hash-chained, keyed hashes only.

See docs/ledger.md for how it works and how an operator reads it.
"""

from retention.ledger.engine import DEFAULT_URL
from retention.ledger.entry import Entry, FailedRecord, Intent, KeptRecord
from retention.ledger.errors import LedgerError, LedgerKeyError
from retention.ledger.ledger import Ledger
from retention.ledger.report import Report, build_report
from retention.ledger.segment import run_segment, verify_segment
from retention.ledger.verify import VerifyResult

__all__ = [
    "DEFAULT_URL",
    "Entry",
    "FailedRecord",
    "Intent",
    "KeptRecord",
    "Ledger",
    "LedgerError",
    "LedgerKeyError",
    "Report",
    "VerifyResult",
    "build_report",
    "run_segment",
    "verify_segment",
]
