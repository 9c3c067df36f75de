"""Erasure on request, on the demo's systems copied to SQLite, PostgreSQL and
MariaDB: after an executed erasure no text column of any table holds the
person's email, phone, name or username (the test's own scan), a voucher the
Accounting Act keeps stays with the person anonymised, and every other
person's rows are unchanged but for the redacted mentions."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from retention.demo.build import DEMO_HASH_KEY
from retention.errors import IdentityError, RetentionError
from retention.ledger import Ledger
from retention.pipeline.erase import ErasureRequest
from tasks.erase import run_erase
from tests.demo_world import AS_OF, POLICY, World, make_world
from tests.oracle import assert_consistent, changed_rows, snapshots
from tests.snapshots import query

FREE_TEXT = {("ticketing", "tickets"): {"subject", "body"}, ("ticketing", "comments"): {"body"}}


def ledger_of(world: World) -> Ledger:
    return Ledger.open(
        world.env["RETENTION_LEDGER_URL"], keys={"k1": DEMO_HASH_KEY.encode()}, current_key_id="k1"
    )


def erase(*requests: ErasureRequest, **options: Any):  # type: ignore[no-untyped-def]
    return run_erase(str(POLICY), list(requests), as_of=AS_OF, **options)


def a_person_with_everything(world: World) -> dict[str, Any]:
    """A former contact with a voucher the Accounting Act still keeps, who
    is also a ticketing user with tickets, chosen with the test's own SQL."""
    users = {
        r["email"].lower(): r
        for r in query(world.ticketing, "SELECT id, email, full_name, phone FROM users")
    }
    candidates = query(
        world.crm,
        "SELECT c.id, c.email, c.phone, c.first_name, c.last_name FROM contacts c "
        "JOIN invoices i ON i.contact_id = c.id WHERE c.relationship_status = 'former' "
        "AND i.fiscal_year_end >= :recent ORDER BY c.id",
        recent="2022-01-01",
    )
    for contact in candidates:
        user = users.get(contact["email"].lower())
        if user and query(
            world.ticketing, "SELECT id FROM tickets WHERE requester_id = :u", u=user["id"]
        ):
            return {"contact": contact, "user": user}
    pytest.fail("the demo has no former contact with a kept voucher who uses the ticketing")


def plant_mention(world: World, person: dict[str, Any]) -> int:
    """A colleague's comment on someone else's ticket that names the person."""
    other = query(
        world.ticketing,
        "SELECT id FROM tickets WHERE requester_id <> :u ORDER BY id",
        u=person["user"]["id"],
    )[0]["id"]
    contact = person["contact"]
    body = (
        f"Spoke with {contact['first_name']} {contact['last_name']} "
        f"({contact['email'].upper()}, {contact['phone']}); the invoice question is closed."
    )
    engine = sa.create_engine(world.ticketing)
    with engine.begin() as conn:
        new_id = conn.execute(sa.text("SELECT max(id) + 1 FROM comments")).scalar_one()
        conn.execute(
            sa.text(
                "INSERT INTO comments (id, ticket_id, author_id, body, created_at) "
                "VALUES (:id, :t, 1, :body, :at)"
            ),
            {"id": new_id, "t": other, "body": body, "at": "2026-10-01 10:00:00"},
        )
    engine.dispose()
    return int(new_id)


def identities_of(person: dict[str, Any], world: World) -> list[str]:
    contact, user = person["contact"], person["user"]
    logins = query(
        world.ticketing, "SELECT username FROM login_accounts WHERE user_id = :u", u=user["id"]
    )
    return [
        contact["email"],
        user["email"],
        f"{contact['first_name']} {contact['last_name']}",
        user["full_name"],
        *(row["username"] for row in logins),
        "".join(c for c in contact["phone"] if c.isdigit())[-9:],
    ]


def cells_holding(world: World, needles: list[str]) -> list[str]:
    """system.table.column of every text cell that holds a needle (any case;
    phone numbers compared by their digits)."""
    found = []
    for system, url in world.urls.items():
        for table, rows in snapshots({system: url})[system].items():
            for key, row in rows.items():
                for column, value in row.items():
                    if not isinstance(value, str):
                        continue
                    text, digits = value.casefold(), "".join(c for c in value if c.isdigit())
                    for needle in needles:
                        hit = needle.casefold() in text
                        if needle.isdigit():
                            hit = needle in digits
                        if hit:
                            found.append(f"{system}.{table}.{column} (row {key})")
    return found


