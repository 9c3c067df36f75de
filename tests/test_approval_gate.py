"""The approval gate end to end: a sweep whose plan is over its limits pauses
in Prefect, an operator answers through the API the UI uses, and the
database and the ledger show what the answer allowed.

The flow runs in a thread (as a worker would run it); the test plays the
operator from the main thread, as the UI's Resume dialog does.
"""

from __future__ import annotations

import contextvars
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterName
from prefect.client.schemas.objects import StateType
from prefect.flow_runs import resume_flow_run

from retention.demo.build import build_demo, demo_env
from retention.pipeline.outcome import RunSummary
from tests.snapshots import query, table_rows

pytestmark = pytest.mark.prefect

POLICY = str(Path(__file__).parent.parent / "deployments/id-north/policy.yaml")
AS_OF = datetime(2026, 11, 1, 3, 0, tzinfo=UTC)
NAIVE_NOW = AS_OF.replace(tzinfo=None)
# In the demo, 235 of 400 web visits are older than 13 months: over max_share 25%.
OVER = "crm-web-visits"
# 36 of 191 newsletter subscriptions have ended: within the limits (and the
# rule follows no other rule, so it runs alone).
WITHIN = "crm-newsletter-unsubscribed"
VISITS_CUTOFF = datetime(2025, 10, 1, 3, 0)  # AS_OF minus P13M, by hand


@pytest.fixture
def demo(tmp_path, monkeypatch, prefect_harness) -> dict[str, str]:
    root = tmp_path / "demo"
    build_demo(root, scale=1, as_of=AS_OF)
    for name, value in demo_env(root).items():
        monkeypatch.setenv(name, value)
    ledger = tmp_path / "ledger.db"
    monkeypatch.setenv("RETENTION_LEDGER_URL", f"sqlite:///{ledger}")
    # The paused flow checks for an answer every second, not every ten.
    monkeypatch.setenv("RETENTION_APPROVAL_POLL_S", "1")
    return {"crm": demo_env(root)["RETENTION_CRM_URL"], "ledger": f"sqlite:///{ledger}"}


class SweepInThread:
    """retention_sweep running in its own thread under a unique run name, so
    the operator's side can find exactly this run among the session's."""

    def __init__(self, approval_timeout_s: int) -> None:
        self.run_name = f"approval-gate-{uuid.uuid4().hex[:12]}"
        self.timeout_s = approval_timeout_s
        self.outcome: RunSummary | BaseException | None = None
        # The harness's API address lives in a context variable: carry it over.
        context = contextvars.copy_context()
        self.thread = threading.Thread(target=context.run, args=(self._run,), daemon=True)
        self.thread.start()

    def _run(self) -> None:
        from flows.nightly_sweep import retention_sweep

        try:
            self.outcome = retention_sweep.with_options(flow_run_name=self.run_name)(
                policy=POLICY,
                as_of=AS_OF,
                rules=[OVER, WITHIN],
                ask_approval=True,
                approval_timeout_s=self.timeout_s,
            )
        except BaseException as exc:  # handed to the test thread, which re-raises it
            self.outcome = exc

    def wait_until_paused(self, within_s: float = 60) -> uuid.UUID:
        deadline = time.monotonic() + within_s
        with get_client(sync_client=True) as client:
            while time.monotonic() < deadline:
                runs = client.read_flow_runs(
                    flow_run_filter=FlowRunFilter(name=FlowRunFilterName(any_=[self.run_name]))
                )
                if runs and runs[0].state is not None and runs[0].state.type == StateType.PAUSED:
                    return runs[0].id
                assert self.thread.is_alive(), f"the flow ended without pausing: {self.outcome!r}"
                time.sleep(0.2)
        pytest.fail(f"flow run {self.run_name} did not pause within {within_s} s")

    def result(self, within_s: float = 60) -> RunSummary:
        self.thread.join(within_s)
        assert not self.thread.is_alive(), f"the flow did not finish within {within_s} s"
        if isinstance(self.outcome, BaseException):
            raise self.outcome
        assert isinstance(self.outcome, RunSummary)
        return self.outcome


def split_by_cutoff(rows: dict[Any, dict[str, Any]], clock: str, cutoff: datetime) -> set[Any]:
    # As in SQL, a record without its clock is never due.
    return {key for key, row in rows.items() if row[clock] is not None and row[clock] < cutoff}


def ended(subscriptions: dict[Any, dict[str, Any]]) -> set[Any]:
    return {key for key, row in subscriptions.items() if row["unsubscribed_at"] is not None}


def ledger_entries(ledger_url: str, run_id: str, kind: str) -> list[dict[str, Any]]:
    return query(
        ledger_url,
        "SELECT outcome, approved_by, detail FROM ledger_entries "
        "WHERE run_id = :run AND kind = :kind ORDER BY seq",
        run=run_id,
        kind=kind,
    )


