"""Publish a run's summary: a table artifact, the ledger report as markdown,
and the run's signed ledger segment to a WORM bucket when one is configured."""

from __future__ import annotations

from typing import Any

from prefect.artifacts import create_markdown_artifact, create_table_artifact

from retention.ledger import build_report
from retention.logs import get_logger
from retention.pipeline.outcome import RunSummary, mode_of
from retention.pipeline.plan import RulePlan
from retention.timezone import policy_zone
from tasks.artifact_tables import (
    PLAN_KEY,
    PLAN_LIMITS_KEY,
    REASONS_KEY,
    REPORT_KEY,
    SUMMARY_KEY,
    localised,
    plan_limit_rows,
    plan_rows,
    reason_rows,
    summary_rows,
)

log = get_logger("retention.publish")


def publish_plan(plans: list[RulePlan], waiting: dict[str, str], dry_run: bool) -> None:
    """What the run will do, before it does it: the operator's view when
    approving, and the whole result of a dry run. Created in the flow run
    itself (not a task), so the artifact names its flow run. Two tables under
    stable keys, each readable at 1,400 px (tasks.artifact_tables)."""
    what = "Plan of a dry run" if dry_run else "Plan, computed before any change"
    create_table_artifact(key=PLAN_KEY, table=plan_rows(plans, waiting), description=what)
    create_table_artifact(
        key=PLAN_LIMITS_KEY,
        table=plan_limit_rows(plans, waiting),
        description=f"{what}: which rules wait for an operator's approval, and why",
    )


def publish_summary(summary: RunSummary, ledger: Any | None) -> str | None:
    title = (
        f"Retention sweep {summary.run_id} ({mode_of(summary)}); policy "
        f"{summary.policy_name} sha256:{summary.policy_hash[:12]}"
    )
    create_table_artifact(
        key=SUMMARY_KEY,
        table=summary_rows(summary),
        description=title + (f". {summary.reason()}" if summary.reason() else ""),
    )
    create_table_artifact(
        key=REASONS_KEY,
        table=reason_rows(summary),
        description=f"{title}: each rule's status, why, and who approved it",
    )
    if ledger is None:
        return None
    report = localised(build_report(ledger.entries(summary.run_id)))
    create_markdown_artifact(
        key=REPORT_KEY,
        markdown=report.to_markdown(),
        description=f"Evidence of run {summary.run_id}, built from the ledger alone "
        f"(times in {policy_zone()})",
    )
    return export_segment_if_configured(ledger, summary.run_id)


def export_segment_if_configured(ledger: Any, run_id: str) -> str | None:
    """RETENTION_EXPORT_BUCKET names an S3 Object Lock bucket for the WORM
    copy: this run's segment and any earlier one still owed (tasks.export)."""
    from tasks.export import export_owed

    return export_owed(ledger, run_id)