def test_an_erasure_leaves_nothing_of_the_person_and_everyone_else_as_they_were(world):
    person = a_person_with_everything(world)
    mention = plant_mention(world, person)
    needles = identities_of(person, world)
    assert cells_holding(world, needles), "the scan finds the person before (positive control)"
    before = snapshots(world.urls)
    photos_before = set(Path(world.env["RETENTION_MEDIA_PATH"]).rglob("*.json"))
    contact_id = person["contact"]["id"]
    photos_showing = sum(
        str(contact_id) in json.loads(p.read_text())["subjects"] for p in photos_before
    )

    result = erase(
        ErasureRequest(
            request_id="REQ-1",
            email=[person["contact"]["email"].upper()],
            requested_by="Register Contact",
        )
    )

    [cert] = result.certificates
    assert cert.status == "completed" and cert.request_id == "REQ-1"
    assert cells_holding(world, needles) == []
    after = snapshots(world.urls)
    # The voucher the Accounting Act keeps stays, the person gone from it.
    kept = [r for r in after["crm"]["invoices"].values() if r["fiscal_year_end"] and
            str(r["fiscal_year_end"]) >= "2022"]  # fmt: skip
    held = [before["crm"]["invoices"][k] for k in before["crm"]["invoices"]
            if before["crm"]["invoices"][k]["contact_id"] == contact_id]  # fmt: skip
    assert held, "the person had invoices"
    for invoice in held:
        if str(invoice["fiscal_year_end"]) >= "2022":
            now = after["crm"]["invoices"][invoice["id"]]
            assert now["billing_name"] == "[erased]" and now["billing_email"] is None
            assert now["invoice_number"] == invoice["invoice_number"]
    assert kept
    assert "accounting-vouchers" in json.dumps(cert.datasets["crm.invoices"])
    # The contact a kept voucher still points at stays, as "Former contact".
    contact = after["crm"]["contacts"].get(contact_id)
    assert contact is not None and contact["relationship_status"] == "anonymised"
    assert (contact["first_name"], contact["email"], contact["phone"]) == ("Former", None, None)
    # Other people: only the mentions changed, and only in free-text columns.
    mine = _records_of(person, before)
    for system in before:
        for table, keys in changed_rows(before[system], after[system]).items():
            for key in keys - mine.get((system, table), set()):
                old, new = before[system][table][key], after[system][table].get(key)
                assert new is not None, f"{system}.{table} row {key} of someone else was removed"
                changed = {c for c in old if old[c] != new[c]}
                allowed = FREE_TEXT.get((system, table), set()) | _unlinked(system, table)
                assert changed <= allowed, f"{system}.{table} row {key}: {changed} changed"
                assert all("[redacted]" in str(new[c]) for c in changed - _unlinked(system, table))
    assert "[redacted]" in after["ticketing"]["comments"][mention]["body"]
    assert "the invoice question is closed" in after["ticketing"]["comments"][mention]["body"]
    # Every photo showing the person is gone, and only those.
    photos_after = set(Path(world.env["RETENTION_MEDIA_PATH"]).rglob("*.json"))
    for sidecar in photos_after:
        assert str(contact_id) not in json.loads(sidecar.read_text())["subjects"]
    assert len(photos_before - photos_after) == photos_showing
    with ledger_of(world) as ledger:
        assert_consistent(ledger, before, after)
        found = ledger.lookup({"email": [person["user"]["email"]]})
        assert {e.dataset for e in found} >= {"contacts", "users", "tickets", "login_accounts"}


