"""Bad input is refused with an error that names the field, before anything
is written; and what is hashed is normalised, so one person is one hash."""

from __future__ import annotations

from pathlib import Path

import pytest

from retention.errors import RetentionError
from retention.ledger import Ledger, LedgerError, LedgerKeyError
from retention.ledger.failure import error_code
from tests.test_ledger_helpers import K1, POLICY_HASH, open_ledger


@pytest.fixture
def ledger(tmp_path: Path):
    with open_ledger(f"sqlite:///{tmp_path / 'l.db'}") as opened:
        opened.begin_run(
            run_id="r1", policy_hash=POLICY_HASH, policy_name="p", trigger="nightly",
            dry_run=False,
        )  # fmt: skip
        yield opened


def _intent(ledger: Ledger, **override):
    args = dict(
        run_id="r1", policy_hash=POLICY_HASH, rule_id="rule-1", system="crm",
        dataset="contacts", action="delete", keys=[1],
    )  # fmt: skip
    return ledger.record_intent(**{**args, **override})


@pytest.mark.parametrize(
    "override, field",
    [
        ({"action": "purge"}, "action"),
        ({"keys": []}, "keys"),
        ({"keys": [1, 1]}, "keys"),
        ({"keys": [None]}, "hash"),
        ({"keys": [""]}, "hash"),
        ({"rule_id": "anna.virtanen@example.fi"}, "rule_id"),
        ({"system": "crm system"}, "system"),
        ({"dataset": "a.b.c"}, "dataset"),
        ({"run_id": "never-begun"}, "run_id"),
        ({"policy_hash": "owner: anna@example.fi"}, "policy_hash"),
        ({"subjects": "anna@example.fi"}, "subjects"),
        ({"approved_by": "  "}, "approved_by"),
    ],
)
def test_bad_intent_is_refused_naming_the_field(ledger: Ledger, override, field) -> None:
    with pytest.raises(LedgerError, match=f"^{field}"):
        _intent(ledger, **override)
    assert [e.kind for e in ledger.entries()] == ["run-start"]


def test_a_trigger_carrying_an_email_is_refused(ledger: Ledger) -> None:
    with pytest.raises(LedgerError, match="^trigger"):
        ledger.begin_run(
            run_id="r2", policy_hash=POLICY_HASH, policy_name="p",
            trigger="request-from-anna@example.fi", dry_run=False,
        )  # fmt: skip


def test_a_run_begins_and_ends_once(ledger: Ledger) -> None:
    with pytest.raises(LedgerError, match="already begun"):
        ledger.begin_run(
            run_id="r1", policy_hash=POLICY_HASH, policy_name="p", trigger="nightly",
            dry_run=False,
        )  # fmt: skip
    ledger.end_run(run_id="r1", summary={"deleted": 0})
    with pytest.raises(LedgerError, match="already ended"):
        ledger.end_run(run_id="r1", summary={})
    ledger.begin_run(
        run_id="r3", policy_hash=POLICY_HASH, policy_name="p", trigger="nightly", dry_run=True
    )
    with pytest.raises(LedgerError, match=r"summary\[deleted\]: -1 is not a count"):
        ledger.end_run(run_id="r3", summary={"deleted": -1})


def test_completion_of_something_that_is_not_an_intent(ledger: Ledger) -> None:
    with pytest.raises(LedgerError, match="intent_seq: entry 1 is not an intent"):
        ledger.record_completion(1, done=[], cascaded={}, kept=[], failed=[])
    with pytest.raises(LedgerError, match="outcome"):
        ledger.record_completion(_intent(ledger), done=[1], cascaded={}, kept=[], failed=[],
                                 outcome="Done!")  # fmt: skip


@pytest.mark.parametrize(
    "keys, current, message",
    [
        ({}, "k1", "keys: empty"),
        ({"k1": b"short"}, "k1", r"keys\[k1\]: secret must be at least 16 bytes"),
        (K1, "k9", "current_key_id: 'k9' is not among the keys"),
        ({"bad id!": b"0123456789abcdef"}, "bad id!", "key id 'bad id!'"),
    ],
)
def test_bad_keys_are_refused(tmp_path: Path, keys, current, message) -> None:
    with pytest.raises(LedgerKeyError, match=message):
        Ledger.open(f"sqlite:///{tmp_path / 'l.db'}", keys=keys, current_key_id=current)
    assert not (tmp_path / "l.db").exists()


@pytest.mark.parametrize("url", ["sqlite://", "sqlite:///:memory:", "not a url"])
def test_a_ledger_that_would_not_persist_or_parse_is_refused(url: str) -> None:
    with pytest.raises(RetentionError, match="^url"):
        Ledger.open(url, keys=K1, current_key_id="k1")


def test_sqlite_ledger_is_opened_in_wal_with_secure_delete(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'deep' / 'dir' / 'l.db'}"
    with open_ledger(url) as ledger, ledger.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA secure_delete").scalar() == 1
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar_one() >= 5000


@pytest.mark.parametrize(
    "a, b",
    [
        ("Anna.Virtanen@Example.FI", " anna.virtanen@example.fi "),
        ("+358 40 123-4567", "+358401234567"),
        ("Matti  Meikäläinen", "matti meikäläinen"),
        (42, "42"),
    ],
)
def test_one_identity_spelt_two_ways_is_one_hash(ledger: Ledger, a, b) -> None:
    assert ledger.hash(a) == ledger.hash(b)


def test_different_values_and_keys_give_different_hashes(tmp_path: Path) -> None:
    two_keys = {**K1, "k2": b"another-key-0123456789"}
    with open_ledger(f"sqlite:///{tmp_path / 'h.db'}", keys=two_keys) as ledger:
        assert ledger.hash("photos/A.jpg") != ledger.hash("photos/B.jpg")
        assert ledger.hash(1) != ledger.hash(1, key_id="k2")
        assert len(ledger.hash(1)) == 64
    with pytest.raises(LedgerKeyError, match="'k9' is not in the key ring"):
        ledger.hash(1, key_id="k9")


@pytest.mark.parametrize(
    "reason, code",
    [
        ("AccessDenied: photos/anna.virtanen@example.fi.jpg is locked", "AccessDenied"),
        ("An error occurred (InvalidObjectState) when calling DeleteObject", "InvalidObjectState"),
        (
            "sqlalchemy.exc.IntegrityError: (psycopg.errors...) Key (email)=(a@b.fi)",
            "IntegrityError",
        ),
        ("lock_timeout after 30s", "lock_timeout"),
        ("DeleteObjects refused a version: AccessDenied", "AccessDenied"),
        ("file deleted, sidecar not: PermissionError", "PermissionError"),
        ("could not delete photos/AnnaVirtanen.jpg: NoSuchKey", "NoSuchKey"),
        ("could not delete photos/AnnaVirtanen.jpg", "error"),
        ("duplicate anna.virtanen@example.fi", "error"),
        ("Anna Virtanen could not be deleted", "error"),
        ("anna.virtanen@example.fi: gone", "error"),
        ("+358 40 123 4567", "error"),
        ("", "error"),
    ],
)
def test_failure_reason_keeps_only_an_error_code(reason: str, code: str) -> None:
    assert error_code(reason) == code
