"""Facts a scan read, kept for the same connector's identities and re-check.

Reading an object's tags or metadata is a request per object; a sweep reads
them for the plan, then needs the subjects for the batch's intent and the
rule's facts again at apply. Keeping what the scan read for the keys it found
due (or held) saves both reads where nothing can have changed (see
s3_facts.still_current).

Memory stays bounded: past MAX_ENTRIES keys nothing more is kept, and those
keys are read again when needed (the first batches, applied first, benefit).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from connectors.media.facts import FactValue
from connectors.s3.facts import ReadFacts

MAX_ENTRIES = 200_000


@dataclass
class FactCache:
    limit: int = MAX_ENTRIES
    _entries: dict[str, ReadFacts] = field(default_factory=dict)

    def keep(self, key: str, read: ReadFacts) -> None:
        if key in self._entries or len(self._entries) < self.limit:
            self._entries[key] = read

    def get(self, key: str, wanted: Iterable[str]) -> ReadFacts | None:
        """What was read of key, if it covers every wanted fact."""
        read = self._entries.get(key)
        if read is None or not set(wanted) <= set(read.facts):
            return None
        return read

    def facts(self, key: str, wanted: Iterable[str]) -> dict[str, FactValue] | None:
        read = self.get(key, wanted)
        return None if read is None else read.facts

    def forget(self, keys: Iterable[str]) -> None:
        for key in keys:
            self._entries.pop(key, None)
