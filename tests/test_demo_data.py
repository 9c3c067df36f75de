"""The demo systems: deterministic, and holding the mix of cases the policy
must handle (checked here with independent SQL, not with the connectors)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from retention.demo import build_demo, demo_env
from retention.demo import schema as s
from retention.demo.build import DemoSummary
from retention.periods import Period

AS_OF = datetime(2026, 11, 1, 3, 0, tzinfo=UTC)
HELSINKI = ZoneInfo("Europe/Helsinki")
# The databases hold naive wall-clock time in the policy's zone: 05:00 in Helsinki.
NOW = AS_OF.astimezone(HELSINKI).replace(tzinfo=None)
MIN_CASES = 5


def before(period: str) -> datetime:
    return Period.parse(period).before(NOW)


def tree_digest(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def table_dump(url: str) -> dict[str, list[tuple[object, ...]]]:
    engine = sa.create_engine(url)
    try:
        meta = sa.MetaData()
        meta.reflect(engine)
        with engine.connect() as conn:
            return {
                name: [tuple(r) for r in conn.execute(sa.select(t).order_by(*t.primary_key))]
                for name, t in meta.tables.items()
            }
    finally:
        engine.dispose()


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> DemoSummary:
    return build_demo(tmp_path_factory.mktemp("demo"), as_of=AS_OF)


@pytest.fixture(scope="module")
def crm(demo) -> Iterator[sa.Connection]:
    engine = sa.create_engine(demo_env(demo.root)["RETENTION_CRM_URL"])
    with engine.connect() as conn:
        yield conn
    engine.dispose()


@pytest.fixture(scope="module")
def ticketing(demo) -> Iterator[sa.Connection]:
    engine = sa.create_engine(demo_env(demo.root)["RETENTION_TICKETING_URL"])
    with engine.connect() as conn:
        yield conn
    engine.dispose()


@pytest.fixture(scope="module")
def sidecars(demo) -> dict[Path, dict]:
    media = Path(demo_env(demo.root)["RETENTION_MEDIA_PATH"])
    return {p: json.loads(p.read_text()) for p in sorted(media.rglob("*.jpg.json"))}


def count(conn: sa.Connection, table: sa.Table, *where: sa.ColumnElement[bool]) -> int:
    return conn.execute(sa.select(sa.func.count()).select_from(table).where(*where)).scalar_one()


def assert_mix(due: int, not_due: int, planned: int) -> None:
    assert due == planned, f"{due} due, the summary promised {planned}"
    assert due >= MIN_CASES and not_due >= MIN_CASES, (due, not_due)


# --- determinism ----------------------------------------------------------------


def test_same_seed_and_as_of_give_identical_files(tmp_path, demo):
    again = build_demo(tmp_path / "again", as_of=AS_OF)
    assert tree_digest(again.root) == tree_digest(demo.root)
    assert again.cohorts == demo.cohorts


def test_a_different_seed_gives_different_data(tmp_path, demo):
    other = build_demo(tmp_path / "other", as_of=AS_OF, seed=1)
    for name in ("RETENTION_CRM_URL", "RETENTION_TICKETING_URL"):
        mine, theirs = table_dump(demo_env(demo.root)[name]), table_dump(demo_env(other.root)[name])
        assert mine.keys() == theirs.keys()
        assert (
            mine["contacts" if "CRM" in name else "users"]
            != theirs["contacts" if "CRM" in name else "users"]
        )
    assert tree_digest(other.root / "media") != tree_digest(demo.root / "media")


def test_rebuilding_replaces_what_was_there(tmp_path):
    root = tmp_path / "demo"
    build_demo(root, as_of=AS_OF)
    stray = root / "media" / "photos" / "1999" / "stray.jpg"
    stray.parent.mkdir(parents=True)
    stray.write_bytes(b"old")
    first = tree_digest(root)
    build_demo(root, as_of=AS_OF)
    assert not stray.exists()
    assert tree_digest(root) == {k: v for k, v in first.items() if "stray" not in k}


def test_scale_multiplies_the_counts(tmp_path, demo):
    double = build_demo(tmp_path / "x2", as_of=AS_OF, scale=2)
    assert double.crm["contacts"] == 2 * demo.crm["contacts"]
    assert double.ticketing["tickets"] == 2 * demo.ticketing["tickets"]
    assert double.photos == 2 * demo.photos


def test_scale_one_has_the_promised_size(demo):
    assert 50 <= demo.crm["companies"] <= 80
    assert 250 <= demo.crm["contacts"] <= 350
    assert 500 <= demo.ticketing["tickets"] <= 700


def test_nothing_is_dated_after_as_of(crm, ticketing):
    for conn, meta in ((crm, s.crm), (ticketing, s.ticketing)):
        for table in meta.sorted_tables:
            for column in table.columns:
                if isinstance(column.type, sa.DateTime):
                    latest = conn.execute(sa.select(sa.func.max(column))).scalar()
                    assert latest is None or latest <= NOW, f"{table.name}.{column.name}"


# --- people ----------------------------------------------------------------------


def test_people_come_from_all_three_locales(crm):
    languages = dict(
        crm.execute(sa.select(s.contacts.c.language, sa.func.count()).group_by("language")).all()
    )
    assert set(languages) == {"fi", "sv", "en"}
    assert min(languages.values()) >= MIN_CASES
    countries = {r for (r,) in crm.execute(sa.select(s.companies.c.country).distinct())}
    assert countries == {"FI", "SE", "GB"}
    phones = [p for (p,) in crm.execute(sa.select(s.contacts.c.phone))]
    assert any(p.startswith("+358") for p in phones) and any(p.startswith("+46") for p in phones)
    names = " ".join(
        f"{a} {b}"
        for a, b in crm.execute(sa.select(s.contacts.c.first_name, s.contacts.c.last_name))
    )
    assert any(ch in names for ch in "äöÄÖ")  # Finnish and Swedish letters survive


def test_emails_are_unique_and_match_between_crm_and_ticketing(crm, ticketing):
    crm_emails = [e for (e,) in crm.execute(sa.select(s.contacts.c.email))]
    assert len(crm_emails) == len(set(crm_emails))
    customers = {
        e
        for (e,) in ticketing.execute(
            sa.select(s.users.c.email).where(s.users.c.role == "customer")
        )
    }
    assert customers and customers <= set(crm_emails)


def test_comments_name_the_requester_in_free_text(ticketing):
    rows = ticketing.execute(
        sa.select(s.comments.c.body, s.users.c.full_name, s.users.c.email)
        .join(s.tickets, s.tickets.c.id == s.comments.c.ticket_id)
        .join(s.users, s.users.c.id == s.tickets.c.requester_id)
        .where(s.comments.c.body.like("Called %"))
    ).all()
    assert len(rows) >= MIN_CASES
    assert all(name in body and email in body for body, name, email in rows)


# --- the mix per rule of deployments/id-north/policy.yaml -------------------------


def withdrawn(purpose: str) -> sa.Select:
    return sa.select(s.consents.c.contact_id).where(
        s.consents.c.purpose == purpose, s.consents.c.status == "withdrawn"
    )


def test_crm_newsletter_unsubscribed(crm, demo):
    subs = s.newsletter_subscriptions
    due = count(crm, subs, subs.c.unsubscribed_at.is_not(None))
    assert_mix(
        due,
        count(crm, subs, subs.c.unsubscribed_at.is_(None)),
        demo.cohorts["subscriptions.unsubscribed"],
    )


def test_crm_newsletter_consent_withdrawn(crm, demo):
    subs = s.newsletter_subscriptions
    of_withdrawn = subs.c.contact_id.in_(withdrawn("direct_marketing"))
    due = count(crm, subs, of_withdrawn)
    assert_mix(
        due, count(crm, subs, ~of_withdrawn), demo.cohorts["subscriptions.of_withdrawn_consent"]
    )
    # Some of them the marketing tool never closed: only this rule finds them.
    assert count(crm, subs, of_withdrawn, subs.c.unsubscribed_at.is_(None)) >= 1


def test_crm_prospect_marketing_withdrawn(crm, demo):
    c = s.contacts
    prospect = c.c.relationship_status == "prospect"
    of_withdrawn = c.c.id.in_(withdrawn("direct_marketing"))
    assert_mix(
        count(crm, c, prospect, of_withdrawn),
        count(crm, c, prospect, ~of_withdrawn),
        demo.cohorts["contacts.prospect_withdrawn"],
    )


def test_crm_invoice_billing_person(crm, demo):
    inv, c = s.invoices, s.contacts
    former = inv.c.contact_id.in_(
        sa.select(c.c.id).where(c.c.relationship_status.in_(["former", "anonymised"]))
    )
    old = inv.c.issued_at < before("P3Y")
    due = count(crm, inv, former, old, inv.c.billing_email.is_not(None))
    assert due >= demo.cohorts["invoices.former_due"] + demo.cohorts["invoices.former_held_invoice"]
    assert count(crm, inv, ~(former & old)) >= MIN_CASES
    assert count(crm, inv, former, ~old) >= 1  # a former contact's recent invoice keeps the name


def contact_holds(crm) -> tuple[set[int], set[int], set[int]]:
    """(due by clock, held by a voucher, held by a contractor report) contact ids."""
    c, inv, rep = s.contacts, s.invoices, s.contractor_reports
    due = set(
        crm.execute(
            sa.select(c.c.id).where(
                c.c.relationship_status == "former", c.c.cooperation_ended_at < before("P3Y")
            )
        ).scalars()
    )
    # The Accounting Act counts 6 years from the end of the financial year
    # (the calendar year here): in November 2026, vouchers of 2020 are still kept.
    voucher_cutoff = date(NOW.year - 6, 12, 31)
    by_voucher = set(
        crm.execute(
            sa.select(inv.c.contact_id).where(inv.c.fiscal_year_end >= voucher_cutoff)
        ).scalars()
    )
    by_report = set(
        crm.execute(
            sa.select(rep.c.contact_id).where(rep.c.work_ended_at > before("P2Y"))
        ).scalars()
    )
    return due, due & by_voucher, due & by_report


def test_crm_contact_after_cooperation_with_holds(crm, demo):
    due, by_voucher, by_report = contact_holds(crm)
    cohorts = demo.cohorts
    assert len(by_voucher) == cohorts["contacts.former_held_invoice"] >= MIN_CASES
    assert len(by_report) == cohorts["contacts.former_held_contractor"] >= 1
    erased = due - by_voucher - by_report
    assert_mix(len(erased), demo.crm["contacts"] - len(due), cohorts["contacts.former_due"])
    # Ended recently: not due yet.
    assert (
        count(
            crm,
            s.contacts,
            s.contacts.c.relationship_status == "former",
            s.contacts.c.cooperation_ended_at >= before("P3Y"),
        )
        == cohorts["contacts.former_recent"]
    )


def test_crm_contractor_reports(crm, demo):
    rep = s.contractor_reports
    due = count(crm, rep, rep.c.work_ended_at < before("P3Y"))
    assert_mix(due, count(crm, rep) - due, demo.cohorts["contractor_reports.ended_over_3y"])
    assert count(crm, rep, rep.c.work_ended_at.is_(None)) >= 1  # ongoing work is never due


def test_crm_web_visits(crm):
    visits = s.web_visits
    due = count(crm, visits, visits.c.visited_at < before("P13M"))
    assert due >= MIN_CASES and count(crm, visits) - due >= MIN_CASES


def test_ticketing_deregistered_users_logins_tickets_and_comments(ticketing, demo):
    u, logins, t, cm = s.users, s.login_accounts, s.tickets, s.comments
    gone = sa.select(u.c.id).where(u.c.status == "deregistered", u.c.deregistered_at.is_not(None))
    cohorts = demo.cohorts
    assert_mix(
        count(ticketing, u, u.c.id.in_(gone)),
        count(ticketing, u, u.c.id.not_in(gone)),
        cohorts["users.deregistered"],
    )
    assert_mix(
        count(ticketing, logins, logins.c.user_id.in_(gone)),
        count(ticketing, logins, logins.c.user_id.not_in(gone)),
        cohorts["users.deregistered"],
    )
    assert_mix(
        count(ticketing, t, t.c.requester_id.in_(gone)),
        count(ticketing, t, t.c.requester_id.not_in(gone)),
        cohorts["tickets.of_deregistered"],
    )
    of_gone = cm.c.ticket_id.in_(sa.select(t.c.id).where(t.c.requester_id.in_(gone)))
    assert_mix(
        count(ticketing, cm, of_gone),
        count(ticketing, cm, ~of_gone),
        cohorts["comments.on_deregistered"],
    )


def test_media_photos_five_years(sidecars, demo):
    cutoff = before("P5Y").replace(tzinfo=HELSINKI)
    old = [
        p for p, meta in sidecars.items() if datetime.fromisoformat(meta["captured_at"]) < cutoff
    ]
    assert_mix(len(old), len(sidecars) - len(old), demo.cohorts["photos.older_than_5y"])


def test_media_photos_of_withdrawn_photography_consent(sidecars, crm, demo):
    gone = {str(i) for i in crm.execute(withdrawn("photography")).scalars()}
    cutoff = before("P5Y").replace(tzinfo=HELSINKI)
    due = [meta for meta in sidecars.values() if gone & set(meta["subjects"])]
    assert_mix(len(due), len(sidecars) - len(due), demo.cohorts["photos.of_withdrawn_consent"])
    # Withdrawal must matter on its own: some of these photos are younger than 5 years.
    assert any(datetime.fromisoformat(m["captured_at"]) >= cutoff for m in due)
    # ...and a marketing withdrawal is a different consent.
    assert gone != {str(i) for i in crm.execute(withdrawn("direct_marketing")).scalars()}


def test_photos_follow_the_sidecar_contract(sidecars, crm, demo):
    contact_ids = {str(i) for i in crm.execute(sa.select(s.contacts.c.id)).scalars()}
    assert len(sidecars) == demo.photos
    for path, meta in sidecars.items():
        assert set(meta) == {"captured_at", "subjects", "consent_ref"}
        captured = datetime.fromisoformat(meta["captured_at"])
        assert captured.tzinfo is not None
        assert path.parent.name == str(captured.year)
        photo = path.with_name(path.name.removesuffix(".json"))
        assert photo.read_bytes()[:2] == b"\xff\xd8" and 100 < photo.stat().st_size < 1000
        assert meta["subjects"] and set(meta["subjects"]) <= contact_ids
        assert all(isinstance(x, str) for x in meta["subjects"]) and meta["consent_ref"]


def test_demo_env_names_the_built_systems_and_a_marked_demo_key(demo):
    env = demo_env(demo.root)
    assert Path(env["RETENTION_MEDIA_PATH"], "photos").is_dir()
    for name in ("RETENTION_CRM_URL", "RETENTION_TICKETING_URL"):
        assert env[name].startswith("sqlite:///")
        assert Path(env[name].removeprefix("sqlite:///")).is_file()
    assert "DEMO-ONLY" in env["RETENTION_HASH_KEY"]
