"""The retention sweep as a Prefect flow: the same run as `retention sweep`
(tasks.sweep.run_sweep), with each rule's plan and apply as tasks, the plan
and summary as artifacts, and the operator's approval as a pause with a form.

A run that left due records unchanged (refused, or rules waiting) ends
Completed but named "Incomplete" or "Refused", with the reason as its
message; a run with failures ends Failed."""

from __future__ import annotations

import os
import uuid
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any, cast

from prefect import flow, get_run_logger
from prefect.runtime import deployment, flow_run
from prefect.states import Completed

from flows.approval import ask_operator
from retention.pipeline.outcome import RunSummary, render_table
from retention.pipeline.plan import RulePlan
from retention.pipeline.run import Answer
from retention.policy_loader import load_policy
from tasks import log_bridge
from tasks.coverage_step import coverage_check
from tasks.parallel import ScaleOut, ranged_apply
from tasks.publish import publish_plan, publish_summary
from tasks.secrets import resolve_secret
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
    parallel_ranges: int = 1,
    dask_address: str | None = None,
) -> RunSummary:
    """Find records past retention or whose consent was withdrawn and delete or
    anonymise them, with evidence. Plans over their limits wait for an
    operator (ask_approval), or run if `approved_by` names who approved.

    Args:
        policy: The policy file, relative to the project folder (RETENTION_HOME)
            or absolute.
        dry_run: Plan and report only; change nothing (the plan is the run's
            retention-plan artifact).
        rules: Only these rule ids (empty: every rule, in the policy's order).
        as_of: Evaluate retention periods at this moment instead of now.
        approved_by: Approve plans over their limits in advance, as this
            reviewer (recorded in the ledger). Leave empty to be asked.
        ask_approval: Pause for an operator's approval in the UI when a plan
            is over its limits; off: such rules are skipped.
        approval_timeout_s: How long a paused run waits for an answer before
            it skips the over-limit rules.
        lease_wait_s: How long to wait when another run is applying.
        parallel_ranges: Split a rule bigger than one batch into at most this
            many key ranges applied in parallel (1: one after another).
        dask_address: Run the key ranges on this Dask cluster (tcp://host:8786;
            default RETENTION_DASK_ADDRESS); without one, on this worker's
            threads.
    """
    log_bridge.install()
    loaded = load_policy(policy, resolve=resolve_secret, only_systems=set())

    def ask(waiting: dict[str, str], plans: list[RulePlan]) -> Answer:
        return ask_operator(waiting, plans, approval_timeout_s, loaded.policy)

    coverage_check(policy)  # first, and a warning only: findings go to an artifact
    steps = prefect_steps(ask if ask_approval else None, publish_plan, publish_summary)
    if parallel_ranges > 1:
        scale = ScaleOut(
            str(Path(policy).resolve()),
            parallel_ranges,
            dask_address or os.environ.get("RETENTION_DASK_ADDRESS") or None,
        )
        steps = replace(steps, apply=ranged_apply(scale, loaded.policy, steps.apply))
    summary = run_sweep(
        policy,
        dry_run=dry_run,
        rules=rules,
        as_of=as_of,
        approved_by=approved_by,
        run_id=str(flow_run.id or uuid.uuid4()),
        trigger=_trigger(),
        lease_wait_s=lease_wait_s,
        steps=steps,
    )
    get_run_logger().info("totals: %s", summary.totals())
    if not summary.ok:
        raise SweepFailed(summary)
    if not dry_run and summary.status != "completed":
        # Returning a state names the run's end in the UI; whoever calls the
        # flow still receives the summary (Prefect hands back the state's data).
        named: Any = Completed(
            name=summary.status.capitalize(), message=summary.reason(), data=summary
        )
        return cast(RunSummary, named)
    return summary


def _trigger() -> str:
    deployment_name = deployment.name
    return f"deployment:{deployment_name}" if deployment_name else "manual"