def _records_of(person: dict[str, Any], snapshot: dict) -> dict[tuple[str, str], set[Any]]:
    """The person's own rows, by the test's own reading of the demo's links."""
    cid, uid = person["contact"]["id"], person["user"]["id"]
    crm, tk = snapshot["crm"], snapshot["ticketing"]

    def by(system: dict, table: str, column: str, values: set[Any]) -> set[Any]:
        return {k for k, r in system[table].items() if r[column] in values}

    subs = by(crm, "newsletter_subscriptions", "contact_id", {cid})
    tickets = by(tk, "tickets", "requester_id", {uid})
    return {
        ("crm", "contacts"): {cid},
        ("crm", "consents"): by(crm, "consents", "contact_id", {cid}),
        ("crm", "newsletter_subscriptions"): subs,
        ("crm", "newsletter_reactions"): by(crm, "newsletter_reactions", "subscription_id", subs),
        ("crm", "event_registrations"): by(crm, "event_registrations", "contact_id", {cid}),
        ("crm", "web_visits"): by(crm, "web_visits", "contact_id", {cid}),
        ("crm", "invoices"): by(crm, "invoices", "contact_id", {cid}),
        ("crm", "purchases"): by(crm, "purchases", "contact_id", {cid}),
        ("crm", "contractor_reports"): by(crm, "contractor_reports", "contact_id", {cid}),
        ("ticketing", "users"): {uid},
        ("ticketing", "login_accounts"): by(tk, "login_accounts", "user_id", {uid}),
        ("ticketing", "tickets"): tickets,
        ("ticketing", "comments"): by(tk, "comments", "ticket_id", tickets),
    }


def _unlinked(system: str, table: str) -> set[str]:
    return set()


def test_the_same_request_acts_once_and_returns_its_first_certificate(world):
    person = a_person_with_everything(world)
    request = ErasureRequest(request_id="REQ-2", phone=[person["contact"]["phone"]])
    first = erase(request).certificates
    with ledger_of(world) as ledger:
        entries = len(ledger.entries())
    again = erase(request)
    assert again.summary is None and again.certificates == first
    with ledger_of(world) as ledger:
        assert len(ledger.entries()) == entries, "nothing was written the second time"


def test_a_batch_of_requests_resolves_each_and_says_when_nothing_is_held(world):
    former = query(
        world.crm,
        "SELECT id, email FROM contacts WHERE relationship_status = 'former' ORDER BY id",
    )[:12]
    requests = [ErasureRequest(request_id=f"B-{r['id']}", email=[r["email"]]) for r in former]
    requests.append(ErasureRequest(request_id="B-none", email=["nobody.here@example.fi"]))
    before = snapshots(world.urls)

    result = erase(*requests)

    by_id = {c.request_id: c for c in result.certificates}
    assert by_id["B-none"].status == "nothing-held" and not by_id["B-none"].datasets
    assert all(by_id[f"B-{r['id']}"].status == "completed" for r in former), (
        {k: c.status for k, c in by_id.items()},
        result.summary and result.summary.reason(),
    )
    remaining = {r["id"] for r in query(world.crm, "SELECT id FROM contacts")}
    held_ids = {r["id"] for r in query(world.crm, "SELECT id FROM contacts WHERE "
                                       "relationship_status = 'anonymised'")}  # fmt: skip
    assert {r["id"] for r in former} & remaining <= held_ids, "erased, or kept anonymised"
    with ledger_of(world) as ledger:
        assert_consistent(ledger, before, snapshots(world.urls))
        runs = {e.run_id for e in ledger.entries() if e.kind == "run-start"}
    assert len(runs) == 1, "a batch of requests is one run"


def test_a_person_whose_cooperation_is_in_force_is_restricted_unless_overridden(world):
    customer = query(
        world.crm, "SELECT id, email FROM contacts WHERE relationship_status = 'customer' "
        "ORDER BY id"
    )[0]  # fmt: skip
    before = snapshots(world.urls)
    restricted = erase(ErasureRequest(request_id="R-1", email=[customer["email"]]))
    [cert] = restricted.certificates
    assert cert.status == "restricted" and cert.restricted == ["crm.contacts"]
    assert snapshots(world.urls) == before, "a restricted request changes nothing"

    overridden = erase(
        ErasureRequest(
            request_id="R-2",
            email=[customer["email"]],
            override_restriction="contract ended yesterday, confirmed by the account manager",
        )
    )
    [cert] = overridden.certificates
    assert cert.status == "completed" and "contract ended" in cert.override
    left = query(world.crm, "SELECT email FROM contacts WHERE id = :id", id=customer["id"])
    assert left in ([], [{"email": None}]), "erased, or kept anonymised for a voucher"


