"""Finding entries by hashes. By subject: the subject index narrows; by
key: LIKE over the JSON text (hex hashes hold no LIKE wildcards). Python
then checks the exact field, so a hash that only appears in another field
is no match."""

from __future__ import annotations

from collections.abc import Set

import sqlalchemy as sa

from retention.ledger import store
from retention.ledger.entry import Entry


def by_subject(engine: sa.Engine, hashes: Set[str]) -> list[Entry]:
    """Through the subject index (store.subjects): an index range per hash,
    not a scan of every entry's text."""
    if not hashes:
        return []
    indexed = sa.select(store.subjects.c.seq).where(
        store.subjects.c.subject_hash.in_(sorted(hashes))
    )
    near = store.entries.c.seq.in_(indexed)
    return [e for e in store.read(engine, near) if hashes & set(e.subject_hashes)]


def by_key(engine: sa.Engine, dataset: str, hashes: Set[str]) -> list[Entry]:
    if not hashes:
        return []
    columns = ("key_hashes", "cascaded_hashes", "kept", "failed")
    near = sa.or_(
        *(store.entries.c[column].contains(h) for column in columns for h in sorted(hashes))
    )
    return [e for e in store.read(engine, near) if _names_key(e, dataset, hashes)]


def _names_key(entry: Entry, dataset: str, hashes: Set[str]) -> bool:
    system, _, name = dataset.rpartition(".")
    own = entry.dataset in (dataset, name) and (not system or entry.system == system)
    if own:
        named = set(entry.key_hashes) | {k.key_hash for k in entry.kept}
        named |= {f.key_hash for f in entry.failed}
        if hashes & named:
            return True
    return any(
        child in (dataset, name) and hashes & set(keys)
        for child, keys in entry.cascaded_hashes.items()
    )
