"""The Connector protocol: what the pipeline asks of any system.

A connector plays the part an httpx transport plays: the pipeline (plan,
guard, apply, evidence) is the same for every system, and a test can swap a
real store for another. Connectors know nothing of Prefect or the ledger.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol, runtime_checkable

from retention.policy import Action, Condition, Rule, Scalar

Key = str | int


@dataclass(frozen=True)
class Held:
    """A record a hold keeps: which hold (or store lock), and until when."""

    key: Key
    hold_id: str
    until: datetime | None  # None: until further notice (open-ended, or date unknown)
    note: str = ""  # e.g. "date unknown": a hold whose clock is NULL keeps the record


@dataclass
class ScanBatch:
    """One page of a scan: due keys to act on, and due keys a hold keeps."""

    dataset: str  # qualified: system.dataset
    due: list[Key] = field(default_factory=list)
    held: list[Held] = field(default_factory=list)
    # Records the rule would judge but whose clock is unknown (NULL, missing
    # fact): never acted on, always counted, so nobody mistakes them for kept.
    undated: int = 0


@dataclass
class ApplyResult:
    """What one batch really did. Only `done` was changed (and committed)."""

    done: list[Key] = field(default_factory=list)
    kept: list[Held] = field(default_factory=list)  # the store refused: e.g. Object Lock
    failed: list[tuple[Key, str]] = field(default_factory=list)
    skipped: list[Key] = field(default_factory=list)  # gone or no longer due at apply time
    cascaded: dict[str, list[Key]] = field(default_factory=dict)  # child dataset -> keys
    detached: dict[str, list[Key]] = field(default_factory=dict)  # child rows unlinked

    def merge(self, other: ApplyResult) -> None:
        self.done += other.done
        self.kept += other.kept
        self.failed += other.failed
        self.skipped += other.skipped
        for name, keys in other.cascaded.items():
            self.cascaded.setdefault(name, []).extend(keys)
        for name, keys in other.detached.items():
            self.detached.setdefault(name, []).extend(keys)


@dataclass
class Prepared:
    """What a batch is about to make durable, told to the ledger as its intent
    before the change can no longer be undone: an SQL store calls `record`
    inside its transaction, after the statements and before the commit; a
    store without transactions (S3, a folder) before its first delete.

    Recovery compares it with the store, key by key: a deleted key is gone;
    an anonymised key's current image equals `images[key]`."""

    changes: list[Key] = field(default_factory=list)  # deleted or anonymised
    cascaded: dict[str, list[Key]] = field(default_factory=dict)  # child dataset -> keys
    images: dict[Key, str] = field(default_factory=dict)  # anonymise: canonical after-image
    detached: dict[str, list[Key]] = field(default_factory=dict)  # child rows unlinked
    # The identities the changed records hold, read before the change, so the
    # ledger can hash them (None: the pipeline asks Connector.identities).
    subjects: list[str] | None = None


# Writes the intent; raising stops the batch before anything is durable.
RecordIntent = Callable[[Prepared], None]


class Connector(Protocol):
    name: str  # the system's name in the policy

    def check(self) -> None:
        """Raise ConnectionFailed (naming the system) if the store is unreachable."""

    def count(self, dataset: str) -> int:
        """How many records the dataset holds (for share limits)."""

    def identities(self, dataset: str, keys: Sequence[Key]) -> list[str]:
        """The identities (the dataset's identity_fields: emails, phones, ids)
        these records hold, so the ledger can hash them and an operator can
        later ask, with a person's email, whether they were erased."""

    def keys(self, dataset: str) -> Iterator[list[Key]]:
        """Every record key the dataset still holds, a page at a time (crash
        recovery hashes them to see which of an intent's keys remain)."""

    def images(self, dataset: str, columns: Sequence[str]) -> Iterator[list[tuple[Key, str]]]:
        """Every record still held, with the canonical image of `columns` (the
        form Prepared.images uses), a page at a time: recovery's per-key test
        of whether an anonymisation was committed."""

    def scan(self, rule: Rule, *, now: datetime) -> Iterator[ScanBatch]:
        """Due records of the rule's dataset, in key order, a page at a time.
        Subject conditions have already been resolved to `in` conditions."""

    def subject_values(self, dataset: str, column: str, where: Sequence[Condition]) -> set[Scalar]:
        """Distinct values of `column` over rows matching `where`."""

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
        """Delete or anonymise `keys` in one transaction (where the store has
        them). With `rule`, a key that no longer matches its due condition is
        skipped, not changed. With `record`, call it once with what the batch
        will change before any change is durable (not at all if nothing will
        change); if it raises, change nothing."""

    def find_subject(self, identities: Mapping[str, Sequence[str]]) -> dict[str, list[Key]]:
        """Keys, per dataset, of records that hold one of these identities
        (identity kind -> values, already validated) directly."""

    def close(self) -> None: ...


@runtime_checkable
class RelatedByOwner(Protocol):
    """A SubjectStore that finds the related records of a whole batch at
    once (SQL): per dataset below, each record with the owners (request
    ids) whose records it is below; None when it cannot tell the owners
    apart (the caller then asks `related` per owner)."""

    def related_by_owner(
        self, dataset: str, owners: Mapping[Key, set[str]]
    ) -> dict[str, dict[Key, set[str]]] | None: ...


@runtime_checkable
class SubjectStore(Protocol):
    """What a store with relations and free text (SQL) adds for erasure
    requests. A store without it (media) is searched with find_subject."""

    def subject_records(
        self, identities: Mapping[str, Sequence[str]]
    ) -> dict[str, dict[Key, list[tuple[str, str]]]]:
        """Per dataset: records holding one of these identities, each with the
        (kind, value) of every identity it holds."""

    def related(self, dataset: str, keys: Sequence[Key]) -> dict[str, list[Key]]:
        """Records that belong to these through relations, children of children too."""

    def find_mentions(
        self,
        dataset: str,
        columns: Sequence[str],
        needles: Sequence[str],
        mentions: Callable[[str], bool] | None = None,
    ) -> list[Key]:
        """Rows whose free-text `columns` contain a needle in any case and, with
        `mentions`, hold a text it says names someone (the redactor's test)."""