def test_withdrawn_marketing_consent_removes_only_the_subscriptions(world):
    subscriber = query(
        world.crm,
        "SELECT c.id, c.email FROM contacts c JOIN newsletter_subscriptions s "
        "ON s.contact_id = c.id WHERE c.relationship_status = 'customer' ORDER BY c.id",
    )[0]
    before = snapshots(world.urls)
    result = erase(
        ErasureRequest(request_id="M-1", kind="marketing-withdrawn", email=[subscriber["email"]])
    )
    # A consent withdrawal is not an erasure: no restriction, the person stays.
    [cert] = result.certificates
    assert cert.status == "completed" and cert.kind == "marketing-withdrawn"
    after = snapshots(world.urls)
    changed = changed_rows(before["crm"], after["crm"])
    assert set(changed) <= {"newsletter_subscriptions", "newsletter_reactions"}
    assert not [s for s in after["crm"]["newsletter_subscriptions"].values()
                if s["contact_id"] == subscriber["id"]]  # fmt: skip
    assert after["crm"]["contacts"][subscriber["id"]] == before["crm"]["contacts"][subscriber["id"]]


BAD = ["", "   ", "%", "_", "*", "%@example.fi", "a_b%@example.fi", "' OR 1=1 --", "x" * 10_000]


def test_an_empty_wildcard_or_malformed_identity_is_refused_before_any_query(tmp_path, monkeypatch):
    # Refused before any connection is used, so one dialect shows it for all.
    world = make_world(tmp_path / "run", None)
    for name, value in world.env.items():
        monkeypatch.setenv(name, value)
    before = snapshots(world.urls)
    for bad in BAD:
        for field in ("email", "phone", "crm_contact_id", "ticketing_user_id"):
            with pytest.raises((IdentityError, RetentionError)):
                erase(ErasureRequest.model_validate({"request_id": "BAD", field: [bad]}))
    with pytest.raises(IdentityError, match="a name alone would find namesakes"):
        erase(ErasureRequest(request_id="BAD", name=["Anna Virtanen"]))
    assert snapshots(world.urls) == before
    assert not Path(world.env["RETENTION_LEDGER_URL"].removeprefix("sqlite:///")).exists() or (
        query(world.env["RETENTION_LEDGER_URL"], "SELECT count(*) AS n FROM ledger_entries")
        == [{"n": 0}]
    )


def test_a_suppressed_person_who_is_imported_again_loses_the_subscription_again(
    tmp_path, monkeypatch, capsys
):
    from flows.cli import main
    from tasks.sweep import run_sweep

    world = make_world(tmp_path / "run", None)
    for name, value in world.env.items():
        monkeypatch.setenv(name, value)
    subscriber = query(
        world.crm,
        "SELECT c.id, c.email, c.company_id FROM contacts c JOIN newsletter_subscriptions s "
        "ON s.contact_id = c.id WHERE c.relationship_status = 'customer' ORDER BY c.id",
    )[0]
    email = subscriber["email"]
    assert main(["suppressed", "--email", email]) == 0
    erase(ErasureRequest(request_id="W-1", kind="marketing-withdrawn", email=[email]))
    assert main(["suppressed", "--email", email.upper()]) == 1
    assert "request W-1" in capsys.readouterr().out
    assert main(["suppressed", "--email", "someone.else@example.fi"]) == 0

    # An import brings the person back, subscribed, under a new id.
    engine = sa.create_engine(world.crm)
    with engine.begin() as conn:
        new_id = conn.execute(sa.text("SELECT max(id) + 1 FROM contacts")).scalar_one()
        conn.execute(
            sa.text(
                "INSERT INTO contacts (id, company_id, first_name, last_name, email, language, "
                "relationship_status, created_at) VALUES (:id, :co, 'Re', 'Imported', :email, "
                "'fi', 'customer', '2026-10-30 10:00:00')"
            ),
            {"id": new_id, "co": subscriber["company_id"], "email": email.upper()},
        )
        sub_id = conn.execute(sa.text("SELECT max(id) + 1 FROM newsletter_subscriptions")).scalar()
        conn.execute(
            sa.text(
                "INSERT INTO newsletter_subscriptions (id, contact_id, newsletter, subscribed_at) "
                "VALUES (:id, :c, 'ID North News', '2026-10-30 10:00:00')"
            ),
            {"id": sub_id, "c": new_id},
        )
    engine.dispose()

    run_sweep(str(POLICY), as_of=AS_OF, approved_by="operator")

    left = query(
        world.crm, "SELECT id FROM newsletter_subscriptions WHERE contact_id = :c", c=new_id
    )
    assert left == [], "the re-imported subscription was removed again"
    assert query(world.crm, "SELECT id FROM contacts WHERE id = :c", c=new_id), "the contact stays"
    requests = query(world.env["RETENTION_LEDGER_URL"], "SELECT outcome, detail FROM "
                     "ledger_entries WHERE kind = 'request'")  # fmt: skip
    again = [r for r in requests if '"request_id":"suppressed-' in r["detail"]]
    assert [r["outcome"] for r in again] == ["completed"]


