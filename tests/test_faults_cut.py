"""The proxy's cut trigger counts what the test means it to count: with
`per_transaction`, a COMMIT on another connection (a lease heartbeat's) is
not the batch's, so the cut still lands inside the batch."""

from __future__ import annotations

from tests.faults import CutAt

MARK = b"rule-id"


def test_a_commit_on_another_connection_does_not_count() -> None:
    cut = CutAt(b"COMMIT", nth=2, when="after", after_seen=MARK, per_transaction=True)
    assert cut(b"INSERT ... rule-id", connection=1) is None
    assert cut(b"COMMIT", connection=1) is None  # the first batch's
    assert cut(b"UPDATE ledger_lease ...", connection=2) is None
    assert cut(b"COMMIT", connection=2) is None  # a heartbeat's: not counted
    assert cut(b"COMMIT", connection=1) is None  # no mark in this transaction
    assert cut(b"INSERT ... rule-id COMMIT", connection=1) == "after"
    assert cut(b"INSERT ... rule-id COMMIT", connection=1) is None  # fired once


def test_without_per_transaction_every_commit_after_the_mark_counts() -> None:
    cut = CutAt(b"COMMIT", nth=2, after_seen=MARK)
    assert cut(b"COMMIT", connection=2) is None  # before the mark
    assert cut(b"INSERT ... rule-id", connection=1) is None
    assert cut(b"COMMIT", connection=2) is None
    assert cut(b"COMMIT", connection=3) == "before"
