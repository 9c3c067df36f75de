"""The nightly sweep end to end on the demo systems, checked with our own SQL
and file listings: what was due is gone (or anonymised), the rest untouched,
a dry run changes nothing, and a second run finds nothing to do."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest

from retention.demo.build import build_demo, demo_env
from tests.snapshots import database_snapshot, folder_listing, photo_facts, query, table_rows

pytestmark = pytest.mark.prefect

POLICY = str(Path(__file__).parent.parent / "deployments/id-north/policy.yaml")
AS_OF = datetime(2026, 11, 1, 3, 0, tzinfo=UTC)
NAIVE_NOW = AS_OF.replace(tzinfo=None)


@pytest.fixture
def demo(tmp_path, monkeypatch, prefect_harness):
    root = tmp_path / "demo"
    build_demo(root, scale=1, as_of=AS_OF)
    env = demo_env(root)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("RETENTION_LEDGER_URL", f"sqlite:///{tmp_path / 'ledger.db'}")
    return root, env


def sweep(**kwargs):
    from flows.nightly_sweep import retention_sweep

    return retention_sweep(policy=POLICY, as_of=AS_OF, ask_approval=False, **kwargs)


def snapshot(root: Path, env: dict[str, str]) -> dict:
    return {
        "crm": database_snapshot(env["RETENTION_CRM_URL"]),
        "ticketing": database_snapshot(env["RETENTION_TICKETING_URL"]),
        "media": folder_listing(root / "media"),
    }


def test_dry_run_changes_nothing_and_plans_every_rule(demo):
    root, env = demo
    before = snapshot(root, env)
    summary = sweep(dry_run=True)
    assert snapshot(root, env) == before
    planned = {o.rule_id: o for o in summary.outcomes}
    assert all(o.status == "dry-run" for o in planned.values())
    # The demo holds due records for these rules (numbers from the generator).
    assert planned["crm-web-visits"].due > 0
    assert planned["media-photos-five-years"].due > 0
    assert planned["crm-contact-after-cooperation"].held > 0
    # The operator sees the same plan in the UI, with what needs approval.
    table = {row["rule"]: row for row in plan_artifact(summary.run_id)}
    assert table["crm-web-visits"]["due"] == planned["crm-web-visits"].due
    assert "max_share" in table["crm-web-visits"]["needs_approval"]
    assert table["crm-contractor-reports"]["needs_approval"] == ""


def plan_artifact(run_id: str) -> Any:
    import json

    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        ArtifactFilter,
        ArtifactFilterFlowRunId,
        ArtifactFilterKey,
    )

    with get_client(sync_client=True) as client:
        (artifact,) = client.read_artifacts(
            artifact_filter=ArtifactFilter(
                key=ArtifactFilterKey(any_=["retention-plan"]),
                flow_run_id=ArtifactFilterFlowRunId(any_=[UUID(run_id)]),
            )
        )
    data = artifact.data
    return json.loads(data) if isinstance(data, str) else data


def test_without_approval_over_limit_rules_are_not_applied(demo):
    root, env = demo
    visits_before = table_rows(env["RETENTION_CRM_URL"], "web_visits")
    summary = sweep(rules=["crm-web-visits"])  # over max_share, nobody approved
    outcome = summary.outcomes[0]
    assert outcome.status == "not-approved" and outcome.deleted == 0
    assert table_rows(env["RETENTION_CRM_URL"], "web_visits") == visits_before


def test_sweep_removes_exactly_what_is_due(demo):
    root, env = demo
    crm, tickets = env["RETENTION_CRM_URL"], env["RETENTION_TICKETING_URL"]
    before = snapshot(root, env)
    facts_before = photo_facts(root / "media")
    users_before = table_rows(tickets, "users")

    summary = sweep(approved_by="test-operator")
    assert summary.ok, summary.outcomes

    after = snapshot(root, env)
    # Cut-offs written out by hand, not with the code under test.
    three_years = NAIVE_NOW.replace(year=NAIVE_NOW.year - 3)
    visits_cutoff = NAIVE_NOW.replace(year=NAIVE_NOW.year - 1, month=NAIVE_NOW.month - 1)

    # Web visits: none older than 13 months remains; every younger one is untouched.
    for visit_id, row in before["crm"]["web_visits"].items():
        if row["visited_at"] < visits_cutoff:
            assert visit_id not in after["crm"]["web_visits"]
        else:
            assert after["crm"]["web_visits"][visit_id] == row

    # Former contacts past 3 years: deleted, or (held by a law) anonymised with
    # their non-personal columns kept.
    held = 0
    for contact_id, row in before["crm"]["contacts"].items():
        due = row["relationship_status"] == "former" and row["cooperation_ended_at"] < three_years
        now_row = after["crm"]["contacts"].get(contact_id)
        if due and now_row is not None:
            held += 1
            assert now_row["email"] is None and now_row["phone"] is None
            assert now_row["relationship_status"] == "anonymised"
            for kept in ("company_id", "cooperation_ended_at", "language"):
                assert now_row[kept] == row[kept]
        elif not due and row["relationship_status"] != "prospect":
            assert now_row == row
    assert held > 0
    orphans = query(
        crm, "SELECT count(*) AS n FROM consents WHERE contact_id NOT IN (SELECT id FROM contacts)"
    )
    assert orphans[0]["n"] == 0

    # Marketing: no ended subscription, none of a withdrawn contact, no orphan reactions.
    ended = "SELECT id FROM newsletter_subscriptions WHERE unsubscribed_at IS NOT NULL"
    assert query(crm, ended) == []
    assert (
        query(
            crm,
            "SELECT s.id FROM newsletter_subscriptions s "
            "JOIN consents c ON c.contact_id = s.contact_id "
            "WHERE c.purpose = 'direct_marketing' AND c.status = 'withdrawn'",
        )
        == []
    )
    assert (
        query(
            crm,
            "SELECT id FROM newsletter_reactions WHERE subscription_id NOT IN "
            "(SELECT id FROM newsletter_subscriptions)",
        )
        == []
    )

    # Ticketing: deregistered users lose logins and their names everywhere.
    deregistered = {uid: u for uid, u in users_before.items() if u["status"] == "deregistered"}
    assert deregistered
    logins = table_rows(tickets, "login_accounts")
    assert not [r for r in logins.values() if r["user_id"] in deregistered]
    for uid, user in deregistered.items():
        now_user = after["ticketing"]["users"][uid]
        assert now_user["full_name"] != user["full_name"] and now_user["role"] == user["role"]
    for ticket in after["ticketing"]["tickets"].values():
        if ticket["requester_id"] not in deregistered:
            continue
        user = deregistered[ticket["requester_id"]]
        for text in (ticket["subject"], ticket["body"]):
            assert user["full_name"].lower() not in (text or "").lower()
            assert user["email"].lower() not in (text or "").lower()

    # Media: nothing older than 5 years, nothing showing a withdrawn subject.
    withdrawn = {
        str(r["contact_id"])
        for r in query(
            crm,
            "SELECT contact_id FROM consents WHERE purpose = 'photography' "
            "AND status = 'withdrawn'",
        )
    }
    five_years = AS_OF.replace(year=AS_OF.year - 5)
    for name, facts in facts_before.items():
        captured = datetime.fromisoformat(facts["captured_at"])
        due = captured < five_years or bool(set(facts["subjects"]) & withdrawn)
        assert (name in after["media"]) is not due, name
        if not due:
            assert after["media"][name] == before["media"][name]


def test_second_run_finds_nothing_due(demo):
    sweep(approved_by="test-operator")
    again = sweep(approved_by="test-operator")
    busy = {o.rule_id: (o.due, o.deleted, o.anonymised) for o in again.outcomes if o.due}
    assert busy == {}


def test_an_erased_persons_email_finds_when_and_where_with_the_key(demo, capsys):
    from flows.cli import main

    root, env = demo
    crm = env["RETENTION_CRM_URL"]
    cutoff = NAIVE_NOW.replace(year=NAIVE_NOW.year - 3)
    former = [
        r
        for r in table_rows(crm, "contacts").values()
        if r["relationship_status"] == "former" and r["cooperation_ended_at"] < cutoff
    ]
    active = next(
        r for r in table_rows(crm, "contacts").values() if r["relationship_status"] == "customer"
    )
    sweep(approved_by="test-operator")
    erased = next(r for r in former if r["id"] not in table_rows(crm, "contacts"))

    assert main(["lookup", "--policy", POLICY, "--email", erased["email"].upper()]) == 0
    out = capsys.readouterr().out
    assert "crm.contacts" in out and "crm-contact-after-cooperation" in out
    assert "intent" in out and "completion" in out and "delete" in out

    assert main(["lookup", "--policy", POLICY, "--email", active["email"]]) == 0
    assert "no ledger entry names this person" in capsys.readouterr().out
