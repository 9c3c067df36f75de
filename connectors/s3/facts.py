"""Media facts stored in S3 itself: user metadata, object tags or a
`<key>.json` sidecar object. S3 lists neither metadata nor tags, so each
object costs one request to read them; an index table costs none (see
media_index).

What can change under a fact once it was read decides what the apply-time
re-check must read again: an object version's metadata never changes (a new
version is a new write), nor does a sidecar version; tags are replaced in
place on the same version, so they are always read again.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from connectors.media.facts import FactValue, decode_facts
from connectors.media.keys import sidecar_of
from connectors.s3.versions import Version, page_entries
from retention.policy import Facts


@dataclass(frozen=True)
class ListedKey:
    key: str
    versions: list[Version]  # newest first; delete markers included
    listed_at: float  # clock time of the page that ended the key's versions

    @property
    def newest_data(self) -> str | None:
        """The newest version that is not a delete marker: what the facts
        are read from, also when a marker hides the object (its versions
        still hold the data)."""
        return next((v.version_id for v in self.versions if not v.is_marker), None)


def listed_keys(
    client: Any, bucket: str, prefix: str, *, clock: Any, page_size: int | None = None
) -> Iterator[ListedKey]:
    """Every key under prefix with all its versions and markers, in key
    order, from pages of up to 1,000 entries: one request per page, never
    one per key. Sidecars are listed like any other key."""
    request: dict[str, Any] = {"Bucket": bucket, "Prefix": prefix}
    if page_size is not None:
        request["PaginationConfig"] = {"PageSize": page_size}
    held: list[Version] = []
    for page in client.get_paginator("list_object_versions").paginate(**request):
        listed_at = clock()
        entries = held + page_entries(page)
        # The page's last key may go on in the next page: hold it back.
        last = entries[-1].key if entries and page.get("IsTruncated") else None
        held = [v for v in entries if v.key == last]
        yield from _grouped([v for v in entries if v.key != last], listed_at)
    yield from _grouped(held, clock())


def _grouped(entries: list[Version], listed_at: float) -> Iterator[ListedKey]:
    by_key: dict[str, list[Version]] = {}
    for version in entries:
        by_key.setdefault(version.key, []).append(version)
    for key in sorted(by_key):
        yield ListedKey(key, by_key[key], listed_at)


@dataclass(frozen=True)
class ReadFacts:
    facts: dict[str, FactValue]
    # The version the facts were read from (the sidecar's, for a sidecar):
    # while it is still the newest, metadata and sidecar facts are unchanged.
    source_version: str | None


def read_facts(
    client: Any,
    bucket: str,
    config: Facts,
    key: str,
    version_id: str | None,
    wanted: Iterable[str],
) -> ReadFacts:
    """The item's facts; all None when the source has none for it."""
    raw: dict[str, Any] = {}
    source_version = version_id
    try:
        if config.source == "metadata" and version_id:
            raw = client.head_object(Bucket=bucket, Key=key, VersionId=version_id)["Metadata"]
        elif config.source == "tags" and version_id:
            tags = client.get_object_tagging(Bucket=bucket, Key=key, VersionId=version_id)
            raw = {t["Key"]: t["Value"] for t in tags.get("TagSet", [])}
        elif config.source == "sidecar":
            source_version = None
            answer = client.get_object(Bucket=bucket, Key=sidecar_of(key))
            source_version = answer.get("VersionId")
            parsed = json.loads(answer["Body"].read())
            raw = parsed if isinstance(parsed, dict) else {}
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") not in ("NoSuchKey", "404", "NoSuchVersion"):
            raise
    except ValueError:
        raw = {}  # an unreadable sidecar gives no facts: the item is never due by them
    return ReadFacts(decode_facts(raw, config, wanted), source_version)


def still_current(config: Facts, read_from: str | None, newest_now: str | None) -> bool:
    """Whether facts read from version `read_from` are still the item's
    facts, `newest_now` being the newest version of their source now."""
    if config.source == "tags" or read_from is None:
        return False  # tags change in place; nothing read: read now
    return read_from == newest_now
