"""The nightly retention sweep: load policy -> recover -> plan each rule ->
guard (approval) -> apply in batches with evidence -> summary."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from prefect import flow, get_run_logger
from prefect.runtime import deployment, flow_run

from connectors.base import Connector
from flows.approval import ask_operator
from flows.selection import select_rules, systems_needed
from retention.logs import get_logger
from retention.pipeline.apply import RunContext
from retention.pipeline.guard import over_limits
from retention.pipeline.outcome import RuleOutcome, RunSummary, render_table
from retention.pipeline.plan import RulePlan
from retention.policy import Rule
from tasks import log_bridge
from tasks.publish import publish_plan, publish_summary
from tasks.setup import close_systems, load_policy_task, open_ledger, open_systems
from tasks.steps import apply_rule_task, plan_rule_task, recover_task

DEFAULT_POLICY = "deployments/id-north/policy.yaml"
log = get_logger("retention.sweep")


class SweepFailed(RuntimeError):
    """Some records could not be changed; the summary says which rules."""

    def __init__(self, summary: RunSummary) -> None:
        self.summary = summary
        super().__init__("some records could not be changed\n" + render_table(summary))


@flow(name="retention-sweep")
def retention_sweep(
    policy: str = DEFAULT_POLICY,
    dry_run: bool = False,
    rules: list[str] | None = None,
    as_of: datetime | None = None,
    approved_by: str | None = None,
    ask_approval: bool = True,
    approval_timeout_s: int = 3600,
) -> RunSummary:
    """Find records past retention or whose consent was withdrawn and delete or
    anonymise them, with evidence. Plans over their limits wait for an
    operator (ask_approval), or run if `approved_by` names who approved."""
    log_bridge.install()
    now = as_of or datetime.now(UTC)
    run_id = str(flow_run.id or uuid.uuid4())
    loaded = load_policy_task(policy)
    selected = select_rules(loaded.policy, rules)
    connectors = open_systems(loaded, systems_needed(loaded.policy, selected))
    ledger = None if dry_run else open_ledger(loaded)
    settings = loaded.policy.settings
    summary = RunSummary(run_id, loaded.policy.name, loaded.sha256, dry_run)
    log.info(
        "run started",
        run_id=run_id,
        policy_name=loaded.policy.name,
        policy=loaded.short_hash,
        rules=len(selected),
        dry_run=dry_run,
    )
    try:
        if ledger is not None:
            ledger.begin_run(
                run_id=run_id,
                policy_hash=loaded.sha256,
                policy_name=loaded.policy.name,
                trigger=_trigger(),
                dry_run=dry_run,
            )
            summary.recovered = recover_task(ledger, loaded.policy, connectors, now)
        plans = [plan_rule_task(rule, loaded.policy, connectors, now) for rule in selected]
        waiting = {
            plan.rule_id: reason
            for plan, rule in zip(plans, selected, strict=True)
            if (reason := over_limits(plan, rule.limits or settings.limits))
        }
        publish_plan(plans, waiting, dry_run)
        approver = approved_by
        if waiting and not dry_run and not approver and ask_approval:
            approver = ask_operator(waiting, plans, approval_timeout_s)
        ctx = RunContext(run_id, loaded.sha256, loaded.policy.name, now, settings.batch_size)
        for plan, rule in zip(plans, selected, strict=True):
            if dry_run:
                outcome = _unapplied(plan, "dry-run")
            elif plan.rule_id in waiting and not approver:
                outcome = _unapplied(plan, "not-approved", waiting[plan.rule_id])
            else:
                rule_ctx = replace(ctx, approved_by=approver) if plan.rule_id in waiting else ctx
                outcome = _apply_or_fail(plan, rule, connectors, ledger, rule_ctx)
            summary.outcomes.append(outcome)
        if ledger is not None:
            ledger.end_run(run_id=run_id, summary=summary.totals())
        publish_summary(summary, ledger)
    finally:
        close_systems(connectors)
        if ledger is not None:
            ledger.close()
    get_run_logger().info("totals: %s", summary.totals())
    if not summary.ok:
        raise SweepFailed(summary)
    return summary


def _apply_or_fail(
    plan: RulePlan, rule: Rule, connectors: dict[str, Connector], ledger: Any, ctx: RunContext
) -> RuleOutcome:
    """apply_plan reports a failing batch in the outcome; this catches what
    fails around the batches (e.g. a store gone before the first), so one
    rule's failure never stops the others."""
    try:
        return apply_rule_task(plan, rule, connectors, ledger, ctx)
    except Exception as exc:  # noqa: BLE001 - reported per rule, run marked failed
        log.error("rule failed", rule=plan.rule_id, error=type(exc).__name__)
        outcome = _unapplied(plan, "failed", f"{type(exc).__name__}: {exc}"[:300])
        outcome.failed = len(plan.due)
        return outcome


def _unapplied(plan: RulePlan, status: str, note: str = "") -> RuleOutcome:
    return RuleOutcome(
        plan.rule_id,
        plan.qualified,
        plan.action,
        due=len(plan.due),
        held=len(plan.held),
        status=status,
        note=note or plan.note,
    )


def _trigger() -> str:
    deployment_name = deployment.name
    return f"deployment:{deployment_name}" if deployment_name else "manual"
