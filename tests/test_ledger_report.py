"""The report, built from entries read back from the database alone."""

from __future__ import annotations

import json

from retention.ledger import build_report
from tests import test_ledger_helpers
from tests.test_ledger_helpers import POLICY_HASH, RUN, assert_no_personal_data, open_ledger, seed

ledger_url = test_ledger_helpers.ledger_url


def _report_from_a_fresh_connection(url: str):
    with open_ledger(url) as ledger:
        seed(ledger)
        ledger.record_intent(
            run_id=RUN, policy_hash=POLICY_HASH, rule_id="media-five-years", system="media",
            dataset="photos", action="delete", keys=["photos/x.jpg"],
        )  # fmt: skip
    with open_ledger(url) as reopened:  # nothing of the run's memory survives
        return build_report(reopened.entries())


def test_report_per_system_and_rule(ledger_url: str) -> None:
    report = _report_from_a_fresh_connection(ledger_url)
    rules = {(r.system, r.dataset, r.rule_id): r for r in report.rules}
    assert set(rules) == {
        ("crm", "contacts", "crm-contact-erasure"),
        ("crm", "invoices", "crm-contact-erasure"),
        ("crm", "subscribers", "marketing-unsubscribed"),
        ("media", "photos", "media-five-years"),
    }
    contacts = rules[("crm", "contacts", "crm-contact-erasure")]
    assert (contacts.deleted, contacts.anonymised, contacts.cascaded) == (2, 0, {"tickets": 2})
    assert contacts.approved_by == ["dpo-reviewer"]
    subscribers = rules[("crm", "subscribers", "marketing-unsubscribed")]
    assert (subscribers.deleted, subscribers.anonymised) == (0, 1)
    assert subscribers.failed == {"IntegrityError": 1}
    invoices = rules[("crm", "invoices", "crm-contact-erasure")]
    assert [(k.hold_id, k.until, k.count) for k in invoices.kept] == [
        ("accounting-act-vouchers", "2031-12-31T00:00:00+00:00", 2)
    ]
    photos = rules[("media", "photos", "media-five-years")]
    assert photos.deleted == 1 and photos.unfinished == 1
    assert [(k.hold_id, k.until) for k in photos.kept] == [
        ("object-lock", "2027-03-01T00:00:00+00:00")
    ]
    [run] = report.runs
    assert (run.run_id, run.policy_name, run.trigger, run.dry_run) == (
        RUN, "id-north", "erasure-request", False,
    )  # fmt: skip
    assert run.summary["deleted"] == 3 and run.ended is not None


def test_report_renders_as_json_and_markdown(ledger_url: str) -> None:
    report = _report_from_a_fresh_connection(ledger_url)
    data = json.loads(report.to_json())
    assert data["entries"] == 10
    assert {r["rule_id"] for r in data["rules"]} >= {"crm-contact-erasure", "media-five-years"}
    markdown = report.to_markdown()
    assert "| crm | invoices | crm-contact-erasure | 0 | 0 | - | - | 2 under " in markdown
    assert "accounting-act-vouchers until 2031-12-31" in markdown
    assert (
        "| crm | subscribers | marketing-unsubscribed | 0 | 1 | - | - | - | 1 IntegrityError | 0 |"
        in (markdown)
    )
    assert_no_personal_data(report.to_json().encode() + markdown.encode(), "the report")


def test_report_of_no_entries_is_empty_not_an_error() -> None:
    report = build_report([])
    assert report.rules == [] and report.runs == []
    assert "Built from 0 ledger entries" in report.to_markdown()
