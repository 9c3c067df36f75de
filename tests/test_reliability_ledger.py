"""The ledger's own defences, on every backend it runs on: the database
itself refuses to change or remove an entry (triggers on SQLite, PostgreSQL
and MariaDB), whoever asks, and the chain still verifies afterwards."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from retention.ledger import Ledger

pytestmark = pytest.mark.reliability

KEYS = {"k1": b"reliability-ledger-key-0123456789"}


def written(url: str) -> Ledger:
    ledger = Ledger.open(url, keys=KEYS, current_key_id="k1")
    ledger.begin_run(
        run_id="run-1", policy_hash="0" * 64, policy_name="t", trigger="test", dry_run=False
    )
    seq = ledger.record_intent(
        run_id="run-1",
        policy_hash="0" * 64,
        rule_id="r",
        system="crm",
        dataset="contacts",
        action="delete",
        keys=[1, 2],
    )
    ledger.record_completion(seq, done=[1, 2], cascaded={}, kept=[], failed=[])
    return ledger


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE ledger_entries SET outcome = 'forged' WHERE kind = 'completion'",
        "UPDATE ledger_entries SET key_hashes = '[]'",
        "DELETE FROM ledger_entries WHERE kind = 'completion'",
        "DELETE FROM ledger_entries",
    ],
)
def test_the_database_refuses_to_change_or_remove_an_entry(db_url: str, statement: str) -> None:
    # Opened twice: the schema and its triggers are created idempotently.
    written(db_url).close()
    with Ledger.open(db_url, keys=KEYS, current_key_id="k1") as ledger:
        before = ledger.entries()
        assert len(before) == 3
        with pytest.raises(sa.exc.DBAPIError, match="append-only"), ledger.engine.begin() as conn:
            conn.exec_driver_sql(statement)
        assert ledger.entries() == before
        assert ledger.verify().ok


@pytest.mark.postgres
def test_postgres_refuses_to_truncate_the_entries(postgres_url: str) -> None:
    with written(postgres_url) as ledger:
        with pytest.raises(sa.exc.DBAPIError, match="append-only"), ledger.engine.begin() as conn:
            conn.exec_driver_sql("TRUNCATE ledger_entries")
        assert len(ledger.entries()) == 3
