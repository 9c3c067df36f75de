"""Unfinished multipart uploads: their parts hold data too, so an erased key's
uploads are aborted."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError


def uploads_under(client: Any, bucket: str, prefix: str) -> dict[str, list[str]]:
    """key -> upload ids of unfinished uploads under prefix."""
    found: dict[str, list[str]] = {}
    for page in client.get_paginator("list_multipart_uploads").paginate(
        Bucket=bucket, Prefix=prefix
    ):
        for upload in page.get("Uploads", []):
            found.setdefault(upload["Key"], []).append(upload["UploadId"])
    return found


def abort_uploads(client: Any, bucket: str, key: str, upload_ids: list[str]) -> list[str]:
    """Abort each upload; return the error codes of those that failed."""
    errors = []
    for upload_id in upload_ids:
        try:
            client.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code != "NoSuchUpload":  # already finished or aborted: nothing left
                errors.append(code or "unknown")
    return errors
