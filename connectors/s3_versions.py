"""Every version and delete marker of given keys, with as few listings as we can.

Erasing an object from a versioned bucket means removing all its versions and
delete markers, so they must be listed first. Keys arrive sorted; instead of
one listing per key, one paginated listing covers the range from the keys'
common prefix to the last key and stops there. Only the initial request uses
Prefix (no KeyMarker): a KeyMarker without VersionIdMarker is read differently
by S3 and by some S3-compatible stores, and a version missed here would be a
version left behind.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

# Below this many keys, one listing per key (Prefix=key) is cheaper than
# walking a range that may hold many objects not being erased.
PER_KEY_LISTING_MAX = 8


@dataclass(frozen=True)
class Version:
    key: str
    version_id: str
    is_marker: bool


def versions_of(client: Any, bucket: str, keys: Sequence[str]) -> dict[str, list[Version]]:
    """key -> its versions and delete markers (exact key match only). Keys
    with nothing stored are absent from the answer. `keys` must be sorted."""
    wanted = set(keys)
    found: dict[str, list[Version]] = {}
    if not keys:
        return found
    if len(keys) <= PER_KEY_LISTING_MAX:
        ranges = [(key, key) for key in keys]
    else:
        ranges = [(os.path.commonprefix([keys[0], keys[-1]]), keys[-1])]
    for prefix, last in ranges:
        for version in _listed(client, bucket, prefix, last):
            if version.key in wanted:
                found.setdefault(version.key, []).append(version)
    return found


def _listed(client: Any, bucket: str, prefix: str, last: str) -> Iterator[Version]:
    paginator = client.get_paginator("list_object_versions")
    for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
        beyond = False
        for entry in page.get("Versions", []):
            beyond |= entry["Key"] > last
            yield Version(entry["Key"], entry["VersionId"], False)
        for entry in page.get("DeleteMarkers", []):
            beyond |= entry["Key"] > last
            yield Version(entry["Key"], entry["VersionId"], True)
        if beyond:  # listings are in key order: nothing further can be ours
            return
