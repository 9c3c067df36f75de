"""The Connector protocol and its data, as connectors import them. They live
in the domain (retention.connector), which the pipeline and the ledger use
without importing any connector."""

from retention.connector import (
    ApplyResult,
    Connector,
    Held,
    Key,
    Prepared,
    RecordIntent,
    ScanBatch,
    SubjectStore,
)

__all__ = [
    "ApplyResult",
    "Connector",
    "Held",
    "Key",
    "Prepared",
    "RecordIntent",
    "ScanBatch",
    "SubjectStore",
]
