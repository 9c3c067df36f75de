"""The judgement every fault test ends with (DESIGN.md, safety properties 3,
5, 10): read back with the tests' own SQL, never with the code under test.

- the final data equals that of an uninterrupted run on an identical copy;
- every row a run changed or removed is claimed by a completion, and by
  exactly one completion per rule (a recovered batch is not claimed again
  by the rerun that finishes the rule);
- every claim is a row that really changed (nothing claimed that did not);
- no intent is left open, and the hash chain verifies.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from retention.ledger import Ledger
from tests.snapshots import table_rows

Snapshot = dict[str, dict[Any, dict[str, Any]]]  # table -> key -> row


def snapshot(url: str) -> Snapshot:
    """Every table of a database, keyed by its primary key ('id')."""
    engine = sa.create_engine(url)
    try:
        names = sorted(sa.inspect(engine).get_table_names())
    finally:
        engine.dispose()
    return {name: table_rows(url, name) for name in names}


def snapshots(urls: dict[str, str]) -> dict[str, Snapshot]:
    return {system: snapshot(url) for system, url in urls.items()}


def bucket_snapshot(client: Any, bucket: str, prefix: str, dataset: str) -> Snapshot:
    """An S3 dataset as the oracle reads it: `dataset` keyed by object key
    (its versions and markers), `<dataset>-versions` by the ledger's name of
    each data version (connectors.s3.erase.version_claim)."""
    from connectors.s3.erase import version_claim, versions_child

    objects: dict[Any, dict[str, Any]] = {}
    versions: dict[Any, dict[str, Any]] = {}
    pages = client.get_paginator("list_object_versions").paginate(Bucket=bucket, Prefix=prefix)
    for page in pages:
        for kind in ("Versions", "DeleteMarkers"):
            for v in page.get(kind, []):
                entry = objects.setdefault(v["Key"], {"versions": []})
                entry["versions"] = sorted([*entry["versions"], (kind, v["VersionId"])])
                if kind == "Versions":
                    claim = version_claim(v["Key"], v["VersionId"])
                    versions[claim] = {"etag": v["ETag"]}
    return {dataset: objects, versions_child(dataset): versions}


def changed_rows(before: Snapshot, after: Snapshot) -> dict[str, set[Any]]:
    """table -> keys of rows removed or modified."""
    out: dict[str, set[Any]] = {}
    for table, rows in before.items():
        now = after.get(table, {})
        gone = {k for k in rows if k not in now}
        modified = {k for k, row in rows.items() if k in now and now[k] != row}
        if gone | modified:
            out[table] = gone | modified
    return out


@dataclass
class Claims:
    """(rule, system, dataset, key hash) -> how many completions claim it."""

    counts: Counter[tuple[str, str, str, str]]

    def hashes(self, system: str, dataset: str) -> set[str]:
        return {h for (_, s, d, h) in self.counts if s == system and d == dataset}


def claims_of(ledger: Ledger) -> Claims:
    counts: Counter[tuple[str, str, str, str]] = Counter()
    for entry in ledger.entries():
        if entry.kind != "completion":
            continue
        rule, system = entry.rule_id or "", entry.system or ""
        for h in entry.key_hashes:
            counts[(rule, system, entry.dataset or "", h)] += 1
        per_child = [entry.cascaded_hashes, entry.detail.get("detached") or {}]
        for children in per_child:
            for child, hashes in children.items():
                local = child.split(".", 1)[1] if "." in child else child
                for h in hashes:
                    counts[(rule, system, local, h)] += 1
    return Claims(counts)


def assert_consistent(
    ledger: Ledger,
    before: dict[str, Snapshot],
    after: dict[str, Snapshot],
    reference: dict[str, Snapshot] | None = None,
) -> None:
    """The oracle. `before`: the data as it was before the first run;
    `after`: as it is now; `reference`: an uninterrupted run's final data."""
    if reference is not None:
        for system, tables in reference.items():
            for table, rows in tables.items():
                assert after[system][table] == rows, (
                    f"{system}.{table} differs from the uninterrupted run's: "
                    f"{_difference(after[system][table], rows)}"
                )
    claims = claims_of(ledger)
    twice = [key for key, n in claims.counts.items() if n > 1]
    assert not twice, f"{len(twice)} change(s) claimed more than once, e.g. {twice[:3]}"
    for system in before:
        changed = changed_rows(before[system], after[system])
        for table in before[system]:
            expected = {ledger.hash(k) for k in changed.get(table, set())}
            claimed = claims.hashes(system, table)
            unclaimed = expected - claimed
            assert not unclaimed, f"{len(unclaimed)} changed row(s) of {system}.{table} unclaimed"
            phantom = claimed - expected
            assert not phantom, f"{len(phantom)} claim(s) on unchanged {system}.{table} rows"
    assert not ledger.unfinished_intents(), "an intent was left open"
    verdict = ledger.verify()
    assert verdict.ok, verdict.problems


def _difference(got: dict[Any, Any], want: dict[Any, Any]) -> str:
    missing = sorted(set(want) - set(got))[:5]
    extra = sorted(set(got) - set(want))[:5]
    differ = sorted(k for k in set(got) & set(want) if got[k] != want[k])[:5]
    return f"missing {missing}, extra {extra}, different {differ}"