def intents(ledger_url: str, run_id: str) -> list[dict[str, Any]]:
    return query(
        ledger_url,
        "SELECT rule_id, approved_by, count FROM ledger_entries "
        "WHERE run_id = :run AND kind = 'intent'",
        run=run_id,
    )


def test_an_operator_approval_applies_the_plan_and_names_the_reviewer(demo) -> None:
    visits = table_rows(demo["crm"], "web_visits")
    subscriptions = table_rows(demo["crm"], "newsletter_subscriptions")
    due_visits = split_by_cutoff(visits, "visited_at", VISITS_CUTOFF)
    assert len(due_visits) / len(visits) > 0.25 and ended(subscriptions)

    sweep = SweepInThread(approval_timeout_s=60)
    run_id = sweep.wait_until_paused()
    # Nothing is changed while the run waits for the operator.
    assert table_rows(demo["crm"], "web_visits") == visits
    resume_flow_run(
        run_id,
        run_input={"approved": True, "reviewer": "Operator Name", "comment": "checked the plan"},
    )
    summary = sweep.result()
    assert summary.status == "completed"

    outcomes = {o.rule_id: o for o in summary.outcomes}
    assert outcomes[OVER].status == "done" and outcomes[OVER].deleted == len(due_visits)
    after = table_rows(demo["crm"], "web_visits")
    assert set(after) == set(visits) - due_visits
    assert all(after[key] == visits[key] for key in after)
    after_subs = table_rows(demo["crm"], "newsletter_subscriptions")
    assert set(after_subs) == set(subscriptions) - ended(subscriptions)

    [decision] = ledger_entries(demo["ledger"], str(run_id), "decision")
    assert (decision["outcome"], decision["approved_by"]) == ("approved", "Operator Name")
    assert '"comment":"checked the plan"' in decision["detail"] and OVER in decision["detail"]
    [end] = ledger_entries(demo["ledger"], str(run_id), "run-end")
    assert end["outcome"] == "completed"
    entries = intents(demo["ledger"], str(run_id))
    over = [e for e in entries if e["rule_id"] == OVER]
    assert sum(e["count"] for e in over) == len(due_visits)
    assert {e["approved_by"] for e in over} == {"Operator Name"}
    # The approval covers the rules that needed it; no other rule claims it.
    assert {e["approved_by"] for e in entries if e["rule_id"] == WITHIN} == {None}


def test_an_approval_without_a_reviewer_name_applies_only_rules_within_limits(demo) -> None:
    visits = table_rows(demo["crm"], "web_visits")
    subscriptions = table_rows(demo["crm"], "newsletter_subscriptions")

    sweep = SweepInThread(approval_timeout_s=60)
    run_id = sweep.wait_until_paused()
    # The form requires a reviewer: the server refuses an answer without one...
    with pytest.raises(RuntimeError, match="'reviewer' is a required property"):
        resume_flow_run(run_id, run_input={"approved": True})
    # ...and a blank name is no name.
    resume_flow_run(run_id, run_input={"approved": True, "reviewer": "   "})
    summary = sweep.result()

    outcomes = {o.rule_id: o for o in summary.outcomes}
    assert outcomes[OVER].status == "not-approved" and outcomes[OVER].deleted == 0
    assert table_rows(demo["crm"], "web_visits") == visits
    assert outcomes[WITHIN].status == "done"
    after_subs = table_rows(demo["crm"], "newsletter_subscriptions")
    assert set(after_subs) == set(subscriptions) - ended(subscriptions)
    assert [e["rule_id"] for e in intents(demo["ledger"], str(run_id))] == [WITHIN]
    # A refusal is evidence too, and the run does not end as a clean success.
    [decision] = ledger_entries(demo["ledger"], str(run_id), "decision")
    assert decision["outcome"] == "refused" and decision["approved_by"] is None
    assert summary.status == "refused"
    [end] = ledger_entries(demo["ledger"], str(run_id), "run-end")
    assert end["outcome"] == "refused" and OVER in end["detail"]


def test_an_unanswered_approval_times_out_and_changes_nothing_over_limits(demo) -> None:
    visits = table_rows(demo["crm"], "web_visits")

    sweep = SweepInThread(approval_timeout_s=3)
    run_id = sweep.wait_until_paused()  # it did ask; nobody answers
    summary = sweep.result()

    outcomes = {o.rule_id: o for o in summary.outcomes}
    assert outcomes[OVER].status == "not-approved" and outcomes[OVER].deleted == 0
    assert table_rows(demo["crm"], "web_visits") == visits
    assert outcomes[WITHIN].status == "done"
    assert OVER not in {e["rule_id"] for e in intents(demo["ledger"], str(run_id))}
    [decision] = ledger_entries(demo["ledger"], str(run_id), "decision")
    assert decision["outcome"] == "timed-out"
    with get_client(sync_client=True) as client:
        state = client.read_flow_run(run_id).state
    assert state is not None and state.name == "Refused" and OVER in (state.message or "")
