"""Is a version kept by Object Lock (retention or legal hold), and until when?

Read from head_object with the VersionId: it carries the lock mode, the
retain-until date and the legal-hold status in one request (and moto answers
get_object_retention with a server error).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from connectors.base import Held


def object_lock_on(
    client: Any, bucket: str, key: str, version_id: str, *, now: datetime
) -> Held | None:
    try:
        head = client.head_object(Bucket=bucket, Key=key, VersionId=version_id)
    except ClientError:
        return None  # a delete marker or a vanished version has no lock to report
    until = head.get("ObjectLockRetainUntilDate")
    mode = head.get("ObjectLockMode")
    if head.get("ObjectLockLegalHoldStatus") == "ON":
        return Held(key, "legal-hold", None)  # a legal hold has no end date
    if mode and until is not None and until > now:
        return Held(key, f"object-lock:{mode}", until)
    return None
