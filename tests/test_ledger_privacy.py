"""No raw personal data in the ledger, ever: not in the database file, not in
its write-ahead log, not in the exported segment, not via failure reasons."""

from __future__ import annotations

from pathlib import Path

import pytest

from connectors.s3.ledger_export import export_segment
from retention.ledger import run_segment, verify_segment
from tests.test_ledger_helpers import (
    ANNA_EMAIL,
    K1,
    MATTI_EMAIL,
    MATTI_PHONE,
    PERSONAL,
    RUN,
    assert_no_personal_data,
    forms,
    open_ledger,
    seed,
)


def _files(db: Path) -> dict[str, bytes]:
    return {
        p.name: p.read_bytes()
        for p in (db, db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm"))
        if p.exists()
    }


def test_the_search_would_find_a_value_that_leaked(tmp_path: Path) -> None:
    """The byte search itself works: planted, the values are found."""
    planted = b"x".join(spelling for v in PERSONAL for spelling in forms(v))
    for value in PERSONAL:
        with pytest.raises(AssertionError, match="found in"):
            assert_no_personal_data(planted + value.encode(), "a planted blob")


def test_sqlite_file_and_wal_hold_no_personal_data(tmp_path: Path) -> None:
    db = tmp_path / "evidence" / "ledger.db"
    ledger = open_ledger(f"sqlite:///{db}")
    seed(ledger)
    while_open = _files(db)
    assert "ledger.db-wal" in while_open, "WAL mode is expected while the ledger is open"
    for name, blob in while_open.items():
        if name.endswith("-shm"):
            continue
        assert_no_personal_data(blob, name)
    ledger.close()
    for name, blob in _files(db).items():
        assert_no_personal_data(blob, f"{name} after close")
    # the entries are really in there: the search looked at the right bytes
    assert b"crm-contact-erasure" in b"".join(_files(db).values())


def test_failure_reasons_keep_only_the_error_code(tmp_path: Path) -> None:
    with open_ledger(f"sqlite:///{tmp_path / 'l.db'}") as ledger:
        seed(ledger)
        completion = next(e for e in ledger.entries() if e.kind == "completion" and e.failed)
    assert [f.code for f in completion.failed] == ["IntegrityError"]
    assert completion.failed[0].key_hash == ledger.hash(MATTI_EMAIL)


def test_postgres_rows_hold_no_personal_data(postgres_url: str) -> None:
    with open_ledger(postgres_url) as ledger:
        seed(ledger)
        with ledger.engine.connect() as conn:
            rows = conn.exec_driver_sql("SELECT * FROM ledger_entries").all()
    dump = "\n".join(repr(tuple(row)) for row in rows).encode()
    assert b"accounting-act-vouchers" in dump
    assert_no_personal_data(dump, "the PostgreSQL ledger rows")


@pytest.mark.s3
def test_exported_segment_holds_no_personal_data(tmp_path: Path, s3_client, make_bucket) -> None:
    bucket = make_bucket(object_lock=True)
    with open_ledger(f"sqlite:///{tmp_path / 'l.db'}") as ledger:
        seed(ledger)
        key = export_segment(s3_client, bucket, RUN, run_segment(ledger, RUN), retain_days=30)
    stored = s3_client.get_object(Bucket=bucket, Key=key)["Body"].read()
    assert verify_segment(stored, K1)
    assert_no_personal_data(stored, f"s3://{bucket}/{key}")
    assert ANNA_EMAIL.encode() not in stored and MATTI_PHONE.encode() not in stored
