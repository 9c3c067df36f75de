"""Version listings a scan just made, reused by the apply that follows.

An index-driven scan lists the due range once, to drop keys that are already
gone (so a re-scan shows nothing due); the apply right after needs the same
listing. Reusing it halves the listing requests. It is reused only while
young: after an operator's approval pause the apply lists again, so a version
written in the meantime is not left behind.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from connectors.s3.versions import Version

FRESH_FOR_S = 60.0


@dataclass
class RecentListings:
    clock: Callable[[], float] = time.monotonic
    _entries: dict[str, tuple[float, list[Version]]] = field(default_factory=dict)

    def remember(
        self,
        keys: Sequence[str],
        versions: dict[str, list[Version]],
        *,
        listed_at: float | None = None,
    ) -> None:
        """listed_at: when the oldest page of the listing was read (a listing
        that walks on may have read it a batch earlier); default now."""
        now = self.clock() if listed_at is None else listed_at
        self._forget_stale()
        for key in keys:
            self._entries[key] = (now, versions.get(key, []))

    def peek(self, keys: Sequence[str]) -> dict[str, list[Version]] | None:
        """As take, but the listings stay for the apply that follows."""
        now = self.clock()
        entries = [self._entries.get(k) for k in keys]
        if any(e is None or now - e[0] > FRESH_FOR_S for e in entries):
            return None
        return {k: e[1] for k, e in zip(keys, entries, strict=True) if e is not None and e[1]}

    def take(self, keys: Sequence[str]) -> dict[str, list[Version]] | None:
        """The remembered versions of all keys, if every key has a fresh
        listing; else None (and the caller lists again)."""
        found = self.peek(keys)
        for key in keys:
            self._entries.pop(key, None)
        return found

    def _forget_stale(self) -> None:
        # A listing older than FRESH_FOR_S is never used again, so a plan of
        # a million keys does not keep a million listings. Entries are kept
        # in the order they were listed: drop from the front while stale.
        now = self.clock()
        while self._entries:
            key = next(iter(self._entries))
            if now - self._entries[key][0] <= FRESH_FOR_S:
                break
            del self._entries[key]
