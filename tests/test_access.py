"""retention access, on the demo copied to SQLite, PostgreSQL and MariaDB:
a seeded person's report lists every row the test finds with its own SQL
(CRM, ticketing) and every photo whose sidecar names them, with each
category's purpose, legal basis and retention, and each record's due date
computed from its clock; an unknown email is told nothing is held; the
access is in the ledger with the person only as keyed hashes; a wildcard or
an empty request is refused before anything is read or recorded."""

from __future__ import annotations

import getpass
import json
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from flows.cli import main
from retention.demo.build import DEMO_HASH_KEY
from retention.ledger import Ledger
from tests.demo_world import POLICY, World
from tests.snapshots import query


def access(
    capsys, out: Path, *identity: str, requested_by: str | None = "Register Contact"
) -> tuple[int, str, dict[str, Any]]:
    receiver = ["--requested-by", requested_by] if requested_by else []
    code = main(["access", "--policy", str(POLICY), "--out", str(out), *identity, *receiver])
    printed = capsys.readouterr().out
    bundles = list(out.glob("*.json"))
    return code, printed, json.loads(bundles[0].read_text()) if bundles else {}


def access_entries(world: World) -> tuple[list[Any], Callable[[str], str]]:
    ledger = Ledger.open(
        world.env["RETENTION_LEDGER_URL"], keys={"k1": DEMO_HASH_KEY.encode()}, current_key_id="k1"
    )
    try:
        return [e for e in ledger.entries() if e.kind == "access"], ledger.hash
    finally:
        ledger.close()


def seeded_person(world: World) -> dict[str, Any]:
    """A contact who is also a ticketing user with tickets and is in photos,
    given an invoice here, and what the test knows they hold, by its own SQL."""
    users = {r["email"].lower(): r for r in query(world.ticketing, "SELECT * FROM users")}
    photos = {
        p.with_suffix("").relative_to(world.env["RETENTION_MEDIA_PATH"]).as_posix(): json.loads(
            p.read_text()
        )
        for p in Path(world.env["RETENTION_MEDIA_PATH"]).rglob("*.json")
    }
    contacts = query(
        world.crm,
        "SELECT * FROM contacts WHERE email IS NOT NULL ORDER BY id",
    )
    for contact in contacts:
        user = users.get(contact["email"].lower())
        shown = {k: f for k, f in photos.items() if str(contact["id"]) in f["subjects"]}
        if not user or not shown:
            continue
        tickets = query(world.ticketing, "SELECT id FROM tickets WHERE requester_id = :u",
                        u=user["id"])  # fmt: skip
        if not tickets:
            continue
        plant_invoice(world, contact)
        return {"contact": contact, "user": user, "photos": shown,
                "expected": expected_records(world, contact["id"], user["id"], shown)}  # fmt: skip
    pytest.fail("the demo has no contact with tickets and photos")


def plant_invoice(world: World, contact: dict[str, Any]) -> None:
    """A purchase of the person's with its voucher, which the Accounting Act keeps."""
    engine = sa.create_engine(world.crm)
    with engine.begin() as conn:
        purchase = conn.execute(sa.text("SELECT max(id) + 1 FROM purchases")).scalar_one()
        invoice = conn.execute(sa.text("SELECT max(id) + 1 FROM invoices")).scalar_one()
        conn.execute(
            sa.text(
                "INSERT INTO purchases (id, company_id, contact_id, product, amount_cents, "
                "purchased_at) VALUES (:p, :co, :c, 'Audit', 100, '2023-05-02 10:00:00')"
            ),
            {"p": purchase, "co": contact["company_id"], "c": contact["id"]},
        )
        conn.execute(
            sa.text(
                "INSERT INTO invoices (id, purchase_id, contact_id, invoice_number, billing_name, "
                "billing_email, amount_cents, issued_at, fiscal_year_end) VALUES (:i, :p, :c, "
                "'T-1', 'Billing Person', :e, 100, '2023-05-03 10:00:00', '2023-12-31')"
            ),
            {"i": invoice, "p": purchase, "c": contact["id"], "e": contact["email"]},
        )
    engine.dispose()


def expected_records(
    world: World, contact_id: int, user_id: int, photos: dict[str, Any]
) -> dict[str, set[str]]:
    def ids(url: str, sql: str, **params: Any) -> set[str]:
        return {str(r["id"]) for r in query(url, sql, **params)}

    by_contact = ("consents", "newsletter_subscriptions", "event_registrations", "purchases",
                  "invoices", "contractor_reports", "web_visits")  # fmt: skip
    out = {f"crm.{t}": ids(world.crm, f"SELECT id FROM {t} WHERE contact_id = :c", c=contact_id)
           for t in by_contact}  # fmt: skip
    out["crm.contacts"] = {str(contact_id)}
    out["crm.newsletter_reactions"] = ids(
        world.crm,
        "SELECT r.id FROM newsletter_reactions r JOIN newsletter_subscriptions s "
        "ON s.id = r.subscription_id WHERE s.contact_id = :c",
        c=contact_id,
    )
    out["ticketing.users"] = {str(user_id)}
    out["ticketing.login_accounts"] = ids(
        world.ticketing, "SELECT id FROM login_accounts WHERE user_id = :u", u=user_id
    )
    out["ticketing.tickets"] = ids(
        world.ticketing, "SELECT id FROM tickets WHERE requester_id = :u", u=user_id
    )
    out["ticketing.comments"] = ids(
        world.ticketing,
        "SELECT c.id FROM comments c JOIN tickets t ON t.id = c.ticket_id "
        "WHERE t.requester_id = :u",
        u=user_id,
    )
    out["media.photos"] = set(photos)
    return {name: keys for name, keys in out.items() if keys}


