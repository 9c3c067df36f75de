"""The S3 media connector: finds due objects by their facts and erases them,
every version, delete marker and unfinished upload.

The due decision is media_facts', shared with the folder connector. What an
erasure really did is reported per key: done (nothing of it is left), kept
(Object Lock keeps a version), failed (S3 kept refusing) or skipped (gone or
no longer due).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from connectors.base import ApplyResult, Held, Key, Prepared, RecordIntent, ScanBatch
from connectors.media_facts import (
    FactValue,
    ItemFacts,
    MediaInputError,
    dataset_of_rule,
    find_subject_in,
    identity_values,
    media_dataset,
    prepare_rule,
    recheck,
    scan_batches,
    subject_values_of,
)
from connectors.media_index import FactIndex, open_fact_indexes
from connectors.media_keys import is_sidecar, keys_to_apply, sidecar_of
from connectors.s3_client import RequestCounter, build_s3_client
from connectors.s3_cursor import Listed, VersionCursor
from connectors.s3_delete import Pair, delete_pairs
from connectors.s3_facts import newest_versions, read_facts
from connectors.s3_lock import object_lock_on
from connectors.s3_multipart import abort_uploads, uploads_under
from connectors.s3_recent import RecentListings
from connectors.s3_versions import PER_KEY_LISTING_MAX, Version, versions_of_each
from retention.errors import ConnectionFailed
from retention.logs import get_logger
from retention.policy import Action, Condition, Dataset, Facts, Policy, Rule, Scalar, System

log = get_logger("connectors.s3")


@dataclass
class S3Connector:
    name: str
    system: System
    client: Any
    requests: RequestCounter
    batch_size: int
    policy: Policy | None
    indexes: dict[str, FactIndex]
    list_page_size: int | None = None  # entries per listing page; None: S3's 1,000
    _uploads: dict[str, dict[str, list[str]]] = field(default_factory=dict)
    _recent: RecentListings = field(default_factory=RecentListings)
    _cursors: dict[str, VersionCursor] = field(default_factory=dict)

    @property
    def bucket(self) -> str:
        assert self.system.bucket is not None
        return self.system.bucket

    # --- protocol ------------------------------------------------------------

    def check(self) -> None:
        try:
            self.client.head_bucket(Bucket=self.bucket)
        except (ClientError, BotoCoreError) as exc:
            raise ConnectionFailed(
                f"system {self.name!r}: bucket {self.bucket!r} is not reachable "
                f"({type(exc).__name__})"
            ) from exc

    def count(self, dataset: str) -> int:
        ds, facts = self._dataset(dataset)
        uses_sidecars = facts.source == "sidecar"
        total = 0
        for page in self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=ds.prefix
        ):
            total += sum(not is_sidecar(o["Key"], uses_sidecars) for o in page.get("Contents", []))
        return total

    def identities(self, dataset: str, keys: Sequence[Key]) -> list[str]:
        ds, facts = self._dataset(dataset)
        wanted = set(ds.identity_fields.values())
        if not wanted or not keys:
            return []
        names = [str(k) for k in keys]
        # An index answers in one query; metadata and tags are read off each
        # object's newest version (the scan read them the same way).
        versions = (
            {} if facts.source == "index" else versions_of_each(self.client, self.bucket, names)
        )
        known = self._facts_at_apply(dataset, facts, names, versions, wanted)
        return identity_values(ds, known)

    def images(self, dataset: str, columns: Sequence[str]) -> Iterator[list[tuple[Key, str]]]:
        # Media items are only ever deleted: presence is their whole image.
        for page in self.keys(dataset):
            yield [(key, "") for key in page]

    def keys(self, dataset: str) -> Iterator[list[Key]]:
        """Keys with any version or delete marker left: an erased key has none."""
        ds, facts = self._dataset(dataset)
        uses_sidecars = facts.source == "sidecar"
        last: str | None = None
        for page in self.client.get_paginator("list_object_versions").paginate(
            Bucket=self.bucket, Prefix=ds.prefix
        ):
            names = [e["Key"] for e in page.get("Versions", []) + page.get("DeleteMarkers", [])]
            fresh = sorted({n for n in names if not is_sidecar(n, uses_sidecars)} - {last})
            if fresh:
                yield list(fresh)
                last = fresh[-1]

    def scan(self, rule: Rule, *, now: datetime) -> Iterator[ScanBatch]:
        dataset = dataset_of_rule(self.name, self.system, rule)
        qualified = self._qualified(dataset)
        prepared = prepare_rule(rule, qualified=qualified, policy=self.policy, now=now)
        items = self._items(dataset, prepared.facts_needed())
        batches = scan_batches(
            items, prepared, qualified=rule.dataset, batch_size=self.batch_size, log=log
        )
        if self._dataset(dataset)[1].source != "index":
            yield from batches  # the listing that found the items showed they exist
            return
        for batch in batches:
            stored = self._only_stored(dataset, batch)
            if stored.due or stored.held or stored.undated:
                yield stored

    def _only_stored(self, dataset: str, batch: ScanBatch) -> ScanBatch:
        """An index may name objects already erased: keep only keys that still
        have a version or an unfinished upload."""
        ds, _ = self._dataset(dataset)
        assert ds.prefix is not None
        keys = sorted({str(k) for k in batch.due} | {str(h.key) for h in batch.held})
        if not keys:
            return batch
        listed = self._versions(ds.prefix, keys)
        versions = listed.versions
        self._recent.remember(keys, versions, listed_at=listed.listed_at)
        uploads = self._uploads_of(ds.prefix)
        stored = {k for k in keys if versions.get(k) or uploads.get(k)}
        return ScanBatch(
            dataset=batch.dataset,
            due=[k for k in batch.due if k in stored],
            held=[h for h in batch.held if h.key in stored],
            undated=batch.undated,
        )

    def subject_values(self, dataset: str, column: str, where: Sequence[Condition]) -> set[Scalar]:
        return subject_values_of(self._items, dataset, column, where)

    def find_subject(self, identities: Mapping[str, Sequence[str]]) -> dict[str, list[Key]]:
        return find_subject_in(self._items, self.system.datasets, identities)

    def apply(
        self,
        dataset: str,
        action: Action,
        keys: Sequence[Key],
        *,
        now: datetime,
        rule: Rule | None = None,
        record: RecordIntent | None = None,
    ) -> ApplyResult:
        ds, facts = self._dataset(dataset)
        wanted = keys_to_apply(ds, facts, action, keys, now)
        assert ds.prefix is not None
        uses_sidecars = facts.source == "sidecar"
        prepared = (
            prepare_rule(rule, qualified=self._qualified(dataset), policy=self.policy, now=now)
            if rule is not None
            else None
        )
        listed = sorted(wanted + [sidecar_of(k) for k in wanted] if uses_sidecars else wanted)
        versions = self._recent.take(listed)
        if versions is None:
            versions = self._versions(ds.prefix, listed).versions
        uploads = self._uploads_of(ds.prefix)
        result = ApplyResult()
        if prepared is not None:
            known = self._facts_at_apply(dataset, facts, wanted, versions, prepared.facts_needed())
            verdict = recheck(wanted, known, prepared)
            result.kept += verdict.kept
            result.skipped += verdict.skipped
            wanted = verdict.still_due
        present = [
            k for k in wanted if versions.get(k) or uploads.get(k) or versions.get(sidecar_of(k))
        ]
        result.skipped += [k for k in wanted if k not in set(present)]
        if present and record is not None:
            record(Prepared(changes=list(present)))
        self._erase(present, versions, uploads, uses_sidecars, now, result)
        log.debug(
            "s3.apply.batch",
            system=self.name,
            dataset=dataset,
            asked=len(keys),
            done=len(result.done),
            kept=len(result.kept),
            failed=len(result.failed),
            skipped=len(result.skipped),
            requests_total=self.requests.total,
        )
        return result

    def close(self) -> None:
        for index in self.indexes.values():
            index.close()
        self.client.close()

    # --- listing versions ----------------------------------------------------

    def _versions(self, prefix: str, keys: list[str]) -> Listed:
        """Versions of sorted keys. Successive batches walk on along one
        listing of the dataset (each page read once); a few keys the listing
        cannot walk on to are listed one by one instead of starting a walk."""
        cursor = self._cursors.get(prefix)
        if cursor is None:
            cursor = VersionCursor(
                self.client,
                self.bucket,
                prefix,
                clock=self._recent.clock,
                page_size=self.list_page_size,
            )
            self._cursors[prefix] = cursor
        if len(keys) <= PER_KEY_LISTING_MAX and not cursor.continues(keys):
            started = self._recent.clock()
            return Listed(versions_of_each(self.client, self.bucket, keys), started)
        return cursor.versions(keys)

    def _note_erasing(self, keys: list[str]) -> None:
        # Before any delete: a listing must never go on from a version we
        # delete (moto would answer with an empty page; see s3_cursor).
        for cursor in self._cursors.values():
            cursor.note_erased(keys)

    # --- erasing -------------------------------------------------------------

    def _erase(
        self,
        keys: list[str],
        versions: dict[str, list[Version]],
        uploads: dict[str, list[str]],
        uses_sidecars: bool,
        now: datetime,
        result: ApplyResult,
    ) -> None:
        locks: dict[str, Held] = {}

        def settle(pair: Pair, code: str) -> bool:
            # Only a lock is final; any other refusal is worth another round.
            if code != "AccessDenied":
                return False
            held = object_lock_on(self.client, self.bucket, pair[0], pair[1], now=now)
            if held is not None:
                locks.setdefault(pair[0], held)
            return held is not None

        self._note_erasing(keys + [sidecar_of(k) for k in keys] if uses_sidecars else keys)
        media_pairs = [(k, v.version_id) for k in keys for v in versions.get(k, [])]
        outcome = delete_pairs(self.client, self.bucket, media_pairs, settle=settle)
        failed_keys = {pair[0]: code for pair, code in outcome.failed.items()}
        finished: list[str] = []
        for key in keys:
            if key in failed_keys:
                result.failed.append((key, f"DeleteObjects refused a version: {failed_keys[key]}"))
            elif key in locks:
                result.kept.append(locks[key])
            else:
                errors = abort_uploads(self.client, self.bucket, key, uploads.pop(key, []))
                if errors:
                    result.failed.append((key, f"multipart upload not aborted: {errors[0]}"))
                else:
                    finished.append(key)
        if not uses_sidecars:
            result.done += finished
            return
        # The sidecar goes only once its media item is gone: a sidecar left
        # alone is found again by the next run; an item left without its facts
        # would never be due again.
        sidecar_pairs = [
            (sidecar_of(k), v.version_id) for k in finished for v in versions.get(sidecar_of(k), [])
        ]
        left = delete_pairs(self.client, self.bucket, sidecar_pairs, settle=settle)
        troubled = {pair[0]: code for pair, code in {**left.failed, **left.settled}.items()}
        for key in finished:
            code = troubled.get(sidecar_of(key))
            if code:
                result.failed.append((key, f"media erased, sidecar not removed: {code}"))
            else:
                result.done.append(key)

    def _uploads_of(self, prefix: str) -> dict[str, list[str]]:
        # Listed once per dataset and connector (one run): an upload begun
        # later is a new write, like a new put, and the next run finds it.
        if prefix not in self._uploads:
            self._uploads[prefix] = uploads_under(self.client, self.bucket, prefix)
        return self._uploads[prefix]

    # --- facts ---------------------------------------------------------------

    def _items(self, dataset: str, wanted: set[str]) -> Iterator[tuple[str, ItemFacts]]:
        ds, facts = self._dataset(dataset)
        assert ds.prefix is not None
        if facts.source == "index":
            yield from self.indexes[dataset].items_under(ds.prefix, wanted)
            return
        for key, version in newest_versions(
            self.client, self.bucket, ds.prefix, uses_sidecars=facts.source == "sidecar"
        ):
            yield key, read_facts(self.client, self.bucket, facts, key, version, wanted)

    def _facts_at_apply(
        self,
        dataset: str,
        facts: Facts,
        keys: list[str],
        versions: dict[str, list[Version]],
        wanted: set[str],
    ) -> dict[str, dict[str, FactValue]]:
        if facts.source == "index":
            return self.indexes[dataset].facts_for(keys, wanted)
        out = {}
        for key in keys:
            newest = next((v.version_id for v in versions.get(key, []) if not v.is_marker), None)
            if newest is not None or facts.source == "sidecar":
                out[key] = read_facts(self.client, self.bucket, facts, key, newest, wanted)
        return out

    def _dataset(self, dataset: str) -> tuple[Dataset, Facts]:
        return media_dataset(self.name, self.system, dataset)

    def _qualified(self, dataset: str) -> str:
        return f"{self.name}.{dataset}"


def open_s3_connector(
    name: str,
    system: System,
    *,
    endpoint_url: str | None,
    hash_key: bytes,
    batch_size: int = 1000,
    policy: Policy | None = None,
    session: boto3.Session | None = None,
    index_url: str | None = None,
) -> S3Connector:
    """hash_key is accepted for the common connector signature; media keys
    are object keys, and nothing here stores identities."""
    if system.kind != "s3" or system.bucket is None:
        raise MediaInputError(f"systems.{name}.kind: an S3 connector needs kind 's3' and a bucket")
    if batch_size < 1:
        raise MediaInputError(f"batch_size: {batch_size} must be at least 1")
    indexes = open_fact_indexes(system, index_url, policy)
    client, counter = build_s3_client(system, endpoint_url=endpoint_url, session=session)
    return S3Connector(name, system, client, counter, batch_size, policy, indexes)
