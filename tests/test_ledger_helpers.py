"""Shared seeds for the ledger tests: known people whose names, emails and
phone numbers go in as record keys and identities, and must never come out."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from connectors.base import Held
from retention.ledger import Ledger

K1 = {"k1": b"first-ledger-key-0123456789"}
K2 = {"k2": b"second-ledger-key-9876543210"}
POLICY_HASH = "sha256-5f1c0de2"
RUN = "run-2026-11-25"

ANNA_NAME = "Anna Virtanen"
ANNA_EMAIL = "Anna.Virtanen@Example.fi"
ANNA_PHONE = "+358 40 123 4567"
MATTI_NAME = "Matti Meikäläinen"
MATTI_EMAIL = "matti.meikalainen@idnorth.fi"
MATTI_PHONE = "+358501234567"
ANNA_PHOTO = "photos/Anna Virtanen/2019-gala.jpg"
PERSONAL = [ANNA_NAME, ANNA_EMAIL, ANNA_PHONE, MATTI_NAME, MATTI_EMAIL, MATTI_PHONE]

VOUCHER_HOLD_UNTIL = datetime(2031, 12, 31, tzinfo=UTC)
LOCK_UNTIL = datetime(2027, 3, 1, tzinfo=UTC)


def forms(value: str) -> list[bytes]:
    """The ways a value could be spelt in a file: as given, folded, and as
    digits for phone numbers (also what the ledger hashes)."""
    texts = {value, value.lower(), value.casefold(), value.replace(" ", "")}
    texts |= {"".join(c for c in value if c.isdigit())} if value.startswith("+") else set()
    texts |= {part for part in value.replace("@", " ").replace("/", " ").split() if len(part) > 5}
    return sorted({t.encode() for t in texts})


def assert_no_personal_data(blob: bytes, where: str) -> None:
    assert blob, f"{where} is empty: the search would prove nothing"
    for value in PERSONAL:
        for spelling in forms(value):
            assert spelling not in blob, f"{spelling!r} (from {value!r}) found in {where}"


def open_ledger(url: str, keys: dict[str, bytes] = K1, current: str = "k1") -> Ledger:
    return Ledger.open(url, keys=keys, current_key_id=current)


def seed(ledger: Ledger, run_id: str = RUN) -> dict[str, int]:
    """One erasure run for Anna and an unsubscribe for Matti, touching every
    kind of entry. Returns the intents' seqs by name."""
    ledger.begin_run(
        run_id=run_id,
        policy_hash=POLICY_HASH,
        policy_name="id-north",
        trigger="erasure-request",
        dry_run=False,
    )
    contacts = ledger.record_intent(
        run_id=run_id,
        policy_hash=POLICY_HASH,
        rule_id="crm-contact-erasure",
        system="crm",
        dataset="contacts",
        action="delete",
        keys=[101, 102],
        subjects=[ANNA_EMAIL, ANNA_PHONE, ANNA_NAME],
        approved_by="dpo-reviewer",
    )
    ledger.record_completion(
        contacts, done=[101, 102], cascaded={"tickets": [9001, 9002]}, kept=[], failed=[]
    )
    subscribers = ledger.record_intent(
        run_id=run_id,
        policy_hash=POLICY_HASH,
        rule_id="marketing-unsubscribed",
        system="crm",
        dataset="subscribers",
        action="anonymise",
        keys=[ANNA_EMAIL, MATTI_EMAIL],
        subjects=[MATTI_EMAIL, MATTI_PHONE, MATTI_NAME],
    )
    ledger.record_completion(
        subscribers,
        done=[ANNA_EMAIL],
        cascaded={},
        kept=[],
        failed=[(MATTI_EMAIL, f"IntegrityError: duplicate key {MATTI_EMAIL} / {MATTI_NAME}")],
    )
    ledger.record_kept(
        run_id=run_id,
        policy_hash=POLICY_HASH,
        rule_id="crm-contact-erasure",
        system="crm",
        dataset="invoices",
        held=[
            Held(5001, "accounting-act-vouchers", VOUCHER_HOLD_UNTIL),
            Held(5002, "accounting-act-vouchers", VOUCHER_HOLD_UNTIL),
        ],
        subjects=[ANNA_EMAIL],
    )
    photos = ledger.record_intent(
        run_id=run_id,
        policy_hash=POLICY_HASH,
        rule_id="media-five-years",
        system="media",
        dataset="photos",
        action="delete",
        keys=[ANNA_PHOTO, MATTI_PHONE + ".jpg"],
        subjects=[ANNA_EMAIL],
    )
    ledger.record_completion(
        photos,
        done=[MATTI_PHONE + ".jpg"],
        cascaded={},
        kept=[Held(ANNA_PHOTO, "object-lock", LOCK_UNTIL)],
        failed=[],
    )
    ledger.end_run(run_id=run_id, summary={"deleted": 3, "anonymised": 1, "kept": 3, "failed": 1})
    return {"contacts": contacts, "subscribers": subscribers, "photos": photos}


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def ledger_url(request: pytest.FixtureRequest, tmp_path) -> Iterator[str]:
    """An empty ledger database: an SQLite file, or a fresh PostgreSQL schema."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'ledger.db'}"
    else:
        yield request.getfixturevalue("postgres_url")


def drop_append_only_guards(url: str) -> None:
    """What an intruder with DDL rights would do first; verify must still
    catch what follows."""
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        if conn.dialect.name == "sqlite":
            conn.exec_driver_sql("DROP TRIGGER ledger_entries_no_update")
            conn.exec_driver_sql("DROP TRIGGER ledger_entries_no_delete")
        else:
            conn.exec_driver_sql("DROP TRIGGER ledger_entries_append_only ON ledger_entries")
    engine.dispose()


def tamper(url: str, *statements: str) -> None:
    drop_append_only_guards(url)
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        for statement in statements:
            conn.execute(sa.text(statement))
    engine.dispose()
