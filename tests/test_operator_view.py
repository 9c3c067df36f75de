"""What an operator reads, without a server: the approval form's text, the
artifact tables (narrow enough for a 1,400 px window, times in the policy's
zone), the demo's environment as exports and the ledger every command finds,
and the key ranges a big rule is split into."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from connectors.base import Held
from flows.approval import describe
from flows.cli import main
from retention.ledger.report import KeptLine, Report, RuleLine, RunLine
from retention.pipeline.outcome import RuleOutcome, RunSummary
from retention.pipeline.plan import RulePlan
from retention.policy_loader import load_policy
from retention.runtime import ledger_url
from retention.timezone import set_policy_zone
from tasks.artifact_tables import (
    PLAN_KEY,
    UI_WIDTH_PX,
    localised,
    plan_limit_rows,
    plan_rows,
    reason_rows,
    summary_rows,
    width_px,
)
from tasks.parallel import merge, split

ROOT = Path(__file__).parent.parent
POLICY = load_policy(ROOT / "deployments/id-north/policy.yaml", resolve=lambda ref: "x" * 32)


def plans() -> list[RulePlan]:
    """One plan per rule of the real policy (the longest names there are)."""
    out = []
    for rule in POLICY.policy.rules:
        system, _, dataset = rule.dataset.partition(".")
        plan = RulePlan(rule.id, system, dataset, rule.action.kind, dataset_rows=123_456)
        plan.due = list(range(98_765))
        out.append(plan)
    return out


def waiting(all_plans: list[RulePlan]) -> dict[str, str]:
    return {
        p.rule_id: f"98765 records to change exceed max_count 1000; 80% of {p.qualified} "
        "exceeds max_share 25%"
        for p in all_plans
    }


def test_the_form_says_what_is_at_stake_until_when_and_where_the_plan_is() -> None:
    set_policy_zone("Europe/Helsinki")
    contacts = RulePlan("crm-contact-after-cooperation", "crm", "contacts", "delete")
    contacts.due, contacts.dataset_rows = list(range(30)), 300
    photos = RulePlan("media-photos-five-years", "media", "photos", "delete", dataset_rows=80)
    photos.due = list(range(37))
    within = RulePlan("crm-newsletter-unsubscribed", "crm", "newsletter_subscriptions", "delete")
    reasons = {
        contacts.rule_id: "10% of crm.contacts exceeds max_share 5%",
        photos.rule_id: "46% of media.photos exceeds max_share 25%",
    }
    text = describe(
        reasons, [contacts, photos, within], datetime(2026, 7, 1, 5, 0, tzinfo=UTC), POLICY.policy
    )
    assert "**delete 30 records** (10.0% of 300 rows)" in text
    assert "consents (deleted)" in text and "invoices (unlinked)" in text  # the cascade
    assert "each object goes with all its versions" in text
    assert "10% of crm.contacts exceeds max_share 5%" in text
    assert within.rule_id not in text
    assert "2026-07-01 08:00 EEST" in text and PLAN_KEY in text  # the policy's zone


def test_every_artifact_table_fits_a_1400_px_window() -> None:
    all_plans = plans()
    reasons = waiting(all_plans)
    summary = RunSummary("0" * 36, "id-north-register", "a" * 64, False)
    for plan in all_plans:
        outcome = RuleOutcome(plan.rule_id, plan.qualified, plan.action, due=98_765)
        outcome.deleted = outcome.anonymised = outcome.cascaded = 98_765
        outcome.status, outcome.note = "not-approved", reasons[plan.rule_id][:60]
        outcome.approved_by = "Firstname Lastname-Longername"
        summary.outcomes.append(outcome)
    tables = {
        "plan": plan_rows(all_plans, reasons),
        "plan-limits": plan_limit_rows(all_plans, reasons),
        "summary": summary_rows(summary),
        "reasons": reason_rows(summary),
    }
    for name, rows in tables.items():
        assert width_px(rows) <= UI_WIDTH_PX, (name, width_px(rows))
    # The split kept every column the single table had (dataset and action: the plan's).
    kept = set(tables["summary"][0]) | set(tables["reasons"][0]) | {"action", "dataset"}
    assert kept >= set(summary.outcomes[0].as_row())
    assert {"action", "dataset"} <= set(tables["plan"][0])
    assert tables["plan"][0]["needs_approval"] == "max_count, max_share"


def test_the_report_shows_hold_end_dates_and_times_in_the_policys_zone() -> None:
    set_policy_zone("Europe/Helsinki")
    rule = RuleLine("crm", "contacts", "r")
    rule.kept = [KeptLine("accounting-vouchers", "2028-12-31T22:00:00+00:00", 9)]
    run = RunLine("run", "h", "p", "t", False, "2026-11-01T01:00:00+00:00", None)
    report = localised(Report(entries=1, runs=[run], rules=[rule]))
    assert report.rules[0].kept[0].until == "2029-01-01"
    assert report.runs[0].started == "2026-11-01 03:00:00 EET"
    assert rule.kept[0].until == "2028-12-31T22:00:00+00:00"  # the original is untouched


def test_demo_env_exports_one_ledger_that_every_command_finds_from_anywhere(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    policy = tmp_path / "project" / "policy.yaml"
    policy.parent.mkdir()
    policy.write_text((ROOT / "deployments/id-north/policy.yaml").read_text())
    for name in ("RETENTION_LEDGER_URL", "RETENTION_HOME"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("RETENTION_POLICY", str(policy))
    monkeypatch.chdir(tmp_path)
    assert main(["demo", "--env", "--root", str(tmp_path / "demo")]) == 0
    exports = capsys.readouterr().out
    shown = subprocess.run(
        ["bash", "-c", f"{exports}\nenv"], capture_output=True, text=True, check=True
    ).stdout
    env = dict(line.split("=", 1) for line in shown.splitlines() if line.startswith("RETENTION_"))
    expected = f"sqlite:///{policy.parent / '.retention/ledger.db'}"
    assert env["RETENTION_LEDGER_URL"] == expected
    assert env["RETENTION_CRM_URL"] == f"sqlite:///{tmp_path / 'demo/crm.db'}"
    assert env["RETENTION_HOME"] == str(ROOT) and env["RETENTION_POLICY"] == str(policy)
    # Without the exports, from any folder, the default is the same file.
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    assert ledger_url(policy) == expected
    assert ledger_url() == expected  # RETENTION_POLICY names it
    monkeypatch.setenv("RETENTION_HOME", str(tmp_path / "home"))
    assert ledger_url(policy) == f"sqlite:///{tmp_path / 'home/.retention/ledger.db'}"
    assert shlex.split(exports.splitlines()[0])[0] == "export"


def test_key_ranges_are_disjoint_cover_the_plan_and_keep_held_records_once() -> None:
    plan = RulePlan("r", "crm", "contacts", "delete", due=list(range(1, 2_351)), undated=4)
    plan.held = [Held(key=0, hold_id="h", until=None)]
    parts = split(plan, 2, 500)
    assert [len(p.due) for p in parts] == [1_500, 850]  # on batch boundaries
    assert sorted(k for p in parts for k in p.due) == plan.due
    assert [len(p.held) for p in parts] == [1, 0] and [p.undated for p in parts] == [4, 0]
    assert len(split(plan, 8, 5_000)) == 1  # one batch: nothing to split
    outcomes = []
    for part in parts:
        outcome = RuleOutcome("r", "crm.contacts", "delete", due=len(part.due), status="done")
        outcome.deleted, outcome.held, outcome.undated = len(part.due), len(part.held), part.undated
        outcomes.append(outcome)
    total = merge(plan, outcomes)
    assert (total.due, total.deleted, total.held, total.undated) == (2_350, 2_350, 1, 4)
    assert total.status == "done"


def test_make_serve_refuses_a_port_in_use(tmp_path: Path) -> None:
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        done = subprocess.run(
            [sys.executable, str(ROOT / "deployments/local.py"), "--port", str(port)],
            capture_output=True,
            text=True,
            env={**os.environ, "PREFECT_HOME": str(tmp_path / "prefect")},
            timeout=120,
        )
    assert done.returncode == 1 and f"port {port} is in use" in done.stdout