def _sqlite_world(tmp_path: Path, monkeypatch: Any) -> World:
    world = make_world(tmp_path / "run", None)
    for name, value in world.env.items():
        monkeypatch.setenv(name, value)
    return world


def test_withdrawn_photography_consent_erases_every_photo_showing_them(tmp_path, monkeypatch):
    world = _sqlite_world(tmp_path, monkeypatch)
    media = Path(world.env["RETENTION_MEDIA_PATH"])
    shown: dict[str, int] = {}
    for sidecar in media.rglob("*.json"):
        for subject in json.loads(sidecar.read_text())["subjects"]:
            shown[subject] = shown.get(subject, 0) + 1
    contact_id = max(shown, key=lambda s: shown[s])  # the most photographed person
    [contact] = query(world.crm, "SELECT email FROM contacts WHERE id = :id", id=int(contact_id))
    before = snapshots(world.urls)
    photos = set(media.rglob("*"))

    result = erase(
        ErasureRequest(request_id="P-1", kind="photography-withdrawn", email=[contact["email"]])
    )

    assert result.certificates[0].status == "completed"
    left = [json.loads(p.read_text())["subjects"] for p in media.rglob("*.json")]
    assert all(contact_id not in subjects for subjects in left)
    gone = photos - set(media.rglob("*"))
    assert len([p for p in gone if p.suffix == ".json"]) == shown[contact_id]
    assert snapshots(world.urls) == before, "a photography withdrawal changes only photos"


def test_a_request_over_the_limits_waits_for_approval_then_finishes(tmp_path, monkeypatch):
    from tests.demo_world import policy_with

    world = _sqlite_world(tmp_path, monkeypatch)
    person = a_person_with_everything(world)
    strict = policy_with(tmp_path, lambda d: d["settings"]["limits"].update(max_count=3))
    request = ErasureRequest(request_id="L-1", email=[person["contact"]["email"]])

    waiting = run_erase(str(strict), [request], as_of=AS_OF)
    assert waiting.certificates[0].status == "incomplete"
    assert waiting.summary is not None and waiting.summary.status == "incomplete"
    approved = run_erase(str(strict), [request], as_of=AS_OF, approved_by="DPO")
    assert approved.certificates[0].status == "completed"
    assert cells_holding(world, identities_of(person, world)) == []
    with ledger_of(world) as ledger:
        decisions = [e.outcome for e in ledger.entries() if e.kind == "decision"]
    assert decisions == ["not-asked", "approved"]


def test_a_request_killed_half_way_converges_when_run_again(tmp_path, monkeypatch):
    from retention.pipeline.erase import erase as erase_core
    from retention.pipeline.run import SweepArgs
    from tasks.setup import close_systems, load_checked_policy, open_ledger, open_systems
    from tests.demo_world import policy_with
    from tests.test_fail_safe import DyingLedger, Killed

    world = _sqlite_world(tmp_path, monkeypatch)
    monkeypatch.setenv("RETENTION_LEASE_TTL_S", "1")
    person = a_person_with_everything(world)
    small = policy_with(tmp_path, lambda d: d["settings"].update(batch_size=3))
    request = ErasureRequest(request_id="K-1", email=[person["contact"]["email"]])
    before = snapshots(world.urls)

    loaded = load_checked_policy(str(small))
    connectors = open_systems(loaded, sorted(loaded.policy.systems))
    real = open_ledger(loaded)
    dying = DyingLedger(real, "erasure-ticketing-comments", 2)
    args = SweepArgs(loaded.policy, loaded.sha256, "killed-erasure", AS_OF, [])
    try:
        with pytest.raises(Killed):
            erase_core([request], loaded.policy, loaded.sha256, connectors, dying, args)
    finally:
        close_systems(connectors)
        real.close()
    import time

    time.sleep(1.2)  # the dead run's lease expires
    again = run_erase(str(small), [request], as_of=AS_OF)
    assert again.certificates[0].status == "completed"
    assert cells_holding(world, identities_of(person, world)) == []
    with ledger_of(world) as ledger:
        assert_consistent(ledger, before, snapshots(world.urls))
        assert any(e.outcome == "recovered" for e in ledger.entries())
