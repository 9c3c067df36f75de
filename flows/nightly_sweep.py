"""The retention sweep as a Prefect flow: the same run as `retention sweep`
(tasks.sweep.run_sweep), with each rule's plan and apply as tasks, the plan
and summary as artifacts, and the operator's approval as a pause with a form.

A run that left due records unchanged (refused, or rules waiting) ends
Completed but named "Incomplete" or "Refused", with the reason as its
message; a run with failures ends Failed."""

from __future__ import annotations

import uuid
from datetime import datetime

from prefect import flow, get_run_logger
from prefect.runtime import deployment, flow_run
from prefect.states import Completed, State

from flows.approval import ask_operator
from retention.pipeline.outcome import RunSummary, render_table
from retention.pipeline.plan import RulePlan
from retention.pipeline.run import Answer
from tasks import log_bridge
from tasks.publish import publish_plan, publish_summary
from tasks.steps import prefect_steps
from tasks.sweep import run_sweep

DEFAULT_POLICY = "deployments/id-north/policy.yaml"


class SweepFailed(RuntimeError):
    """Some records could not be changed; the summary says which rules."""

    def __init__(self, summary: RunSummary) -> None:
        self.summary = summary
        super().__init__(
            f"{summary.reason() or 'some records could not be changed'}\n" + render_table(summary)
        )


@flow(name="retention-sweep")
def retention_sweep(
    policy: str = DEFAULT_POLICY,
    dry_run: bool = False,
    rules: list[str] | None = None,
    as_of: datetime | None = None,
    approved_by: str | None = None,
    ask_approval: bool = True,
    approval_timeout_s: int = 3600,
    lease_wait_s: float = 900.0,
) -> RunSummary | State[RunSummary]:
    """Find records past retention or whose consent was withdrawn and delete or
    anonymise them, with evidence. Plans over their limits wait for an
    operator (ask_approval), or run if `approved_by` names who approved."""
    log_bridge.install()

    def ask(waiting: dict[str, str], plans: list[RulePlan]) -> Answer:
        return ask_operator(waiting, plans, approval_timeout_s)

    summary = run_sweep(
        policy,
        dry_run=dry_run,
        rules=rules,
        as_of=as_of,
        approved_by=approved_by,
        run_id=str(flow_run.id or uuid.uuid4()),
        trigger=_trigger(),
        lease_wait_s=lease_wait_s,
        steps=prefect_steps(ask if ask_approval else None, publish_plan, publish_summary),
    )
    get_run_logger().info("totals: %s", summary.totals())
    if not summary.ok:
        raise SweepFailed(summary)
    if not dry_run and summary.status != "completed":
        return Completed(
            name=summary.status.capitalize(), message=summary.reason(), data=summary
        )
    return summary


def _trigger() -> str:
    deployment_name = deployment.name
    return f"deployment:{deployment_name}" if deployment_name else "manual"
