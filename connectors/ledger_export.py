"""The run's ledger segment, written once to an S3 Object Lock bucket.

COMPLIANCE mode: until the retain-until date nobody, the root account
included, can delete or overwrite that object version, so the copy outlives
anyone who could rewrite the ledger database.
"""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError

from retention.errors import RetentionError

PREFIX = "ledger/segments"
_RUN_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:\-]{0,127}")


class LedgerExportError(RetentionError):
    """The segment could not be stored write-once; nothing was written."""


def export_segment(client: Any, bucket: str, run_id: str, data: bytes, *, retain_days: int) -> str:
    """Put the segment under COMPLIANCE retention for retain_days; return its key."""
    if isinstance(retain_days, bool) or not isinstance(retain_days, int) or retain_days < 1:
        raise LedgerExportError(f"retain_days: {retain_days!r} must be a whole number of days >= 1")
    if not isinstance(run_id, str) or not _RUN_ID.fullmatch(run_id):
        raise LedgerExportError(f"run_id: {run_id!r} is not a run id")
    if not isinstance(data, bytes) or not data:
        raise LedgerExportError("data: the segment is empty")
    _require_object_lock(client, bucket)
    key = f"{PREFIX}/{run_id}.jsonl"
    until = datetime.now(UTC) + timedelta(days=retain_days)
    try:
        client.put_object(
            Bucket=bucket,
            Key=key,
            Body=data,
            ContentType="application/x-ndjson",
            # S3 wants an integrity checksum on a put that sets a lock.
            ChecksumAlgorithm="SHA256",
            ObjectLockMode="COMPLIANCE",
            ObjectLockRetainUntilDate=until,
            Metadata={"sha256": hashlib.sha256(data).hexdigest(), "run-id": run_id},
        )
    except ClientError as exc:
        raise LedgerExportError(
            f"bucket {bucket!r}: the segment of run {run_id!r} was refused ({_code(exc)})"
        ) from exc
    return key


def _require_object_lock(client: Any, bucket: str) -> None:
    try:
        answer = client.get_object_lock_configuration(Bucket=bucket)
    except ClientError as exc:
        raise LedgerExportError(
            f"bucket {bucket!r}: no Object Lock configuration ({_code(exc)}); "
            "create the bucket with Object Lock enabled"
        ) from exc
    if answer.get("ObjectLockConfiguration", {}).get("ObjectLockEnabled") != "Enabled":
        raise LedgerExportError(f"bucket {bucket!r}: Object Lock is not enabled")


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", "error"))