def test_an_access_report_lists_everything_held_with_how_long_and_until_when(
    world, capsys, tmp_path
):
    person = seeded_person(world)
    code, printed, bundle = access(capsys, tmp_path / "out", "--email",
                                   person["contact"]["email"].upper())  # fmt: skip

    assert code == 0
    found = {
        c["category"]["qualified"]: {r["key"] for r in c["records"]} for c in bundle["categories"]
    }
    assert found == person["expected"]
    assert {"crm", "ticketing", "media"} <= set(bundle["systems_answered"])
    categories = {c["category"]["qualified"]: c for c in bundle["categories"]}
    for name, held in categories.items():
        category = held["category"]
        assert category["purpose"] != "not stated in the policy", name
        assert category["legal_basis"] in ("consent", "contract", "legal obligation",
                                           "legitimate interest")  # fmt: skip
        assert category["keeping"] or category["notes"], f"{name}: says how long it is kept"

    # A photo is due five years after it was taken: the date comes from its own clock.
    for record in categories["media.photos"]["records"]:
        taken = datetime.fromisoformat(person["photos"][record["key"]]["captured_at"])
        [due] = [d for d in record["dates"] if d["rule_or_hold"] == "media-photos-five-years"]
        assert datetime.fromisoformat(due["date"]) == taken.replace(year=taken.year + 5)
        # Another person in the same photo is not named to this one.
        subjects = record["data"]["subjects"]
        assert str(person["contact"]["id"]) in subjects
        assert set(subjects) <= {str(person["contact"]["id"]), "[another person]"}
    # A voucher is kept six years from the end of its financial year.
    for record in categories["crm.invoices"]["records"]:
        [kept] = [d for d in record["dates"] if d["rule_or_hold"] == "accounting-vouchers"]
        year_end = int(record["data"]["fiscal_year_end"][:4])
        assert kept["kind"] == "kept until" and kept["date"].startswith(f"{year_end + 7}-01-01")
    contacts = categories["crm.contacts"]
    assert any(k["period"] == "P3Y" and k["clock"] == "cooperation_ended_at"
               for k in contacts["category"]["keeping"])  # fmt: skip
    # A credential is held, and said to be, but never handed out.
    for record in categories.get("ticketing.login_accounts", {"records": []})["records"]:
        assert record["data"]["password_hash"] == "[held, not shown: a credential]"

    markdown = next((tmp_path / "out").glob("*.md")).read_text()
    page = next((tmp_path / "out").glob("*.html")).read_text()
    for key in person["expected"]["media.photos"]:
        assert key in markdown and key in page
    assert "5 years after captured_at" in markdown and "Legal basis" in page
    assert person["contact"]["email"] not in printed, "the terminal shows counts, not data"

    [entry], hash_of = access_entries(world)
    assert entry.detail["requested_by"] == "Register Contact"
    assert set(entry.detail["systems"]) == {"crm", "ticketing", "media"}
    assert hash_of(person["contact"]["email"].lower()) in entry.subject_hashes
    assert entry.count == sum(len(k) for k in person["expected"].values())
    stored = json.dumps(entry.content())
    assert person["contact"]["email"].lower() not in stored.lower()
    assert person["contact"]["last_name"] not in stored


def test_an_unknown_person_is_told_nothing_is_held(world, capsys, tmp_path):
    unknown = ("--email", "nobody@nowhere.example")
    code, printed, bundle = access(capsys, tmp_path / "out", *unknown, requested_by=None)

    assert code == 0 and "nothing is held" in printed
    assert bundle["nothing_held"] is True and bundle["categories"] == []
    page = next((tmp_path / "out").glob("*.html")).read_text()
    assert "We hold no personal data about you" in page
    [entry], _ = access_entries(world)
    assert entry.count == 0
    assert entry.detail["requested_by"] == getpass.getuser(), "who ran it, when no one is named"


@pytest.mark.parametrize(
    ("identity", "said"),
    [
        (["--email", "*@example.fi"], "wildcard"),
        (["--email", " "], "empty value"),
        (["--phone", "not a number"], "not a phone number"),
        ([], "no identity"),
    ],
)
def test_a_wildcard_empty_or_malformed_request_is_refused_before_anything_is_read(
    identity, said, capsys, tmp_path, monkeypatch
):
    ledger = tmp_path / "ledger.db"
    monkeypatch.setenv("RETENTION_LEDGER_URL", f"sqlite:///{ledger}")
    monkeypatch.setenv("RETENTION_HASH_KEY", DEMO_HASH_KEY)
    # Systems that do not exist: a request that got as far as them would fail differently.
    monkeypatch.setenv("RETENTION_CRM_URL", "postgresql+psycopg://nobody@127.0.0.1:9/none")
    monkeypatch.setenv("RETENTION_TICKETING_URL", "postgresql+psycopg://nobody@127.0.0.1:9/none")
    monkeypatch.setenv("RETENTION_MEDIA_PATH", str(tmp_path / "no-such-folder"))

    code = main(["access", "--policy", str(POLICY), "--out", str(tmp_path / "out"), *identity])

    assert code == 2
    assert said in capsys.readouterr().err
    assert not (tmp_path / "out").exists() and not ledger.exists()
