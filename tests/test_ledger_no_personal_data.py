"""No personal data of the register reaches the evidence: a full demo sweep
and a subject's erasure later, the ledger's SQLite files and the segments in
the write-once bucket hold none of the names, emails or phone numbers the
demo databases held before. Only a holder of the HMAC key can still find
what was done about a person.
"""

from __future__ import annotations

import json
import re
import sqlite3
import uuid
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from connectors.registry import open_connector
from connectors.s3.ledger_export import export_segment
from retention.demo.build import DEMO_HASH_KEY, build_demo, demo_env
from retention.ledger import Ledger, run_segment
from retention.policy import Action
from retention.policy_loader import load_policy
from retention.runtime import ledger_keys
from tests.snapshots import query

pytestmark = [pytest.mark.prefect, pytest.mark.s3]

POLICY = str(Path(__file__).parent.parent / "deployments/id-north/policy.yaml")
AS_OF = datetime(2026, 11, 1, 3, 0, tzinfo=UTC)
REVIEWER = "dpo-reviewer"


def personal_values(crm: str, ticketing: str) -> set[str]:
    """Every first, last and full name, email and phone number in the demo."""
    values: set[str] = set()
    for row in query(crm, "SELECT first_name, last_name, email, phone FROM contacts"):
        values |= {row["first_name"], row["last_name"], row["email"], row["phone"]}
        values.add(f"{row['first_name']} {row['last_name']}")
    for row in query(crm, "SELECT billing_name, billing_email FROM invoices"):
        values |= {row["billing_name"], row["billing_email"]}
        values |= set((row["billing_name"] or "").split())
    for row in query(ticketing, "SELECT full_name, email, phone FROM users"):
        values |= {row["full_name"], row["email"], row["phone"]}
        values |= set(row["full_name"].split())
    return {v.strip() for v in values if v and v.strip()}


def spellings(value: str) -> set[str]:
    """How a value could be written into a file: folded, without spaces, a
    phone number as its digits, non-ASCII letters escaped as JSON does."""
    folded = value.casefold()
    forms = {folded, folded.replace(" ", "")}
    if sum(c.isdigit() for c in value) >= 6:
        forms.add("".join(c for c in value if c.isdigit()))
    forms |= {json.dumps(f)[1:-1] for f in list(forms)}
    return {f for f in forms if f}


# A byte that is no text: a control character, or one UTF-8 could not decode.
_NOISE = "\x00-\x08\x0e-\x1f\x7f-\x9f\ufffd"


def leaked(blob: bytes, values: Iterable[str], *, binary: bool = False) -> list[str]:
    """Values found in blob (read as UTF-8, case-insensitively) as whole
    tokens: a short name such as 'Ada' inside a hex digest is no leak. In a
    database file (`binary`), a form of three letters or fewer next to a byte
    that is no text is noise, not a leak: SQLite's page and record headers
    and stored numbers spell some 200 such 'words' a run ('lh', 'oo', 'ug'),
    and once one was 'bo' (a demo first name). database_cells() reads every
    cell's value, so a short name stored on its own is still found."""
    text = blob.decode("utf-8", errors="replace").casefold()
    found = []
    for value in sorted(values):
        for form in spellings(value):
            if form not in text:
                continue
            bounds = (rf"(?<![\w{_NOISE}])", rf"(?![\w{_NOISE}])")
            before, after = bounds if binary and len(form) <= 3 else (r"(?<!\w)", r"(?!\w)")
            if re.search(before + re.escape(form) + after, text):
                found.append(value)
                break
    return found


def database_cells(db: Path) -> bytes:
    """Every text value of every table of a SQLite file, one per line."""
    with sqlite3.connect(db) as conn:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        cells = [
            str(value)
            for table in tables
            for row in conn.execute(f'SELECT * FROM "{table}"')
            for value in row
            if isinstance(value, str)
        ]
    return "\n".join(cells).encode("utf-8", "surrogatepass")


