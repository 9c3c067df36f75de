"""The access report as a person reads it, from synthetic records on the
demo policy (no database): stored text is shown, never run as HTML; a
clock that has no date yet says so instead of inventing one; a category
whose purpose the policy does not state says that."""

from __future__ import annotations

from datetime import UTC, date, datetime

from retention.access.bundle import build_bundle
from retention.access.render import to_html, to_markdown
from retention.policy_loader import load_policy
from tests.demo_world import POLICY, policy_with

NOW = datetime(2026, 11, 1, tzinfo=UTC)


def loaded(path=POLICY):  # type: ignore[no-untyped-def]
    return load_policy(path, resolve=lambda ref: "not-a-real-secret-value")


def test_stored_text_is_shown_not_run() -> None:
    policy = loaded().policy
    body = "<script>alert('x')</script> **not bold**"
    records = {"ticketing.tickets": {7: {"id": 7, "subject": body, "created_at": None}}}
    bundle = build_bundle(policy, "0" * 64, "ACC-1", records, ["ticketing"], NOW)

    page = to_html(bundle)
    assert "<script>" not in page and "&lt;script&gt;" in page
    assert "`<script>alert('x')</script> **not bold**`" in to_markdown(bundle)


def test_a_clock_without_a_date_is_not_yet_due_and_a_dated_one_is() -> None:
    policy = loaded().policy
    current = {"id": 1, "relationship_status": "customer", "cooperation_ended_at": None}
    former = {
        "id": 2,
        "relationship_status": "former",
        "cooperation_ended_at": datetime(2024, 2, 29, 12, 0),
    }
    records = {"crm.contacts": {1: current, 2: former}}
    bundle = build_bundle(policy, "0" * 64, "ACC-2", records, ["crm"], NOW)

    [category] = bundle.categories
    dates = {r.key: r.dates for r in category.records}
    [open_ended] = [d for d in dates["1"] if d.rule_or_hold == "crm-contact-after-cooperation"]
    assert open_ended.date is None and "cooperation_ended_at is empty" in open_ended.note
    [dated] = [d for d in dates["2"] if d.rule_or_hold == "crm-contact-after-cooperation"]
    # Three years after 29 February is the last day of February, in the policy's zone.
    assert dated.date == "2027-02-28T12:00:00+02:00"
    # The rule also asks `relationship_status is former`: the date is said to depend on it.
    assert dated.note == "if the rule's condition holds then"


def test_a_category_without_purpose_says_so(tmp_path) -> None:
    def drop(data: dict) -> None:
        del data["systems"]["crm"]["datasets"]["invoices"]["purpose"]

    policy = loaded(policy_with(tmp_path, drop)).policy
    row = {"id": 1, "fiscal_year_end": date(2023, 12, 31), "issued_at": datetime(2023, 5, 3)}
    bundle = build_bundle(policy, "0" * 64, "ACC-3", {"crm.invoices": {1: row}}, ["crm"], NOW)

    assert "**Purpose:** not stated in the policy" in to_markdown(bundle)
    [kept] = [d for d in bundle.categories[0].records[0].dates if d.kind == "kept until"]
    assert kept.date == "2030-01-01T00:00:00+02:00"
