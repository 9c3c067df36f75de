"""One forward listing of every version and delete marker under a dataset's
prefix, read only as far as the keys asked for so far need.

Why: a listing per batch of 1,000 keys needs a second page to learn that the
batch's last key has no further version, and that page is the next batch's
first page, read again. One listing that walks on through the due range reads
each page once: about one ListObjectVersions per 1,000 versions, plus one page
past the end of the range.

What keeps a version from being missed:
- The first request names only a Prefix (the asked keys' common prefix). moto
  reads a KeyMarker without VersionIdMarker as "keys >= marker" and then drops
  the first entry it reaches; S3 reads it as "keys > marker".
- Every later request goes on from the previous page's NextKeyMarker and
  NextVersionIdMarker, under the whole dataset prefix. Widening the prefix
  loses nothing: every key between two keys that share a prefix shares it too,
  so all that lies between the first page and its marker was listed.
- A marker must be a version that still exists: moto answers a marker whose
  version was deleted with an empty, untruncated page, exactly like the end of
  the listing. So the connector reports what it erases (`note_erased`), and a
  marker it erased is dropped; a continuation that comes back empty is never
  taken as the end. Either way the keys are listed afresh from a Prefix, and a
  fresh listing that loses its place twice raises instead of guessing.
- Keys are served in increasing order. Keys at or before those already served,
  or a listing older than FRESH_FOR_S, start a new listing.

Memory: the unread rest of the last page (at most 1,000 entries) and the
versions of the keys asked for.
"""

from __future__ import annotations

import os
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from connectors.s3.recent import FRESH_FOR_S
from connectors.s3.versions import Version, page_entries


class ListingLost(RuntimeError):
    """The version listing lost its place twice while listing the same keys."""


class _Lost(Exception):
    """The walk cannot go on from where it is; the keys must be listed afresh."""


@dataclass
class Listed:
    versions: dict[str, list[Version]]  # only keys with something stored
    listed_at: float  # clock time of the oldest page these were read from


@dataclass
class VersionCursor:
    client: Any
    bucket: str
    scope: str  # the dataset prefix: every key asked for is under it
    clock: Callable[[], float] = time.monotonic
    page_size: int | None = None  # None: S3's own (at most 1,000); tests use small pages
    _prefix: str = ""  # of the next request
    _started: bool = False
    _marker: tuple[str, str] | None = None  # where the next request goes on from
    _ended_under: str | None = None  # the listing under this prefix was read to its end
    _buffer: deque[Version] = field(default_factory=deque)  # read, beyond the keys served
    _served: str | None = None  # last key served
    _fetched_at: float = 0.0

    def versions(self, keys: Sequence[str]) -> Listed:
        """Every version and delete marker of `keys` (sorted, under scope)."""
        if not keys:
            return Listed({}, self.clock())
        if self.continues(keys):
            try:
                return self._serve(keys)
            except _Lost:
                pass  # cannot walk on from here: list these keys afresh
        for _ in range(2):
            self._restart(keys)
            try:
                return self._serve(keys)
            except _Lost:
                continue
        self._restart(keys)
        raise ListingLost(
            f"bucket {self.bucket!r}: list_object_versions lost its place twice while "
            "listing one batch (keys deleted meanwhile?); nothing was erased for it"
        )

    def continues(self, keys: Sequence[str]) -> bool:
        """Whether `keys` can be served by walking on, without a new listing."""
        return (
            self._started
            and self._served is not None
            and bool(keys)
            and keys[0] > self._served
            and self.clock() - self._fetched_at <= FRESH_FOR_S
        )

    def note_erased(self, keys: Iterable[str]) -> None:
        """Versions of these keys are about to be deleted: never go on from them."""
        erased = set(keys)
        if self._marker is not None and self._marker[0] in erased:
            self._marker = None
        if any(v.key in erased for v in self._buffer):
            self._buffer = deque(v for v in self._buffer if v.key not in erased)

    def _restart(self, keys: Sequence[str]) -> None:
        self._prefix = os.path.commonprefix([keys[0], keys[-1]])
        self._started = False
        self._marker = None
        self._ended_under = None
        self._buffer.clear()
        self._served = None

    def _serve(self, keys: Sequence[str]) -> Listed:
        wanted, last = set(keys), keys[-1]
        found: dict[str, list[Version]] = {}
        oldest = self._fetched_at if self._started else float("inf")
        while True:
            while self._buffer and self._buffer[0].key <= last:
                version = self._buffer.popleft()
                if version.key in wanted:
                    found.setdefault(version.key, []).append(version)
            # An entry beyond the last key proves its versions are all read;
            # so does the end of a listing whose prefix holds the last key.
            if self._buffer or (
                self._ended_under is not None and last.startswith(self._ended_under)
            ):
                break
            self._fetch()
            oldest = min(oldest, self._fetched_at)
        self._served = last
        return Listed(found, oldest)

    def _fetch(self) -> None:
        request: dict[str, Any] = {"Bucket": self.bucket, "Prefix": self._prefix}
        if self.page_size is not None:
            request["MaxKeys"] = self.page_size
        if self._started:
            if self._marker is None:
                raise _Lost
            request["KeyMarker"], request["VersionIdMarker"] = self._marker
        page = self.client.list_object_versions(**request)
        entries = page_entries(page)
        if self._started and not entries:
            # The page before promised more (or the marker's version is gone
            # and moto shows that as an empty listing): not a safe end.
            raise _Lost
        self._started = True
        self._fetched_at = self.clock()
        self._buffer.extend(entries)
        if page.get("IsTruncated"):
            key, version = page.get("NextKeyMarker"), page.get("NextVersionIdMarker")
            self._marker = (key, version) if key and version else None
            self._ended_under = None
            self._prefix = self.scope
        else:
            # The last entry's place among same-key versions is not certain
            # (Versions and DeleteMarkers come as separate lists), so no
            # marker: a key beyond this prefix starts a new listing.
            self._marker = None
            self._ended_under = self._prefix
