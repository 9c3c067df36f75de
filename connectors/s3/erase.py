"""Erasing keys from a versioned bucket without ever making data visible
again, and reporting exactly what went.

Order per batch:
1. Every data version of every key, and the delete markers of keys that have
   no data version (a marker alone hides nothing).
2. The delete markers of the keys whose every data version went in step 1.
   A key that kept a version (Object Lock, legal hold, a refusal) keeps its
   markers: removing them would make the kept photo the current object, and
   answer GET with it, where before it was hidden.
3. Unfinished multipart uploads of the keys with nothing left; then, for
   sidecar facts, the sidecars of those keys (a sidecar left alone is found
   again; an item left without its facts would never be due again).

Per key the result says: done (no version, marker or upload left), kept
(a lock keeps a version; Held says until when) or failed. Every data version
that went is also claimed, one by one, as a record of the child dataset
`<system>.<dataset>-versions` (see versions_child): so a key a lock keeps,
whose older versions went, has exactly those versions claimed; the intent
names every data version it may remove, and recovery asks keys() of the
child dataset which of them are still held.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from connectors.base import ApplyResult, Held
from connectors.media.keys import sidecar_of
from connectors.s3.delete import DeleteOutcome, Pair, delete_pairs
from connectors.s3.lock import object_lock_on
from connectors.s3.multipart import abort_uploads
from connectors.s3.versions import Version

VERSIONS_SUFFIX = "-versions"


def versions_child(dataset: str) -> str:
    """The child dataset whose records are the data versions of dataset's keys."""
    return dataset + VERSIONS_SUFFIX


def version_claim(key: str, version_id: str) -> str:
    """How one data version is named in the ledger (then hashed, like a key)."""
    return f"{key}?versionId={version_id}"


def data_version_claims(keys: Sequence[str], versions: dict[str, list[Version]]) -> list[str]:
    return [
        version_claim(k, v.version_id) for k in keys for v in versions.get(k, []) if not v.is_marker
    ]


@dataclass
class KeyEraser:
    client: Any
    bucket: str
    now: datetime
    locks: dict[str, Held] = field(default_factory=dict)

    def erase(
        self,
        child: str,
        keys: Sequence[str],
        versions: dict[str, list[Version]],
        uploads: dict[str, list[str]],
        *,
        uses_sidecars: bool,
        result: ApplyResult,
    ) -> None:
        data = {k: [v for v in versions.get(k, []) if not v.is_marker] for k in keys}
        markers = {k: [v for v in versions.get(k, []) if v.is_marker] for k in keys}
        first = self._delete(
            [(k, v.version_id) for k in keys for v in data[k]]
            + [(k, v.version_id) for k in keys if not data[k] for v in markers[k]]
        )
        refused = {pair[0] for pair in (*first.failed, *first.settled)}
        uncovered = [k for k in keys if data[k] and k not in refused]
        second = self._delete([(k, v.version_id) for k in uncovered for v in markers[k]])
        problems = _problems(second, "delete marker not removed")
        problems.update(_problems(first, "DeleteObjects refused a version"))
        finished: list[str] = []
        for key in keys:
            problem = problems.get(key)
            if key in self.locks and not problem:
                result.kept.append(self.locks[key])
            elif problem:
                result.failed.append((key, problem))
            else:
                errors = abort_uploads(self.client, self.bucket, key, uploads.pop(key, []))
                if errors:
                    result.failed.append((key, f"multipart upload not aborted: {errors[0]}"))
                else:
                    finished.append(key)
        gone = [version_claim(k, v) for k, v in first.deleted if data.get(k)]
        if gone:
            result.cascaded.setdefault(child, []).extend(sorted(gone))
        if uses_sidecars:
            finished = self._remove_sidecars(finished, versions, result)
        result.done += finished

    def _remove_sidecars(
        self, finished: list[str], versions: dict[str, list[Version]], result: ApplyResult
    ) -> list[str]:
        pairs = [
            (sidecar_of(k), v.version_id) for k in finished for v in versions.get(sidecar_of(k), [])
        ]
        left = self._delete(pairs)
        troubled = {pair[0]: code for pair, code in {**left.failed, **left.settled}.items()}
        done = []
        for key in finished:
            code = troubled.get(sidecar_of(key))
            if code:
                result.failed.append((key, f"media erased, sidecar not removed: {code}"))
            else:
                done.append(key)
        return done

    def _delete(self, pairs: list[Pair]) -> DeleteOutcome:
        return delete_pairs(self.client, self.bucket, pairs, settle=self._settle)

    def _settle(self, pair: Pair, code: str) -> bool:
        # Only a lock is final; any other refusal is worth another round.
        if code != "AccessDenied":
            return False
        held = object_lock_on(self.client, self.bucket, pair[0], pair[1], now=self.now)
        if held is not None:
            self.locks.setdefault(pair[0], held)
        return held is not None


def _problems(outcome: DeleteOutcome, what: str) -> dict[str, str]:
    """key -> why it failed, for keys with a pair that kept failing."""
    return {pair[0]: f"{what}: {code}" for pair, code in outcome.failed.items()}
