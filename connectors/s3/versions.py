"""Versions and delete markers as S3 lists them, and the listing of a few keys.

Erasing an object from a versioned bucket means removing all its versions and
delete markers, so they must be listed first. Batches walk one listing through
the dataset (s3_cursor); a handful of unrelated keys is cheaper listed one key
at a time (Prefix=key) than by walking the range between them.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

# Up to this many keys, one listing per key is cheaper than walking a range
# that may hold many objects not being erased.
PER_KEY_LISTING_MAX = 8


@dataclass(frozen=True)
class Version:
    key: str
    version_id: str
    is_marker: bool


def page_entries(page: dict[str, Any]) -> list[Version]:
    """A list_object_versions page's versions and delete markers in key order.
    Within a key, versions keep S3's newest-first order (the sort is stable);
    markers follow them, which no caller depends on."""
    entries = [Version(e["Key"], e["VersionId"], False) for e in page.get("Versions", [])]
    entries += [Version(e["Key"], e["VersionId"], True) for e in page.get("DeleteMarkers", [])]
    entries.sort(key=lambda v: v.key)
    return entries


def versions_of_each(client: Any, bucket: str, keys: Sequence[str]) -> dict[str, list[Version]]:
    """key -> its versions and delete markers, one listing per key (exact key
    match only). Keys with nothing stored are absent from the answer."""
    found: dict[str, list[Version]] = {}
    for key in dict.fromkeys(keys):
        for version in _listed(client, bucket, key):
            if version.key == key:
                found.setdefault(key, []).append(version)
    return found


def _listed(client: Any, bucket: str, key: str) -> Iterator[Version]:
    # Nothing is deleted while this runs, so the paginator's markers are
    # versions that still exist (see s3_cursor on moto and deleted markers).
    for page in client.get_paginator("list_object_versions").paginate(Bucket=bucket, Prefix=key):
        entries = page_entries(page)
        yield from entries
        if any(v.key > key for v in entries):  # in key order: nothing further is ours
            return