def sqlite_files(db: Path) -> dict[str, bytes]:
    names = (db, db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm"))
    return {p.name: p.read_bytes() for p in names if p.exists()}


@pytest.fixture
def demo(tmp_path, monkeypatch, prefect_harness, make_bucket: Callable[..., str], s3_endpoint):
    root = tmp_path / "demo"
    build_demo(root, scale=1, as_of=AS_OF)
    env = demo_env(root)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    ledger = tmp_path / "evidence" / "ledger.db"
    ledger.parent.mkdir()
    monkeypatch.setenv("RETENTION_LEDGER_URL", f"sqlite:///{ledger}")
    worm = make_bucket(object_lock=True)
    monkeypatch.setenv("RETENTION_EXPORT_BUCKET", worm)
    monkeypatch.setenv("RETENTION_EXPORT_ENDPOINT_URL", s3_endpoint)
    return {
        "crm": env["RETENTION_CRM_URL"],
        "ticketing": env["RETENTION_TICKETING_URL"],
        "ledger": ledger,
        "worm": worm,
    }


def erase_subject(ledger_db: Path, email: str, erasure_run: str) -> tuple[Ledger, list[Any]]:
    """An erasure request done with the connector and recorded in the ledger
    as the pipeline does it (intent, act, completion), naming the subject."""
    loaded = load_policy(POLICY)
    keys, current = ledger_keys(loaded)
    ledger = Ledger.open(f"sqlite:///{ledger_db}", keys=keys, current_key_id=current)
    crm = open_connector("crm", loaded)
    try:
        found = crm.find_subject({"email": [email]})
        assert list(found) == ["contacts"] and len(found["contacts"]) == 1
        ledger.begin_run(
            run_id=erasure_run,
            policy_hash=loaded.sha256,
            policy_name=loaded.policy.name,
            trigger="erasure-request",
            dry_run=False,
        )
        seq = ledger.record_intent(
            run_id=erasure_run,
            policy_hash=loaded.sha256,
            rule_id="erasure-request",
            system="crm",
            dataset="contacts",
            action="delete",
            keys=found["contacts"],
            subjects=[email],
            approved_by=REVIEWER,
        )
        done = crm.apply("contacts", Action(kind="delete"), found["contacts"], now=AS_OF)
        ledger.record_completion(
            seq, done=done.done, cascaded=done.cascaded, kept=done.kept, failed=done.failed
        )
        ledger.end_run(run_id=erasure_run, summary={"deleted": len(done.done)})
    finally:
        crm.close()
    return ledger, found["contacts"]


def test_the_evidence_of_a_sweep_and_an_erasure_holds_no_personal_data(demo, s3_client) -> None:
    from flows.nightly_sweep import retention_sweep

    personal = personal_values(demo["crm"], demo["ticketing"])
    assert len(personal) > 1000  # names, emails and phones of ~400 people
    subject = query(
        demo["crm"],
        "SELECT id, email FROM contacts WHERE relationship_status = 'customer' ORDER BY id",
    )[0]

    summary = retention_sweep(policy=POLICY, as_of=AS_OF, approved_by=REVIEWER)
    assert summary.ok and summary.totals()["deleted"] > 0
    erasure_run = f"erasure-{uuid.uuid4().hex[:12]}"
    ledger, erased = erase_subject(demo["ledger"], subject["email"], erasure_run)
    assert erased == [subject["id"]]
    assert query(demo["crm"], "SELECT id FROM contacts WHERE id = :id", id=subject["id"]) == []
    export_segment(
        s3_client, demo["worm"], erasure_run, run_segment(ledger, erasure_run), retain_days=1
    )
    # Read while the ledger is still open, so that the write-ahead log is there too.
    files = sqlite_files(demo["ledger"])
    ledger.close()
    files |= {f"{name} after close": blob for name, blob in sqlite_files(demo["ledger"]).items()}
    assert "ledger.db-wal" in files
    listed = s3_client.list_objects_v2(Bucket=demo["worm"], Prefix="ledger/segments/")
    segments = {
        o["Key"]: s3_client.get_object(Bucket=demo["worm"], Key=o["Key"])["Body"].read()
        for o in listed.get("Contents", [])
    }
    assert set(segments) == {
        f"ledger/segments/{summary.run_id}.jsonl",
        f"ledger/segments/{erasure_run}.jsonl",
    }

    everything = {**files, **segments}
    # The search looked at the evidence: both runs are in the bytes searched.
    joined = b"".join(everything.values())
    assert summary.run_id.encode() in joined and erasure_run.encode() in joined
    for where, blob in everything.items():
        assert leaked(blob, personal, binary=".db" in where) == [], where
    assert leaked(database_cells(demo["ledger"]), personal) == [], "the ledger's cells"


def test_the_search_finds_a_value_planted_in_the_evidence() -> None:
    """Guards the search above: planted as the ledger would write it, in any
    case and spelling, the value is found; a name inside a digest is not."""
    digest = b'"key_hashes":["ada0fe","0ada"],"'
    assert leaked(digest, {"Ada"}) == []
    for value, planted in [
        ("Knut Bj\u00f6rk", '{"billing_name":"KNUT BJ\u00d6RK"}'.encode()),
        ("Bj\u00f6rk", b'{"n":"Bj\\u00f6rk"}'),
        ("katri.rantanen@laine.fi", b"to=Katri.Rantanen@laine.fi;"),
        ("(+358) 812799107", b'"phone":"358812799107"'),
        ("Ann-Charlotte", b"\x00\x07ann-charlotte\x00"),
    ]:
        assert leaked(digest + planted, {value, "Ada"}) == [value]
        assert leaked(digest + planted, {value, "Ada"}, binary=True) == [value]
    # In a database file a short name between header bytes is noise; in a
    # value, or read back as a cell, it is found.
    assert leaked(b"\x02\x81bo\x00\x13", {"Bo"}, binary=True) == []
    assert leaked(b'\x02{"n":"Bo"}\x00', {"Bo"}, binary=True) == ["Bo"]
    assert leaked(b"\x02\x81bo\x00\x13", {"Bo"}) == ["Bo"]


def test_the_cell_scan_finds_a_short_name_stored_on_its_own(tmp_path) -> None:
    db = tmp_path / "x.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE t (n INTEGER, s TEXT)")
        conn.execute("INSERT INTO t VALUES (7, 'Bo')")
    conn.close()
    assert leaked(database_cells(db), {"Bo"}) == ["Bo"]


def test_a_holder_of_the_key_finds_the_erasure_and_no_one_else_does(demo, s3_client) -> None:
    subject = query(
        demo["crm"],
        "SELECT email FROM contacts WHERE relationship_status = 'partner' ORDER BY id",
    )[0]
    erasure_run = f"erasure-{uuid.uuid4().hex[:12]}"
    ledger, _ = erase_subject(demo["ledger"], subject["email"], erasure_run)
    ledger.close()
    url = f"sqlite:///{demo['ledger']}"

    with Ledger.open(url, keys={"k1": DEMO_HASH_KEY.encode()}, current_key_id="k1") as keyed:
        found = keyed.lookup({"email": [subject["email"].upper()]})
    assert {(e.run_id, e.kind) for e in found} == {
        (erasure_run, "intent"),
        (erasure_run, "completion"),
    }
    assert {e.approved_by for e in found} == {REVIEWER}

    other = {"k1": b"another-key-entirely-not-the-demo-one"}
    with Ledger.open(url, keys=other, current_key_id="k1") as stranger:
        assert stranger.lookup({"email": [subject["email"]]}) == []
