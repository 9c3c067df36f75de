"""The run's ledger segment, written once to an S3 Object Lock bucket.

COMPLIANCE mode: until the retain-until date nobody, the root account
included, can delete or overwrite that object version, so the copy outlives
anyone who could rewrite the ledger database.

check_export_bucket runs before a run changes anything: a segment that
cannot be written is found out while nothing is owed to it yet.
"""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime, timedelta
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from retention.errors import RetentionError

PREFIX = "ledger/segments"
PROBE_KEY = "ledger/preflight/probe"
PROBE_RETAIN = timedelta(days=1)
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


def check_export_bucket(client: Any, bucket: str) -> None:
    """LedgerExportError unless the bucket exists, is versioned with Object
    Lock, and these credentials can put a COMPLIANCE-locked object in it.

    The last is only known by doing it: a tiny probe object, locked for a
    day, the same kind of request as the segment's (a put with retention
    needs s3:PutObjectRetention as well as s3:PutObject). A new version of
    the one probe key per run; each can be removed a day later."""
    try:
        client.head_bucket(Bucket=bucket)
        versioning = client.get_bucket_versioning(Bucket=bucket).get("Status")
    except (ClientError, BotoCoreError) as exc:
        raise LedgerExportError(f"bucket {bucket!r} is not reachable ({_code(exc)})") from exc
    if versioning != "Enabled":
        raise LedgerExportError(
            f"bucket {bucket!r}: versioning is not enabled; a WORM copy needs a versioned "
            "bucket with Object Lock"
        )
    _require_object_lock(client, bucket)
    body = b"retention-pipeline export pre-flight\n"
    try:
        client.put_object(
            Bucket=bucket,
            Key=PROBE_KEY,
            Body=body,
            ChecksumAlgorithm="SHA256",
            ObjectLockMode="COMPLIANCE",
            ObjectLockRetainUntilDate=datetime.now(UTC) + PROBE_RETAIN,
        )
    except (ClientError, BotoCoreError) as exc:
        raise LedgerExportError(
            f"bucket {bucket!r}: these credentials cannot write a locked object ({_code(exc)})"
        ) from exc


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


def _code(exc: Exception) -> str:
    if isinstance(exc, ClientError):
        return str(exc.response.get("Error", {}).get("Code", "error"))
    return type(exc).__name__
