"""The suppression list: people who withdrew their consent to marketing.

A `marketing-withdrawn` request's ledger entry holds the person's identities
as keyed hashes; those hashes are the list (nothing else is kept to honour
an opt-out). Two uses:
- an importer asks whether an address may be imported (`retention
  suppressed --email`), without anyone keeping the address in clear;
- after the nightly sweep, the CRM's people are hashed and compared with the
  list: a suppressed person who is back (re-imported) with a subscription
  again gets their withdrawal applied once more, as a request of its own.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Literal

from retention.connector import Connector, SubjectStore
from retention.ledger.entry import Entry
from retention.pipeline.erase import ErasureRequest, prepare

KIND: Literal["marketing-withdrawn"] = "marketing-withdrawn"


def suppression_list(ledger: Any) -> dict[str, Entry]:
    """Keyed hash of an identity -> the withdrawal that put it on the list."""
    listed: dict[str, Entry] = {}
    for entry in ledger.entries_of_kind("request"):
        if entry.detail.get("request_kind") == KIND and entry.outcome != "dry-run":
            for subject_hash in entry.subject_hashes:
                listed.setdefault(subject_hash, entry)
    return listed


def is_suppressed(ledger: Any, identities: Mapping[str, Sequence[str]]) -> Entry | None:
    """The withdrawal that lists one of these identities, if any."""
    listed = suppression_list(ledger)
    for values in identities.values():
        for value in values:
            for digest in ledger.ring.hash_all_keys(value).values():
                if digest in listed:
                    return listed[digest]
    return None


def returned(
    ledger: Any,
    connectors: Mapping[str, Connector],
    policy: Any,
    *,
    now: datetime,
    run_tag: str,
) -> list[ErasureRequest]:
    """Withdrawals to apply again: suppressed people found in a system again
    who hold records a marketing withdrawal removes."""
    listed = suppression_list(ledger)
    if not listed:
        return []
    emails: set[str] = set()
    for system, connector in connectors.items():
        if not isinstance(connector, SubjectStore):
            continue
        for name, dataset in policy.systems[system].datasets.items():
            column = dataset.identity_fields.get("email")
            if column is None:
                continue
            for page in connector.keys(name):
                for value in connector.identities(name, page):
                    if "@" in value and ledger.hash(value) in listed:
                        emails.add(value.strip().casefold())
    requests = [
        ErasureRequest(request_id=f"{run_tag}-{number}", kind=KIND, email=[email])
        for number, email in enumerate(sorted(emails), start=1)
    ]
    if not requests:
        return []
    prepared = prepare(requests, policy, connectors, now=now)
    acting = {s.request_id for s in prepared.subjects if _has_marketing_records(s, prepared)}
    return [r for r in requests if r.request_id in acting]


def _has_marketing_records(subject: Any, prepared: Any) -> bool:
    datasets = {rule.dataset for rule in prepared.rules}
    return any(subject.records(name) for name in datasets)
