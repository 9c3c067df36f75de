"""Media facts stored in S3 itself: user metadata, object tags or a
`<key>.json` sidecar object. Each needs one request per item (S3 lists
neither metadata nor tags); an index table needs none (see media_index)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import Any

from botocore.exceptions import ClientError

from connectors.media_facts import FactValue, decode_facts
from connectors.media_keys import is_sidecar, sidecar_of
from retention.policy import Facts


def newest_versions(
    client: Any, bucket: str, prefix: str, *, uses_sidecars: bool
) -> Iterator[tuple[str, str | None]]:
    """(key, newest version id that is not a delete marker) for every media
    key under prefix, in key order. A key whose current version is a delete
    marker is still listed: its older versions still hold the data."""
    pending: dict[str, str | None] = {}
    for page in client.get_paginator("list_object_versions").paginate(Bucket=bucket, Prefix=prefix):
        for entry in page.get("DeleteMarkers", []):
            pending.setdefault(entry["Key"], None)
        for entry in page.get("Versions", []):
            # Versions of a key come newest first: keep the first one seen.
            if pending.get(entry["Key"]) is None:
                pending[entry["Key"]] = entry["VersionId"]
        # The page's last key may continue on the next page: hold it back.
        complete = sorted(pending)[:-1] if page.get("IsTruncated") else sorted(pending)
        for key in complete:
            version = pending.pop(key)
            if not is_sidecar(key, uses_sidecars):
                yield key, version


def read_facts(
    client: Any,
    bucket: str,
    config: Facts,
    key: str,
    version_id: str | None,
    wanted: Iterable[str],
) -> dict[str, FactValue]:
    """The item's facts; all None when the source has none for it."""
    raw: dict[str, Any] = {}
    try:
        if config.source == "metadata" and version_id:
            raw = client.head_object(Bucket=bucket, Key=key, VersionId=version_id)["Metadata"]
        elif config.source == "tags" and version_id:
            tags = client.get_object_tagging(Bucket=bucket, Key=key, VersionId=version_id)
            raw = {t["Key"]: t["Value"] for t in tags.get("TagSet", [])}
        elif config.source == "sidecar":
            body = client.get_object(Bucket=bucket, Key=sidecar_of(key))["Body"].read()
            parsed = json.loads(body)
            raw = parsed if isinstance(parsed, dict) else {}
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") not in ("NoSuchKey", "404", "NoSuchVersion"):
            raise
    except ValueError:
        raw = {}  # an unreadable sidecar gives no facts: the item is never due by them
    return decode_facts(raw, config, wanted)
