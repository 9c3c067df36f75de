"""The subject index is append-only in the database, as the entries are:
on SQLite, PostgreSQL and MariaDB an UPDATE or DELETE of an index row is
refused (and TRUNCATE on PostgreSQL), whoever asks, so no one can hide a
person's entries from lookup by editing the index. The one rewrite the
ledger itself makes, filling the index of a ledger without its marker,
still works."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from retention.ledger import store
from tests.test_ledger_helpers import ANNA_EMAIL, open_ledger, seed

pytestmark = pytest.mark.reliability


def _index(url: str) -> set[tuple[str, int]]:
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        rows = {(h, int(s)) for h, s in conn.execute(sa.select(store.subjects))}
    engine.dispose()
    return rows


def _seeded(url: str) -> set[int]:
    """Anna's entries, found through the index of a seeded ledger."""
    with open_ledger(url) as ledger:
        seed(ledger)
        return {e.seq for e in ledger.lookup({"email": [ANNA_EMAIL]})}


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE ledger_subjects SET seq = seq + 1000",
        "UPDATE ledger_subjects SET subject_hash = 'ff'",
        "DELETE FROM ledger_subjects",
        "DELETE FROM ledger_subjects WHERE seq = (SELECT MIN(seq) FROM ledger_entries "
        "WHERE subject_hashes <> '[]')",
    ],
)
def test_the_database_refuses_to_change_or_remove_an_index_row(db_url: str, statement: str) -> None:
    anna = _seeded(db_url)
    before = _index(db_url)
    assert anna and before
    # Opened again: the triggers are created idempotently on an existing ledger.
    with open_ledger(db_url) as ledger:
        with pytest.raises(sa.exc.DBAPIError, match="append-only"), ledger.engine.begin() as conn:
            conn.exec_driver_sql(statement)
        assert {e.seq for e in ledger.lookup({"email": [ANNA_EMAIL]})} == anna
    assert _index(db_url) == before


@pytest.mark.postgres
def test_postgres_refuses_to_truncate_the_index(postgres_url: str) -> None:
    _seeded(postgres_url)
    before = _index(postgres_url)
    with (
        open_ledger(postgres_url) as ledger,
        pytest.raises(sa.exc.DBAPIError, match="append-only"),
        ledger.engine.begin() as conn,
    ):
        conn.exec_driver_sql("TRUNCATE ledger_subjects")
    assert _index(postgres_url) == before


def test_appends_still_index_and_an_unmarked_index_is_still_refilled(db_url: str) -> None:
    anna = _seeded(db_url)
    full = _index(db_url)
    engine = sa.create_engine(db_url)
    # As a ledger from before the index, or one whose marker was removed to
    # get past the triggers: no marker, so the rows may go ...
    with engine.begin() as conn:
        conn.execute(sa.delete(store.meta))
        conn.execute(sa.delete(store.subjects))
    engine.dispose()
    assert _index(db_url) == set()
    # ... and the next open rebuilds them all from the entries, and marks it.
    with open_ledger(db_url) as ledger:
        assert {e.seq for e in ledger.lookup({"email": [ANNA_EMAIL]})} == anna
        with pytest.raises(sa.exc.DBAPIError, match="append-only"), ledger.engine.begin() as conn:
            conn.exec_driver_sql("DELETE FROM ledger_subjects")
        seed(ledger, run_id="run-2")  # appending still writes index rows
    after = _index(db_url)
    assert full < after and len(after) == 2 * len(full)
