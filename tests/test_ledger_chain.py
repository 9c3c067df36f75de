"""The chain: an untouched ledger verifies; any edit, deletion or reordering
of a row, done with plain SQL, makes verify fail and name that row."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from retention.ledger.chain import canonical_json, content_hash
from retention.ledger.store import entry_of
from tests import test_ledger_helpers
from tests.test_ledger_helpers import open_ledger, seed, tamper

ledger_url = test_ledger_helpers.ledger_url


def _verify(url: str):
    with open_ledger(url) as ledger:
        return ledger.verify()


def test_untouched_ledger_verifies(ledger_url: str) -> None:
    with open_ledger(ledger_url) as ledger:
        seed(ledger)
        entries = ledger.entries()
    result = _verify(ledger_url)
    assert result.ok and not result.tampered
    assert result.entries == len(entries) == 9
    assert [e.seq for e in entries] == list(range(1, 10))
    assert entries[0].prev_hash == "0" * 64
    assert all(b.prev_hash == a.entry_hash for a, b in zip(entries, entries[1:], strict=False))


def test_reopening_appends_to_the_same_chain(ledger_url: str) -> None:
    with open_ledger(ledger_url) as ledger:
        seed(ledger, run_id="run-a")
    with open_ledger(ledger_url) as ledger:
        seed(ledger, run_id="run-b")
        assert ledger.verify().ok
        assert len(ledger.entries("run-b")) == 9
        assert ledger.entries("run-b")[0].seq == 10


def test_the_database_refuses_update_and_delete(ledger_url: str) -> None:
    with open_ledger(ledger_url) as ledger:
        seed(ledger)
        for statement in ("UPDATE ledger_entries SET count = 0", "DELETE FROM ledger_entries"):
            with (
                pytest.raises(sa.exc.DatabaseError, match="append-only"),
                ledger.engine.begin() as conn,
            ):
                conn.execute(sa.text(statement))
        assert ledger.verify().ok


@pytest.mark.parametrize(
    "column, value",
    [
        ("count", "99"),
        ("outcome", "'failed'"),
        ("key_hashes", "'[]'"),
        ("at", "'2020-01-01T00:00:00+00:00'"),
        ("rule_id", "'another-rule'"),
    ],
)
def test_an_edited_row_is_named(ledger_url: str, column: str, value: str) -> None:
    with open_ledger(ledger_url) as ledger:
        seqs = seed(ledger)
    target = seqs["contacts"] + 1  # the completion of Anna's contacts
    tamper(ledger_url, f"UPDATE ledger_entries SET {column} = {value} WHERE seq = {target}")
    result = _verify(ledger_url)
    assert not result.ok and result.tampered
    assert result.problems[0][0] == target
    assert "changed after it was written" in result.problems[0][1]


def test_an_edit_with_a_recomputed_hash_breaks_the_next_link(ledger_url: str) -> None:
    with open_ledger(ledger_url) as ledger:
        seqs = seed(ledger)
        target = next(e for e in ledger.entries() if e.seq == seqs["contacts"])
    forged = {**target.content(), "count": 1, "key_hashes": target.key_hashes[:1]}
    new_hash = content_hash(forged)
    hashes = canonical_json(forged["key_hashes"]).decode()
    tamper(
        ledger_url,
        f"UPDATE ledger_entries SET count = 1, key_hashes = '{hashes}', "
        f"entry_hash = '{new_hash}' WHERE seq = {target.seq}",
    )
    result = _verify(ledger_url)
    assert result.problems[0] == (
        target.seq + 1,
        f"broken link: prev_hash does not match entry {target.seq}'s hash",
    )
    # the completion still names a key the forged intent no longer does
    assert (target.seq + 1, f"completion claims keys intent {target.seq} did not name") in (
        result.problems
    )


def test_a_deleted_row_is_named(ledger_url: str) -> None:
    with open_ledger(ledger_url) as ledger:
        seed(ledger)
    tamper(ledger_url, "DELETE FROM ledger_entries WHERE seq = 4")
    result = _verify(ledger_url)
    assert result.tampered
    assert (4, "entry 4 is missing: deleted from the ledger") in result.problems


def test_deleting_the_last_rows_is_caught_by_the_head(ledger_url: str) -> None:
    with open_ledger(ledger_url) as ledger:
        seed(ledger)
    tamper(ledger_url, "DELETE FROM ledger_entries WHERE seq >= 8")
    result = _verify(ledger_url)
    assert result.tampered
    assert (8, "entries 8..9 are missing from the end: the head says 9 entries") in (
        result.problems
    )


def test_reordered_rows_are_named(ledger_url: str) -> None:
    with open_ledger(ledger_url) as ledger:
        seed(ledger)
    tamper(
        ledger_url,
        "UPDATE ledger_entries SET seq = -5 WHERE seq = 5",
        "UPDATE ledger_entries SET seq = 5 WHERE seq = 6",
        "UPDATE ledger_entries SET seq = 6 WHERE seq = -5",
    )
    result = _verify(ledger_url)
    assert result.tampered
    named = {seq for seq, _ in result.problems}
    assert {5, 6} <= named


def test_an_intent_without_completion_is_not_called_tampering(ledger_url: str) -> None:
    with open_ledger(ledger_url) as ledger:
        seed(ledger)
        seq = ledger.record_intent(
            run_id="run-2026-11-25",
            policy_hash="p1",
            rule_id="web-logs",
            system="web",
            dataset="visits",
            action="delete",
            keys=[1, 2, 3],
        )
        result = ledger.verify()
    assert not result.ok and not result.tampered
    assert result.problems == [(seq, "missing completion")]
    assert result.missing_completions == [seq]


def test_rows_read_back_rebuild_their_own_hash(ledger_url: str) -> None:
    """Guards the canonical form: what the database returns hashes as written."""
    with open_ledger(ledger_url) as ledger:
        seed(ledger)
        with ledger.engine.connect() as conn:
            rows = conn.execute(sa.text("SELECT * FROM ledger_entries ORDER BY seq")).mappings()
            rebuilt = [entry_of(row) for row in rows]
    assert all(content_hash(e.content()) == e.entry_hash for e in rebuilt)
