"""The S3 media connector: finds due objects by their facts and erases them,
every version, delete marker and unfinished upload.

The due decision is media_facts', shared with the folder connector. What an
erasure really did is reported per key: done (nothing of it is left), kept
(Object Lock keeps a version), failed (S3 kept refusing) or skipped (gone or
no longer due).
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from connectors.base import ApplyResult, Key, Prepared, RecordIntent, ScanBatch
from connectors.media.facts import (
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
from connectors.media.index import FactIndex, open_fact_indexes
from connectors.media.keys import is_sidecar, keys_to_apply, sidecar_of
from connectors.s3.client import RequestCounter, build_s3_client
from connectors.s3.cursor import Listed, VersionCursor
from connectors.s3.erase import (
    VERSIONS_SUFFIX,
    KeyEraser,
    data_version_claims,
    version_claim,
    versions_child,
)
from connectors.s3.fact_cache import FactCache
from connectors.s3.facts import ListedKey, ReadFacts, listed_keys, read_facts, still_current
from connectors.s3.multipart import uploads_under
from connectors.s3.recent import RecentListings
from connectors.s3.versions import PER_KEY_LISTING_MAX, Version, versions_of_each
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
    _facts: FactCache = field(default_factory=FactCache)

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
        """Media keys with a data version: a key whose newest entry is a
        delete marker counts too, its older versions still hold the photo
        (the denominator of max_share must include what a sweep may erase)."""
        ds, facts = self._dataset(dataset)
        assert ds.prefix is not None
        uses_sidecars = facts.source == "sidecar"
        return sum(
            1
            for listed in listed_keys(self.client, self.bucket, ds.prefix, clock=self._recent.clock)
            if listed.newest_data is not None and not is_sidecar(listed.key, uses_sidecars)
        )

    def identities(self, dataset: str, keys: Sequence[Key]) -> list[str]:
        ds, facts = self._dataset(dataset)
        wanted = set(ds.identity_fields.values())
        if not wanted or not keys:
            return []
        names = sorted({str(k) for k in keys})
        if facts.source == "index":
            return identity_values(ds, self.indexes[dataset].facts_for(names, wanted))
        # The scan read them with the rule's facts; only keys it did not
        # keep are listed (once, remembered for the apply) and read.
        known = {k: f for k in names if (f := self._facts.facts(k, wanted)) is not None}
        missing = [k for k in names if k not in known]
        if missing:
            versions = self._listing(ds.prefix or "", facts, missing, keep=True)
            known.update(self._read_facts(facts, missing, versions, wanted))
        return identity_values(ds, known)

    def images(self, dataset: str, columns: Sequence[str]) -> Iterator[list[tuple[Key, str]]]:
        # Media items are only ever deleted: presence is their whole image.
        for page in self.keys(dataset):
            yield [(key, "") for key in page]

    def keys(self, dataset: str) -> Iterator[list[Key]]:
        """Keys with any version or delete marker left: an erased key has none,
        a key a lock keeps is still here. For `<dataset>-versions` (the child
        an erasure claims versions under), every data version still held."""
        parent = dataset.removesuffix(VERSIONS_SUFFIX)
        as_versions = parent != dataset and dataset not in self.system.datasets
        ds, facts = self._dataset(parent if as_versions else dataset)
        assert ds.prefix is not None
        uses_sidecars = facts.source == "sidecar"
        page: list[Key] = []
        for listed in listed_keys(self.client, self.bucket, ds.prefix, clock=self._recent.clock):
            if is_sidecar(listed.key, uses_sidecars):
                continue
            if as_versions:
                page += [
                    version_claim(listed.key, v.version_id)
                    for v in listed.versions
                    if not v.is_marker
                ]
            else:
                page.append(listed.key)
            if len(page) >= self.batch_size:
                yield page
                page = []
        if page:
            yield page

    def scan(self, rule: Rule, *, now: datetime) -> Iterator[ScanBatch]:
        dataset = dataset_of_rule(self.name, self.system, rule)
        qualified = self._qualified(dataset)
        prepared = prepare_rule(rule, qualified=qualified, policy=self.policy, now=now)
        ds, facts = self._dataset(dataset)
        if facts.source == "index":
            items = self._items(dataset, prepared.facts_needed())
            batches = scan_batches(
                items, prepared, qualified=rule.dataset, batch_size=self.batch_size, log=log
            )
            for batch in batches:
                stored = self._only_stored(dataset, batch)
                if stored.due or stored.held or stored.undated:
                    yield stored
            return
        # Read the identity facts too: the same request returns them, and
        # the batch's intent needs them next.
        wanted = prepared.facts_needed() | set(ds.identity_fields.values())
        seen = _ScanMemory(self._recent, self._facts, facts.source == "sidecar")
        yield from scan_batches(
            seen.items(self._listed_facts(dataset, wanted)),
            prepared,
            qualified=rule.dataset,
            batch_size=self.batch_size,
            log=log,
            found=seen.found,
        )

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
        started = time.monotonic()
        before = self.requests.total
        ds, facts = self._dataset(dataset)
        wanted = keys_to_apply(ds, facts, action, keys, now)
        assert ds.prefix is not None
        uses_sidecars = facts.source == "sidecar"
        prepared = (
            prepare_rule(rule, qualified=self._qualified(dataset), policy=self.policy, now=now)
            if rule is not None
            else None
        )
        versions = self._listing(ds.prefix, facts, wanted, keep=False)
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
        child = versions_child(self._qualified(dataset))
        if present and record is not None:
            claims: list[Key] = list(data_version_claims(present, versions))
            record(Prepared(changes=list(present), cascaded={child: claims} if claims else {}))
        self._note_erasing(present + [sidecar_of(k) for k in present] if uses_sidecars else present)
        KeyEraser(self.client, self.bucket, now).erase(
            child, present, versions, uploads, uses_sidecars=uses_sidecars, result=result
        )
        self._facts.forget(str(k) for k in keys)
        seconds = time.monotonic() - started
        log.debug(
            "s3.apply.batch",
            system=self.name,
            dataset=dataset,
            asked=len(keys),
            done=len(result.done),
            kept=len(result.kept),
            failed=len(result.failed),
            skipped=len(result.skipped),
            # Over the whole call, listing and re-check included.
            seconds=round(seconds, 3),
            objects_per_s=round(len(result.done) / max(seconds, 1e-9), 1),
            requests=self.requests.total - before,
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

    def _listing(
        self, prefix: str, facts: Facts, keys: list[str], *, keep: bool
    ) -> dict[str, list[Version]]:
        """Versions of keys (and their sidecars) from a fresh listing the scan
        or identities made, else listed now. keep: leave it for the apply."""
        listed = sorted(keys + [sidecar_of(k) for k in keys]) if facts.source == "sidecar" else keys
        recent = self._recent.peek(listed) if keep else self._recent.take(listed)
        if recent is not None:
            return recent
        fresh = self._versions(prefix, listed)
        if keep:
            self._recent.remember(listed, fresh.versions, listed_at=fresh.listed_at)
        return fresh.versions

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
        for listed, read in self._listed_facts(dataset, wanted):
            yield listed.key, read.facts

    def _listed_facts(
        self, dataset: str, wanted: set[str]
    ) -> Iterator[tuple[ListedKey, ReadFacts]]:
        """Every key under the dataset's prefix, from pages of the version
        listing, with the facts of its newest data version; sidecar keys
        come with empty facts (they are not items)."""
        ds, facts = self._dataset(dataset)
        assert ds.prefix is not None
        uses_sidecars = facts.source == "sidecar"
        for listed in listed_keys(self.client, self.bucket, ds.prefix, clock=self._recent.clock):
            if is_sidecar(listed.key, uses_sidecars):
                yield listed, ReadFacts({}, None)
                continue
            yield (
                listed,
                read_facts(self.client, self.bucket, facts, listed.key, listed.newest_data, wanted),
            )

    def _facts_at_apply(
        self,
        dataset: str,
        facts: Facts,
        keys: list[str],
        versions: dict[str, list[Version]],
        wanted: set[str],
    ) -> dict[str, dict[str, FactValue]]:
        """The facts to re-check: the scan's where they cannot have changed
        since (same source version), else read now."""
        if facts.source == "index":
            return self.indexes[dataset].facts_for(keys, wanted)
        out: dict[str, dict[str, FactValue]] = {}
        for key in keys:
            cached = self._facts.get(key, wanted)
            if cached is not None and still_current(
                facts, cached.source_version, _source_now(facts, key, versions)
            ):
                out[key] = cached.facts
        out.update(self._read_facts(facts, [k for k in keys if k not in out], versions, wanted))
        return out

    def _read_facts(
        self,
        facts: Facts,
        keys: list[str],
        versions: dict[str, list[Version]],
        wanted: set[str],
    ) -> dict[str, dict[str, FactValue]]:
        out = {}
        for key in keys:
            newest = next((v.version_id for v in versions.get(key, []) if not v.is_marker), None)
            if newest is not None or facts.source == "sidecar":
                read = read_facts(self.client, self.bucket, facts, key, newest, wanted)
                out[key] = read.facts
        return out

    def _dataset(self, dataset: str) -> tuple[Dataset, Facts]:
        return media_dataset(self.name, self.system, dataset)

    def _qualified(self, dataset: str) -> str:
        return f"{self.name}.{dataset}"


def _source_now(facts: Facts, key: str, versions: dict[str, list[Version]]) -> str | None:
    """The version the item's facts would be read from now: its newest data
    version; for a sidecar, the sidecar's newest entry (a marker on it means
    the facts are gone)."""
    if facts.source == "sidecar":
        entries = versions.get(sidecar_of(key), [])
        return entries[0].version_id if entries else None
    return next((v.version_id for v in versions.get(key, []) if not v.is_marker), None)


@dataclass
class _ScanMemory:
    """Keeps, of the items a scan reads, what the due and held ones need
    next: their listing (for the apply) and their facts (for identities and
    the re-check). Only the item being judged is held meanwhile."""

    recent: RecentListings
    facts: FactCache
    uses_sidecars: bool
    _current: tuple[ListedKey, ReadFacts] | None = None
    _sidecars_wanted: set[str] = field(default_factory=set)

    def items(
        self, listed: Iterator[tuple[ListedKey, ReadFacts]]
    ) -> Iterator[tuple[str, ItemFacts]]:
        for entry, read in listed:
            if is_sidecar(entry.key, self.uses_sidecars):
                # Sorts after its item: remembered if the item was found due.
                if entry.key in self._sidecars_wanted:
                    self._sidecars_wanted.discard(entry.key)
                    self._remember(entry)
                continue
            self._current = (entry, read)
            yield entry.key, read.facts

    def found(self, key: str) -> None:
        assert self._current is not None and self._current[0].key == key
        entry, read = self._current
        self._remember(entry)
        self.facts.keep(key, read)
        if self.uses_sidecars:
            self._sidecars_wanted.add(sidecar_of(key))

    def _remember(self, entry: ListedKey) -> None:
        self.recent.remember([entry.key], {entry.key: entry.versions}, listed_at=entry.listed_at)


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
